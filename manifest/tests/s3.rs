//! The object store on a real S3-compatible server: request counts on the wire, racing
//! conditional creates, multipart uploads, manifest publication and fencing, the
//! conditional-write self-check and access errors.
//!
//! The server is named by `FIRN_TEST_S3_ENDPOINT` and `FIRN_TEST_S3_BUCKET` (credentials and
//! region from the usual `AWS_*` variables); `scripts/test.sh` starts a local one. Without
//! them every test here prints why it is skipped and passes — unless `FIRN_REQUIRE_S3=1`,
//! then it fails. Each test works under its own prefix `test-<uuid>/` of the bucket.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use firn_manifest::{
    manifest_object, ChunkId, ChunkMeta, ManifestEdit, ManifestError, ManifestStore, ObjectInfo,
    ObjectStore, PutOutcome, RequestCounts, StoreError, StoreOptions,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MIB: usize = 1024 * 1024;

/// Where the tests run: the server's endpoint and a bucket that exists on it.
struct S3Server {
    endpoint: String,
    bucket: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The configured server, or `None` (after printing why) if the test should be skipped.
fn server(test: &str) -> Option<S3Server> {
    match (env("FIRN_TEST_S3_ENDPOINT"), env("FIRN_TEST_S3_BUCKET")) {
        (Some(endpoint), Some(bucket)) => Some(S3Server { endpoint, bucket }),
        _ => {
            let why = "FIRN_TEST_S3_ENDPOINT and FIRN_TEST_S3_BUCKET are not set; run \
                       scripts/test.sh to start a local S3 server, or point them (and \
                       AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION) at your own";
            assert!(
                env("FIRN_REQUIRE_S3").as_deref() != Some("1"),
                "{test}: FIRN_REQUIRE_S3=1 but {why}"
            );
            eprintln!("skipping {test}: {why}");
            None
        }
    }
}

macro_rules! server_or_skip {
    ($test:expr) => {
        match server($test) {
            Some(s) => s,
            None => return Ok(()),
        }
    };
}

impl S3Server {
    /// Options naming the endpoint; credentials and region come from the environment.
    fn options(&self) -> StoreOptions {
        StoreOptions {
            s3_endpoint: Some(self.endpoint.clone()),
            ..StoreOptions::default()
        }
    }

    /// A URL with a fresh prefix of its own.
    fn fresh_url(&self) -> String {
        format!(
            "s3://{}/test-{}/",
            self.bucket,
            firn_manifest::store::clock::uuid().simple()
        )
    }

    fn open(&self, url: &str) -> Result<ObjectStore, StoreError> {
        ObjectStore::from_url_with(url, &self.options())
    }

    fn fresh_store(&self) -> Result<ObjectStore, StoreError> {
        self.open(&self.fresh_url())
    }
}

/// Runs `f` and returns what it cost in requests.
async fn cost<T>(
    store: &ObjectStore,
    f: impl std::future::Future<Output = T>,
) -> (T, RequestCounts) {
    let before = store.requests();
    let out = f.await;
    (out, store.requests().since(&before))
}

fn only(kind: &str, n: u64, bytes_read: u64, bytes_written: u64) -> RequestCounts {
    let mut c = RequestCounts {
        bytes_read,
        bytes_written,
        ..RequestCounts::default()
    };
    match kind {
        "get" => c.get = n,
        "put" => c.put = n,
        "list" => c.list = n,
        "delete" => c.delete = n,
        "head" => c.head = n,
        other => panic!("unknown kind {other}"),
    }
    c
}

#[tokio::test]
async fn operations_cost_exactly_one_request_each() -> TestResult {
    let s3 = server_or_skip!("operations_cost_exactly_one_request_each");
    let store = s3.fresh_store()?;
    assert_eq!(
        store.requests(),
        RequestCounts::default(),
        "opening is free"
    );

    let (r, c) = cost(&store, store.check_access()).await;
    r?;
    assert_eq!(c, only("list", 1, 0, 0));

    let ten = Bytes::from_static(b"0123456789");
    let (r, c) = cost(&store, store.put("chunks/a", ten.clone())).await;
    r?;
    assert_eq!(c, only("put", 1, 0, 10));
    store.put("chunks/b", Bytes::from_static(b"xy")).await?;
    store.put("manifest/1", Bytes::from_static(b"m")).await?;

    let (r, c) = cost(
        &store,
        store.put_if_absent("chunks/a", Bytes::from_static(b"zz")),
    )
    .await;
    assert_eq!(r?, PutOutcome::AlreadyExists);
    assert_eq!(c, only("put", 1, 0, 2));
    let (r, c) = cost(
        &store,
        store.put_if_absent("chunks/c", Bytes::from_static(b"new")),
    )
    .await;
    assert_eq!(r?, PutOutcome::Created);
    assert_eq!(c, only("put", 1, 0, 3));

    let (r, c) = cost(&store, store.get("chunks/a")).await;
    assert_eq!(r?, ten, "the refused create changed nothing");
    assert_eq!(c, only("get", 1, 10, 0));
    let (r, c) = cost(&store, store.get_range("chunks/a", 3, 4)).await;
    assert_eq!(r?, Bytes::from_static(b"3456"));
    assert_eq!(c, only("get", 1, 4, 0));
    let (r, c) = cost(&store, store.get("chunks/none")).await;
    assert!(
        matches!(r, Err(StoreError::NotFound { ref path }) if path == "chunks/none"),
        "{r:?}"
    );
    assert_eq!((c.get, c.total_requests()), (1, 1));
    // A range past the end is an error, never a short answer.
    let (r, c) = cost(&store, store.get_range("chunks/a", 8, 4)).await;
    assert!(matches!(r, Err(StoreError::ShortObject { .. })), "{r:?}");
    assert_eq!((c.get, c.total_requests()), (1, 1));

    let (r, c) = cost(&store, store.stat("chunks/b")).await;
    assert_eq!(r?, Some(2));
    assert_eq!(c, only("head", 1, 0, 0));
    let (r, c) = cost(&store, store.stat("chunks/none")).await;
    assert_eq!(r?, None);
    assert_eq!(c, only("head", 1, 0, 0));

    let (r, c) = cost(&store, store.list("chunks/")).await;
    let info = |path: &str, size| ObjectInfo {
        path: path.into(),
        size,
    };
    assert_eq!(
        r?,
        vec![
            info("chunks/a", 10),
            info("chunks/b", 2),
            info("chunks/c", 3)
        ]
    );
    assert_eq!(c, only("list", 1, 0, 0));
    let (r, c) = cost(&store, store.list("")).await;
    assert_eq!(r?.len(), 4);
    assert_eq!(c, only("list", 1, 0, 0));
    assert_eq!(store.list("chunks/b").await?, vec![info("chunks/b", 2)]);
    assert_eq!(store.list("nothing/").await?, vec![]);

    let (r, c) = cost(&store, store.delete("chunks/b")).await;
    r?;
    assert_eq!(c, only("delete", 1, 0, 0));
    let (r, c) = cost(&store, store.delete("chunks/b")).await;
    r?;
    assert_eq!(
        c,
        only("delete", 1, 0, 0),
        "deleting an absent object is fine"
    );
    assert_eq!(store.stat("chunks/b").await?, None);

    // The prefix is the store's root: another store on the bucket's root sees it below.
    let prefix = store
        .url()
        .trim_start_matches(&format!("s3://{}/", s3.bucket))
        .to_string();
    let root = s3.open(&format!("s3://{}", s3.bucket))?;
    assert_eq!(root.stat(&format!("{prefix}chunks/a")).await?, Some(10));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_creates_have_one_winner() -> TestResult {
    let s3 = server_or_skip!("concurrent_conditional_creates_have_one_winner");
    let store = Arc::new(s3.fresh_store()?);
    let name = "manifest/00000000000000000001";
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let data = Bytes::from(format!("writer {i:02} ").repeat(500));
            (i, store.put_if_absent(name, data).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, outcome) = task.await?;
        if outcome? == PutOutcome::Created {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = store.get(name).await?;
    assert_eq!(
        stored,
        Bytes::from(format!("writer {:02} ", winners[0]).repeat(500)),
        "the stored bytes are the winner's"
    );
    assert_eq!(store.requests().put, 16, "{}", store.requests());
    Ok(())
}

/// A recognisable, position-dependent byte pattern.
fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2654435761).rotate_left(13) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

async fn check_ranges(store: &ObjectStore, name: &str, data: &Bytes) -> TestResult {
    let len = data.len();
    assert_eq!(store.stat(name).await?, Some(len as u64));
    let part = store.options().multipart_part_size;
    for (offset, n) in [
        (0, 4096),
        (part - 100, 200),
        (2 * part - 1, 2),
        (len - 1000, 1000),
        (3 * MIB + 7, 5 * MIB),
    ] {
        let got = store.get_range(name, offset as u64, n as u64).await?;
        assert!(got == data.slice(offset..offset + n), "{name} {offset}+{n}");
    }
    Ok(())
}

#[tokio::test]
async fn large_objects_are_uploaded_in_parts() -> TestResult {
    let s3 = server_or_skip!("large_objects_are_uploaded_in_parts");
    // A low threshold, so a 20 MiB object goes up in parts (the default is
    // above every chunk the engine writes by default).
    let opts = StoreOptions {
        multipart_threshold: 16 * MIB,
        multipart_part_size: 8 * MIB,
        ..s3.options()
    };
    let store = ObjectStore::from_url_with(&s3.fresh_url(), &opts)?;
    let len = 20 * MIB + 12_345;
    assert!(len > opts.multipart_threshold);
    let parts = len.div_ceil(opts.multipart_part_size) as u64;
    assert_eq!(parts, 3);
    let data = pattern(len, 1);

    // Start, three parts, complete.
    let (r, c) = cost(&store, store.put("chunks/big", data.clone())).await;
    r?;
    assert_eq!(c, only("put", 1 + parts + 1, 0, len as u64));
    check_ranges(&store, "chunks/big", &data).await?;

    // Conditional multipart: the completing request carries If-None-Match, so an existing
    // object is not replaced, and the refused upload is aborted (one DELETE).
    let other = pattern(len, 2);
    let (r, c) = cost(&store, store.put_if_absent("chunks/big", other.clone())).await;
    assert_eq!(r?, PutOutcome::AlreadyExists);
    assert_eq!((c.put, c.delete), (1 + parts + 1, 1), "{c}");
    check_ranges(&store, "chunks/big", &data).await?;

    let (r, c) = cost(&store, store.put_if_absent("chunks/big2", other.clone())).await;
    assert_eq!(r?, PutOutcome::Created);
    assert_eq!(c, only("put", 1 + parts + 1, 0, len as u64));
    check_ranges(&store, "chunks/big2", &other).await?;
    let (whole, c) = cost(&store, store.get("chunks/big2")).await;
    assert!(whole? == other);
    assert_eq!(c.get, 1);

    // Just below the threshold: one PUT.
    let small = pattern(opts.multipart_threshold, 3);
    let (r, c) = cost(&store, store.put_if_absent("chunks/small", small.clone())).await;
    assert_eq!(r?, PutOutcome::Created);
    assert_eq!(c.put, 1);
    assert!(store.get("chunks/small").await? == small);
    Ok(())
}

fn chunk(epoch: u64, id: u64) -> ChunkMeta {
    ChunkMeta {
        id: ChunkId { epoch, id },
        size: 4096,
        meta_offset: 4000,
        meta_len: 96,
        entries: 10,
        tombstones: 0,
        min_key: format!("key{id:05}").into_bytes(),
        max_key: format!("key{id:05}~").into_bytes(),
        min_seq: id * 10,
        max_seq: id * 10 + 9,
    }
}

fn add_l0(c: ChunkMeta) -> ManifestEdit {
    ManifestEdit {
        wal_watermark: Some(c.max_seq),
        add_l0: vec![c],
        ..ManifestEdit::default()
    }
}

#[tokio::test]
async fn manifest_publication_and_fencing() -> TestResult {
    let s3 = server_or_skip!("manifest_publication_and_fencing");
    let url = s3.fresh_url();
    // Two writers, each with its own store handle, as two processes would have.
    let a = ManifestStore::new(s3.open(&url)?);
    let b = ManifestStore::new(s3.open(&url)?);

    assert_eq!(a.load_latest().await?, None);
    let v1 = a.create([7; 16]).await?;
    assert_eq!(
        b.create([7; 16]).await?,
        v1,
        "create of an existing database loads it"
    );
    let a_claim = a.claim_writer(&v1).await?;
    assert_eq!((a_claim.version, a_claim.epoch), (2, 1));
    let a3 = a.publish(&a_claim, &add_l0(chunk(1, 1)), 1).await?;
    // A second publisher of the same epoch from a stale base loses the race and re-applies.
    let a4 = a.publish(&a_claim, &add_l0(chunk(1, 2)), 1).await?;
    assert_eq!((a3.version, a4.version), (3, 4));

    // B takes over: epoch 2, and it sees everything A published.
    let b_seen = b.load_latest().await?.ok_or("no manifest")?;
    assert_eq!(b_seen, a4);
    let b_claim = b.claim_writer(&b_seen).await?;
    assert_eq!((b_claim.version, b_claim.epoch), (5, 2));
    let ids: BTreeSet<ChunkId> = b_claim.all_chunks().map(|c| c.id).collect();
    assert_eq!(
        ids,
        BTreeSet::from([ChunkId { epoch: 1, id: 1 }, ChunkId { epoch: 1, id: 2 }])
    );

    // A, still at version 4, is fenced and overwrites nothing.
    let b_bytes = b.store().get(&manifest_object(5)).await?;
    match a.publish(&a4, &add_l0(chunk(1, 3)), 1).await {
        Err(ManifestError::Fenced {
            our_epoch,
            their_epoch,
        }) => assert_eq!((our_epoch, their_epoch), (1, 2)),
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(a.store().get(&manifest_object(5)).await?, b_bytes);
    assert_eq!(a.list_versions().await?, vec![1, 2, 3, 4, 5]);

    let b6 = b.publish(&b_claim, &add_l0(chunk(2, 1)), 2).await?;
    assert_eq!(b6.version, 6);
    assert_eq!(a.load_latest().await?, Some(b6));
    Ok(())
}

#[tokio::test]
async fn the_server_honours_conditional_writes() -> TestResult {
    let s3 = server_or_skip!("the_server_honours_conditional_writes");
    let store = s3.fresh_store()?;
    let (r, c) = cost(&store, store.verify_conditional_writes()).await;
    r?;
    assert_eq!((c.put, c.delete, c.total_requests()), (2, 1, 3), "{c}");
    assert_eq!(store.list("").await?, vec![], "the probe is gone");
    Ok(())
}

#[tokio::test]
async fn a_missing_bucket_is_one_clear_error() -> TestResult {
    let s3 = server_or_skip!("a_missing_bucket_is_one_clear_error");
    let bucket = format!(
        "firn-missing-{}",
        firn_manifest::store::clock::uuid().simple()
    );
    let url = format!("s3://{bucket}/db");
    let store = s3.open(&url)?;
    let (r, c) = cost(&store, store.check_access()).await;
    match r {
        Err(e @ StoreError::Access { .. }) => {
            let msg = e.to_string();
            for needle in [
                url.as_str(),
                bucket.as_str(),
                &s3.endpoint,
                "does not exist",
            ] {
                assert!(msg.contains(needle), "{needle:?} missing in: {msg}");
            }
        }
        other => panic!("expected Access, got {other:?}"),
    }
    assert_eq!(c, only("list", 1, 0, 0), "a missing bucket is not retried");
    Ok(())
}

#[tokio::test]
async fn bad_credentials_are_one_clear_error() -> TestResult {
    let s3 = server_or_skip!("bad_credentials_are_one_clear_error");
    if env("FIRN_TEST_S3_AUTHENTICATING").as_deref() != Some("1") {
        eprintln!(
            "skipping bad_credentials_are_one_clear_error: the local test server (moto) \
             accepts any access key; set FIRN_TEST_S3_AUTHENTICATING=1 when \
             FIRN_TEST_S3_ENDPOINT points at a server that checks credentials (MinIO, AWS)"
        );
        return Ok(());
    }
    let opts = StoreOptions {
        s3_access_key_id: Some("FIRNWRONGKEY".into()),
        s3_secret_access_key: Some("not-the-secret".into()),
        ..s3.options()
    };
    let url = s3.fresh_url();
    let store = ObjectStore::from_url_with(&url, &opts)?;
    match store.check_access().await {
        Err(e @ StoreError::Access { .. }) => {
            let msg = e.to_string();
            for needle in ["access denied", "FIRNWRONGKEY", s3.bucket.as_str()] {
                assert!(msg.contains(needle), "{needle:?} missing in: {msg}");
            }
            assert!(!msg.contains("not-the-secret"), "{msg}");
        }
        other => panic!("expected Access, got {other:?}"),
    }
    Ok(())
}

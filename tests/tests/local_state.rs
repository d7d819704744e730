//! What a read-only handle may write locally (`Options::reader_local_state`).
//!
//! * With the local directory free, a reader takes its lock and keeps its
//!   local state there (IDENTITY, index/, cache/, MANIFEST, never wal/), so
//!   the next reader through it makes no GET for a cold read.
//! * With a writer holding the directory, a reader uses it without writing
//!   anything.
//! * A writer that finds a reader holding the directory waits for it rather
//!   than failing; a second writer still fails at once with `Error::Locked`.
//! * A damaged or stale local manifest copy is never trusted: it is fetched
//!   anew.
//!
//! Runs on `memory://`, `file://` and the S3 server.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use firn::{Db, Error, Options};
use firn_tests::{StoreKind, TestDb};

firn_tests::on_every_store!(
    a_reader_keeps_its_local_state_and_repeats_a_cold_read_without_a_get,
    a_reader_beside_a_writer_writes_nothing_locally,
    a_writer_waits_for_a_reader_holding_the_directory,
    a_damaged_or_stale_manifest_copy_is_fetched_anew,
);

fn reader(env: &TestDb, local: &Path) -> Options {
    let mut opts = env.options();
    opts.local_dir = local.to_path_buf();
    opts.read_only = true;
    opts.reader_local_state = true;
    opts
}

/// Every path under `dir`, relative, with its size.
fn listing(dir: &Path) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let rel = path.strip_prefix(dir).expect("under dir");
            out.insert((rel.display().to_string(), meta.len()));
        }
    }
    out
}

async fn write_some(env: &TestDb) {
    let db = Db::open(env.options()).await.expect("open writer");
    for i in 0..50u32 {
        db.put(format!("k{i:03}"), format!("v{i}"))
            .await
            .expect("put");
    }
    db.close().await.expect("close");
}

async fn a_reader_keeps_its_local_state_and_repeats_a_cold_read_without_a_get(kind: StoreKind) {
    let env = TestDb::new(kind, "local-state");
    write_some(&env).await;
    let local = env.root.path().join("reader");

    let db = Db::open(reader(&env, &local)).await.expect("open reader");
    assert_eq!(
        db.get("k007").await.expect("get").as_deref(),
        Some(&b"v7"[..])
    );
    let first = db.metrics().requests;
    assert!(first.get >= 3, "manifest, index and block: {first:?}");
    assert_eq!(
        first.put + first.delete,
        0,
        "a reader never writes the bucket"
    );
    db.close().await.expect("close");
    for name in ["IDENTITY", "MANIFEST", "LOCK", "index", "cache"] {
        assert!(local.join(name).exists(), "{name} kept");
    }
    assert!(!local.join("wal").exists());

    let db = Db::open(reader(&env, &local)).await.expect("reopen reader");
    assert_eq!(
        db.get("k007").await.expect("get").as_deref(),
        Some(&b"v7"[..])
    );
    let again = db.metrics();
    assert_eq!(again.requests.get, 0, "{:?}", again.requests);
    assert_eq!(again.cache.disk_hits, 1);
    db.close().await.expect("close");

    // Without the option a reader writes nothing, even into a free folder.
    let plain = env.root.path().join("plain");
    let mut opts = reader(&env, &plain);
    opts.reader_local_state = false;
    let db = Db::open(opts).await.expect("open plain reader");
    assert!(db.get("k001").await.expect("get").is_some());
    db.close().await.expect("close");
    assert!(!plain.exists(), "nothing created");
}

async fn a_reader_beside_a_writer_writes_nothing_locally(kind: StoreKind) {
    let env = TestDb::new(kind, "local-beside");
    let writer = Db::open(env.options()).await.expect("open writer");
    for i in 0..50u32 {
        writer.put(format!("k{i:03}"), "v").await.expect("put");
    }
    writer.flush().await.expect("flush");
    let before = listing(&env.local_dir);

    let db = Db::open(reader(&env, &env.local_dir))
        .await
        .expect("open reader");
    for i in 0..50u32 {
        assert!(db.get(format!("k{i:03}")).await.expect("get").is_some());
    }
    db.close().await.expect("close reader");
    let after = listing(&env.local_dir);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "the reader wrote {new:?}");
    writer.close().await.expect("close writer");
}

async fn a_writer_waits_for_a_reader_holding_the_directory(kind: StoreKind) {
    let env = TestDb::new(kind, "local-wait");
    write_some(&env).await;
    let db = Db::open(reader(&env, &env.local_dir))
        .await
        .expect("open reader");
    assert!(db.get("k001").await.expect("get").is_some());

    let opts = env.options();
    let opening = tokio::spawn(async move { Db::open(opts).await });
    firn_store::clock::sleep(Duration::from_millis(300)).await;
    assert!(
        !opening.is_finished(),
        "the writer waits while the reader holds the folder"
    );
    db.close().await.expect("close reader");
    let writer = opening
        .await
        .expect("join")
        .expect("the writer opens once the reader is gone");
    writer.put("after", "1").await.expect("put");

    // Another writer is not waited for.
    let second = Db::open(env.options()).await;
    assert!(
        matches!(second, Err(Error::Locked(_))),
        "{:?}",
        second.err()
    );
    // And a reader beside the writer still reads.
    let db = Db::open(reader(&env, &env.local_dir))
        .await
        .expect("open reader");
    assert!(db.get("k002").await.expect("get").is_some());
    db.close().await.expect("close reader");
    writer.close().await.expect("close writer");
}

async fn a_damaged_or_stale_manifest_copy_is_fetched_anew(kind: StoreKind) {
    let env = TestDb::new(kind, "local-copy");
    write_some(&env).await;
    let local = env.root.path().join("reader");
    let db = Db::open(reader(&env, &local)).await.expect("open reader");
    let version = db.manifest().version;
    db.close().await.expect("close");
    let copy = local.join("MANIFEST");
    let good = std::fs::read(&copy).expect("copy kept");

    // Flip a byte in the middle: the copy fails its checksum and is refetched.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&copy, &bad).expect("damage");
    let db = Db::open(reader(&env, &local))
        .await
        .expect("open with a damaged copy");
    assert_eq!(db.manifest().version, version);
    assert_eq!(db.metrics().requests.get, 1, "the manifest GET");
    assert!(db.get("k003").await.expect("get").is_some());
    db.close().await.expect("close");
    assert_eq!(std::fs::read(&copy).expect("copy"), good, "rewritten");

    // A newer version in the bucket: the copy is stale and not used.
    let writer = Db::open(env.options()).await.expect("open writer");
    writer.put("k003", "new").await.expect("put");
    writer.close().await.expect("close writer");
    let db = Db::open(reader(&env, &local))
        .await
        .expect("open with a stale copy");
    assert!(db.manifest().version > version);
    assert_eq!(
        db.get("k003").await.expect("get").as_deref(),
        Some(&b"new"[..])
    );
    db.close().await.expect("close");
}

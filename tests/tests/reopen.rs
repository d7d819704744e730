//! Reopen tests: what a database holds survives close and reopen, a crash and
//! reopen, and — the point of an object-store engine — a reopen on a fresh
//! machine: an empty local directory, everything read from the bucket.
//!
//! * Open from the bucket with an empty local directory: writes spread over
//!   sorted runs (a full compaction), level-0 chunks (small memtables) and a
//!   memtable that only `close()` flushes, with overwrites, deletes and a
//!   batch; after close, a writer and a read-only handle on fresh local
//!   directories see exactly the model's contents, and a second generation
//!   of writes made there survives the same way.
//! * `close()` flushes: with a large memtable nothing is flushed before
//!   close, chunks exist after it, and an empty local directory sees it all.
//! * Close + reopen and crash (drop without close) + reopen of the same
//!   local directory, alternating, keep every write.
//! * A local directory of another database is refused
//!   (`Error::DatabaseMismatch`) and the refused open changes no object.
//!
//! Every case runs on `memory://`, `file://` and the S3 server of the test
//! run (`case::memory`, `case::file`, `case::s3`; the S3 variant skips with a
//! message when `FIRN_TEST_S3_ENDPOINT` is unset, and fails then if
//! `FIRN_REQUIRE_S3` is set).

use std::ops::Bound;

use firn::{Db, Error, Options, WriteBatch};
use firn_tests::{collect, diff_scans, show, Oracle, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

firn_tests::on_every_store!(
    open_from_the_bucket_with_an_empty_local_dir_sees_everything,
    close_flushes_to_the_object_store,
    close_and_crash_reopens_of_one_local_dir_keep_every_write,
    a_local_dir_of_another_database_is_refused,
);

/// Compares the whole database with the model: a full scan and a point read
/// of every key the model ever held (`keys`).
async fn check_contents(db: &Db, oracle: &Oracle, keys: &[Vec<u8>], ctx: &str) {
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .unwrap_or_else(|e| panic!("{ctx}: full scan: {e}"));
    let want = oracle.range(&Bound::Unbounded, &Bound::Unbounded);
    if let Some(diff) = diff_scans(&all, &want) {
        panic!("{ctx}: full scan: {diff}");
    }
    for key in keys {
        let got = db
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: get {}: {e}", show(key)));
        assert_eq!(got.as_deref(), oracle.get(key), "{ctx}: get {}", show(key));
    }
}

/// Seeded writes of `n` operations on keys `{tag}{0..200}` into `db` and
/// `oracle`: puts of varied sizes, overwrites, deletes, and every tenth
/// operation a batch.
async fn write_some(db: &Db, oracle: &mut Oracle, keys: &mut Vec<Vec<u8>>, tag: &str, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..400 {
        let key = format!("{tag}{:03}", rng.random_range(0..200)).into_bytes();
        if !keys.contains(&key) {
            keys.push(key.clone());
        }
        if i % 10 == 9 {
            let mut batch = WriteBatch::new();
            batch.put(key.clone(), format!("batch-{i}"));
            let other = format!("{tag}b{i:03}").into_bytes();
            batch.put(other.clone(), vec![b'b'; 100]);
            batch.delete(key.clone());
            keys.push(other);
            db.write(batch.clone()).await.expect("write a batch");
            oracle.apply(&batch);
        } else if rng.random_ratio(1, 5) {
            db.delete(key.clone()).await.expect("delete");
            oracle.delete(&key);
        } else {
            let len = rng.random_range(0..600);
            let value: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            db.put(key.clone(), value.clone()).await.expect("put");
            oracle.put(&key, &value);
        }
    }
}

async fn open_from_the_bucket_with_an_empty_local_dir_sees_everything(kind: StoreKind) {
    let env = TestDb::new(kind, "empty-local");
    let (mut oracle, mut keys) = (Oracle::new(), Vec::new());
    // No background compaction: it could merge the level-0 chunks this
    // test wants to exist at close into a run first.
    let mut opts = env.small_options();
    opts.compaction.auto_compaction = false;
    let db = env.open(opts).await;
    write_some(&db, &mut oracle, &mut keys, "a/", 1).await;
    // The first generation ends up in sorted runs...
    db.compact().await.expect("compact");
    // ...the second in level-0 chunks and the memtable.
    write_some(&db, &mut oracle, &mut keys, "a/", 2).await;
    let m = db.metrics();
    assert!(m.run_chunks > 0, "no sorted run: {m:?}");
    assert!(m.l0_chunks > 0, "no level-0 chunk: {m:?}");
    assert!(m.memtable_bytes > 0, "nothing left in the memtable: {m:?}");
    db.close().await.expect("close");

    // A fresh machine: an empty local directory, all from the bucket.
    let fresh = small_with_local(&env, "fresh-1");
    assert!(!fresh.local_dir.exists());
    let db = env.open(fresh.clone()).await;
    check_contents(&db, &oracle, &keys, "writer with an empty local dir").await;
    let reader = env
        .open(small_with_local(&env, "fresh-reader").read_only(true))
        .await;
    check_contents(
        &reader,
        &oracle,
        &keys,
        "read-only handle with an empty local dir",
    )
    .await;
    drop(reader);

    // The new writer's writes survive the same way.
    write_some(&db, &mut oracle, &mut keys, "b/", 3).await;
    db.close().await.expect("close");
    let db = env.open(small_with_local(&env, "fresh-2")).await;
    check_contents(&db, &oracle, &keys, "second empty local dir").await;
    db.close().await.expect("close");
    // And the original local directory catches up with both generations.
    let db = env.open(env.small_options()).await;
    check_contents(&db, &oracle, &keys, "the first local dir again").await;
    db.close().await.expect("close");
}

fn small_with_local(env: &TestDb, name: &str) -> Options {
    firn_tests::small(env.options_with_local(name))
}

async fn close_flushes_to_the_object_store(kind: StoreKind) {
    let env = TestDb::new(kind, "close-flushes");
    let db = env.open(env.options()).await;
    for i in 0..500 {
        db.put(format!("key{i:04}"), format!("value{i}"))
            .await
            .expect("put");
    }
    assert_eq!(
        db.metrics().flushes,
        0,
        "a 64 MiB memtable should not have flushed yet"
    );
    assert!(
        env.object_names("chunks/", ".chunk").await.is_empty(),
        "a chunk exists before any flush"
    );
    db.close().await.expect("close");
    let chunks = env.object_names("chunks/", ".chunk").await;
    assert!(!chunks.is_empty(), "close() left no chunk in the bucket");
    // A fresh, empty local directory: everything comes from the bucket.
    let db = Db::open(env.options_with_local("fresh-local"))
        .await
        .expect("open with a new local dir");
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    assert_eq!(all.len(), 500);
    assert_eq!(
        db.get("key0042").await.expect("get").as_deref(),
        Some(&b"value42"[..])
    );
    db.close().await.expect("close");
}

async fn close_and_crash_reopens_of_one_local_dir_keep_every_write(kind: StoreKind) {
    let env = TestDb::new(kind, "reopens");
    let (mut oracle, mut keys) = (Oracle::new(), Vec::new());
    for round in 0..6u64 {
        let db = env.open(env.small_options()).await;
        check_contents(&db, &oracle, &keys, &format!("reopen {round}")).await;
        write_some(&db, &mut oracle, &mut keys, "r/", 10 + round).await;
        if round % 2 == 0 {
            db.close().await.expect("close");
        } else {
            drop(db); // a crash: the tail is only in the WAL
        }
    }
    let db = env.open(env.small_options()).await;
    check_contents(&db, &oracle, &keys, "final reopen").await;
    db.close().await.expect("close");
}

async fn a_local_dir_of_another_database_is_refused(kind: StoreKind) {
    let a = TestDb::new(kind, "db-a");
    let b = TestDb::new(kind, "db-b");
    let db_a = a.open(a.options()).await;
    db_a.put("a", "1").await.expect("put");
    let id_a = db_a.id().to_string();
    db_a.close().await.expect("close");
    let db_b = b.open(b.options()).await;
    let id_b = db_b.id().to_string();
    db_b.close().await.expect("close");
    assert_ne!(id_a, id_b);

    // B's bucket with A's local directory.
    let b_objects = b.object_contents().await;
    let mut opts = b.options();
    opts.local_dir = a.local_dir.clone();
    let err = Db::open(opts).await.err().expect("must refuse");
    match &err {
        Error::DatabaseMismatch {
            local_id, store_id, ..
        } => {
            assert_eq!(local_id, &id_a);
            assert_eq!(store_id, &id_b);
        }
        other => panic!("expected DatabaseMismatch, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&a.local_dir.display().to_string()),
        "{err}"
    );
    assert_eq!(
        b.object_contents().await,
        b_objects,
        "a refused open changed the bucket"
    );

    // An empty bucket with A's local directory: not silently a new database.
    let empty = TestDb::new(kind, "db-empty");
    let mut opts = empty.options();
    opts.local_dir = a.local_dir.clone();
    let err = Db::open(opts).await.err().expect("must refuse");
    assert!(
        matches!(err, Error::DatabaseMismatch { .. }),
        "expected DatabaseMismatch, got {err:?}"
    );
    let manifests = empty.object_names("manifest/", "").await;
    assert!(
        manifests.is_empty(),
        "a refused open created a database: {manifests:?}"
    );

    // A itself still opens with its own directory.
    let db_a = a.open(a.options()).await;
    assert_eq!(
        db_a.get("a").await.expect("get").as_deref(),
        Some(&b"1"[..])
    );
    db_a.close().await.expect("close");
}

//! Writes that land while their answer is lost, one path at a time.
//!
//! A conditional create whose response never arrives leaves the writer
//! unsure: did it land? The retry (same condition) is refused because the
//! object exists — with *our* bytes. The engine must recognise its own
//! object instead of taking it for another writer's: a chunk by comparing
//! bytes, a manifest version by its nonce. These tests force the situation
//! deterministically with the fault-injecting layer
//! ([`firn_tests::faults`]): every first create of an object under the given
//! prefix lands and reports an error, after which requests pass.
//!
//! * A chunk upload whose answer is lost: the flush succeeds, one chunk
//!   object, all data readable from the bucket.
//! * A manifest publish whose answer is lost, the version readable at once:
//!   the flush succeeds and publishes exactly one version.
//! * A manifest publish whose answer is lost while reads of the new version
//!   also fail for a while (a short network partition: longer than the
//!   manifest store's own retries, shorter than the engine's): the engine
//!   retries the publish and must still recognise its landed version — a
//!   flush must not fail, and the database must not stop, because an earlier
//!   attempt of its own succeeded.
//!
//! Each runs on `memory://`, `file://` and the S3 server of the test run
//! (`case::memory`, `case::file`, `case::s3`; the S3 variant skips with a
//! message when `FIRN_TEST_S3_ENDPOINT` is unset, and fails then if
//! `FIRN_REQUIRE_S3` is set); every handle of a test opens through the layer.

use std::time::Duration;

use firn::{Db, Options};
use firn_tests::faults::{FaultConfig, FaultControl, FaultLayer};
use firn_tests::{collect, settle, StoreKind, TestDb};

firn_tests::on_every_store!(
    a_chunk_upload_whose_answer_is_lost_is_recognised,
    a_manifest_publish_whose_answer_is_lost_is_recognised,
    a_manifest_publish_whose_answer_is_lost_during_a_partition_is_recognised,
);

/// A location whose handles all go through a fault layer (disabled for now)
/// and options for it: quick engine retries, no background compaction (so
/// only flushes publish).
fn faulty_env(kind: StoreKind, tag: &str) -> (TestDb, Options, FaultControl) {
    let mut env = TestDb::new(kind, tag);
    let layer = FaultLayer::new(FaultConfig::default());
    let control = layer.control();
    control.set_enabled(false);
    let store = env.layered_store(|op| op.layer(layer));
    let mut opts = env.options();
    opts.object_store = Some(store);
    opts.retry_delay = Duration::from_millis(20);
    opts.max_retry_delay = Duration::from_millis(200);
    opts.compaction.auto_compaction = false;
    (env, opts, control)
}

async fn put_keys(db: &Db, from: usize, to: usize) {
    for i in from..to {
        db.put(format!("key{i:04}"), format!("value{i}"))
            .await
            .expect("put");
    }
}

/// Every key `0..n` from a fresh local directory (so from the bucket).
async fn check_bucket(opts: &Options, env: &TestDb, n: usize) {
    let mut fresh = opts.clone();
    fresh.local_dir = env.root.path().join("fresh");
    let db = env.open(fresh).await;
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    assert_eq!(all.len(), n, "keys in the bucket");
    for (i, (k, v)) in all.iter().enumerate() {
        assert_eq!(k, format!("key{i:04}").as_bytes());
        assert_eq!(v, format!("value{i}").as_bytes());
    }
    db.close().await.expect("close");
}

/// Every first create under `prefix` lands and reports an error.
fn lost_answers_under(prefix: &str) -> FaultConfig {
    FaultConfig {
        partial_write_rate: 1.0,
        max_streak_writes: 1,
        only_under: Some(prefix.to_string()),
        ..FaultConfig::default()
    }
}

async fn a_chunk_upload_whose_answer_is_lost_is_recognised(kind: StoreKind) {
    let (env, opts, control) = faulty_env(kind, "lost-chunk-answer");
    let db = env.open(opts.clone()).await;
    settle(&db).await;
    control.set_config(lost_answers_under("chunks/"));
    control.set_enabled(true);
    let chunks_before = env.object_names("chunks/", ".chunk").await.len();
    put_keys(&db, 0, 100).await;
    let ids = db.flush().await.expect("flush");
    assert_eq!(ids.len(), 1);
    let f = control.stats();
    assert_eq!(f.partial_writes, 1, "{f:?}");
    assert!(db.metrics().upload_retries >= 1, "{:?}", db.metrics());
    assert_eq!(db.upload_status(), None);
    assert_eq!(
        env.object_names("chunks/", ".chunk").await.len(),
        chunks_before + 1,
        "one flush, one chunk object"
    );
    // It goes on working (the next upload meets the same fate).
    put_keys(&db, 100, 200).await;
    db.flush().await.expect("second flush");
    assert_eq!(control.stats().partial_writes, 2);
    db.close().await.expect("close");
    control.set_enabled(false);
    check_bucket(&opts, &env, 200).await;
}

async fn a_manifest_publish_whose_answer_is_lost_is_recognised(kind: StoreKind) {
    let (env, opts, control) = faulty_env(kind, "lost-manifest-answer");
    let db = env.open(opts.clone()).await;
    settle(&db).await;
    let versions_before = env.object_names("manifest/", "").await.len();
    let version_before = db.manifest().version;
    control.set_config(lost_answers_under("manifest/"));
    control.set_enabled(true);
    put_keys(&db, 0, 100).await;
    db.flush().await.expect("flush");
    assert_eq!(control.stats().partial_writes, 1, "{:?}", control.stats());
    assert_eq!(
        db.manifest().version,
        version_before + 1,
        "the flush published more than one version"
    );
    assert_eq!(
        env.object_names("manifest/", "").await.len(),
        versions_before + 1
    );
    put_keys(&db, 100, 200).await;
    db.flush().await.expect("second flush");
    assert_eq!(db.manifest().version, version_before + 2);
    db.close().await.expect("close");
    control.set_enabled(false);
    check_bucket(&opts, &env, 200).await;
}

async fn a_manifest_publish_whose_answer_is_lost_during_a_partition_is_recognised(kind: StoreKind) {
    let (env, opts, control) = faulty_env(kind, "lost-manifest-partition");
    let db = env.open(opts.clone()).await;
    settle(&db).await;
    let version_before = db.manifest().version;
    // The create of the next version lands and its answer is lost; the next
    // eight reads of that version fail too, then the partition heals.
    control.set_config(FaultConfig {
        read_error_rate: 1.0,
        max_faults_per_object: 8,
        ..lost_answers_under("manifest/")
    });
    control.set_enabled(true);
    put_keys(&db, 0, 100).await;
    let flushed = tokio::time::timeout(Duration::from_secs(60), db.flush())
        .await
        .expect("the flush hung");
    let f = control.stats();
    if let Err(e) = &flushed {
        panic!(
            "a flush failed although its own manifest publish had landed: {e} \
             (faults {f:?}, {:?})",
            db.metrics()
        );
    }
    assert!(f.partial_writes >= 1 && f.read_errors >= 5, "{f:?}");
    assert_eq!(
        db.manifest().version,
        version_before + 1,
        "the flush published more than one version"
    );
    // The database keeps accepting writes.
    put_keys(&db, 100, 200).await;
    db.flush().await.expect("a flush after the partition");
    db.close().await.expect("close");
    control.set_enabled(false);
    check_bucket(&opts, &env, 200).await;
}

//! One retry policy: the engine retries what the store says may succeed on
//! a retry (an outage, however long), and gives up at once on a final answer
//! (a refused permission, a missing bucket, a bad request), which reaches the
//! caller and `upload_status()` promptly, naming the object and the kind of
//! error. Nothing acknowledged is lost either way.

use std::time::Duration;

use firn::{Db, Durability};
use firn_tests::faults::{FaultConfig, FaultLayer};
use firn_tests::{StoreKind, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_during_flush_surfaces_promptly_and_a_transient_one_is_retried() {
    let mut env = TestDb::new(StoreKind::Memory, "permanent");
    let layer = FaultLayer::new(FaultConfig::default());
    let control = layer.control();
    let store = env.layered_store(|op| op.layer(layer));
    let mut opts = env.small_options();
    opts.object_store = Some(store);
    opts.durability = Durability::Sync;
    opts.retry_delay = Duration::from_millis(5);
    opts.max_retry_delay = Duration::from_millis(20);
    let db = Db::open(opts.clone()).await.unwrap();
    for i in 0..50 {
        db.put(format!("before-{i:02}"), "v").await.unwrap();
    }
    db.flush().await.unwrap();

    // The store refuses chunk writes for good: the flush fails at once,
    // naming the object and the refusal, and so does upload_status().
    control.refuse_writes_under(Some("chunks/"));
    for i in 0..50 {
        db.put(format!("refused-{i:02}"), "v").await.unwrap();
    }
    let err = tokio::time::timeout(Duration::from_secs(20), db.flush())
        .await
        .expect("a permanent error must not be retried forever")
        .expect_err("the flush cannot succeed");
    let msg = err.to_string();
    assert!(
        msg.contains("chunks/") && msg.contains("not permitted"),
        "{msg}"
    );
    let status = db.upload_status().expect("upload_status names the failure");
    assert!(
        status.contains("failed for good") && status.contains("PermissionDenied"),
        "{status}"
    );
    assert_eq!(
        db.metrics().upload_retries,
        0,
        "a final answer is not retried"
    );
    drop(db);

    // Once the store accepts writes again, every acknowledged write is there.
    control.refuse_writes_under(None);
    let db = Db::open(opts.clone()).await.unwrap();
    for prefix in ["before", "refused"] {
        for i in 0..50 {
            assert_eq!(
                db.get(format!("{prefix}-{i:02}")).await.unwrap().as_deref(),
                Some(&b"v"[..]),
                "{prefix}-{i:02}"
            );
        }
    }

    // A transient failure (a server error, a timeout) is still retried until
    // it passes, without loss.
    control.set_config(FaultConfig {
        write_error_rate: 1.0,
        max_streak_writes: 3,
        only_under: Some("chunks/".into()),
        ..FaultConfig::default()
    });
    for i in 0..50 {
        db.put(format!("transient-{i:02}"), "v").await.unwrap();
    }
    db.flush().await.unwrap();
    assert!(
        db.metrics().upload_retries > 0,
        "transient failures are retried"
    );
    assert!(
        db.upload_status().is_none(),
        "cleared once the upload passed"
    );
    db.close().await.unwrap();
}

/// A fatal error keeps its kind: writes after it get `Closed` carrying the
/// store's own error (not a string), and a refused manifest publish is a
/// final answer too, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_keeps_its_kind() {
    let mut env = TestDb::new(StoreKind::Memory, "fatal-kind");
    let layer = FaultLayer::new(FaultConfig::default());
    let control = layer.control();
    let store = env.layered_store(|op| op.layer(layer));
    let mut opts = env.small_options();
    opts.object_store = Some(store);
    opts.retry_delay = Duration::from_millis(5);
    opts.max_retry_delay = Duration::from_millis(20);
    let db = Db::open(opts.clone()).await.unwrap();
    db.put("a", "1").await.unwrap();

    // Chunks upload, but the manifest version cannot be created.
    control.refuse_writes_under(Some("manifest/"));
    let err = tokio::time::timeout(Duration::from_secs(20), db.flush())
        .await
        .expect("a refused publish must not be retried forever")
        .expect_err("the flush cannot publish");
    assert!(
        matches!(err.root_cause(), firn::Error::Store(e) if !e.is_retryable()),
        "{err:?}"
    );
    assert!(err.to_string().contains("manifest/"), "{err}");
    let status = db.upload_status().expect("upload_status names the failure");
    assert!(
        status.contains("manifest publish failed for good"),
        "{status}"
    );

    // Every later write is refused with the same cause, kind intact.
    let err = db.put("b", "2").await.unwrap_err();
    match &err {
        firn::Error::Closed(Some(cause)) => assert!(
            matches!(&**cause, firn::Error::Store(e) if !e.is_retryable()),
            "{cause:?}"
        ),
        other => panic!("expected Closed with the store error, got {other:?}"),
    }
    assert_eq!(db.metrics().upload_retries, 0);
    drop(db);

    // Nothing acknowledged is lost: the WAL replays once writes pass again.
    control.refuse_writes_under(None);
    let db = Db::open(opts).await.unwrap();
    assert_eq!(db.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    db.close().await.unwrap();
}

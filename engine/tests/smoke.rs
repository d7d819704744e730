//! End-to-end basics of the engine on `memory://` and `file://`: writes,
//! flushes, reads across memtable and chunks, scans, reopen.

use firn::{Db, Durability, Options, WriteBatch};

fn opts(url: String, local: &std::path::Path) -> Options {
    let mut o = Options::new(url, local).memtable_size(8 << 10);
    o.block_size = 512;
    o
}

async fn exercise(url: String) {
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(url.clone(), local.path())).await.unwrap();
    for i in 0..2000u32 {
        db.put(format!("key{i:05}"), format!("value{i}"))
            .await
            .unwrap();
    }
    let mut b = WriteBatch::new();
    b.delete("key00007").put("key00008", "eight");
    db.write(b).await.unwrap();
    let flushed = db.flush().await.unwrap();
    assert!(!flushed.is_empty(), "flush produced no chunk");
    let m = db.metrics();
    assert!(m.l0_chunks + m.run_chunks >= 1, "no chunk after a flush");
    assert_eq!(
        db.get("key00001").await.unwrap().as_deref(),
        Some(&b"value1"[..])
    );
    assert_eq!(db.get("key00007").await.unwrap(), None);
    assert_eq!(
        db.get("key00008").await.unwrap().as_deref(),
        Some(&b"eight"[..])
    );
    let snap = db.snapshot();
    db.put("key00001", "changed").await.unwrap();
    assert_eq!(
        snap.get("key00001").await.unwrap().as_deref(),
        Some(&b"value1"[..])
    );
    let all = db
        .scan::<&[u8], _>(..)
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 1999);
    let some = db
        .scan_prefix("key0001")
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(some.len(), 10);
    assert_eq!(some[0].0.as_ref(), b"key00010");
    drop(snap);
    db.close().await.unwrap();

    let db = Db::open(opts(url.clone(), local.path()).durability(Durability::Sync))
        .await
        .unwrap();
    assert_eq!(
        db.get("key00001").await.unwrap().as_deref(),
        Some(&b"changed"[..])
    );
    assert_eq!(
        db.get("key01999").await.unwrap().as_deref(),
        Some(&b"value1999"[..])
    );
    db.put("after", "reopen").await.unwrap();
    drop(db); // a crash: the WAL replays on the next open
    let ro = Db::open(opts(url.clone(), local.path()).read_only(true))
        .await
        .unwrap();
    assert_eq!(
        ro.get("after").await.unwrap().as_deref(),
        Some(&b"reopen"[..])
    );
    drop(ro);
    let db = Db::open(opts(url, local.path())).await.unwrap();
    assert_eq!(
        db.get("after").await.unwrap().as_deref(),
        Some(&b"reopen"[..])
    );
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store() {
    exercise("memory://smoke-test".to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store() {
    let bucket = tempfile::tempdir().unwrap();
    exercise(format!("file://{}", bucket.path().display())).await;
}

/// The same on the S3 server named by `FIRN_TEST_S3_ENDPOINT` (skipped
/// without one, unless `FIRN_REQUIRE_S3=1`, which the test script sets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store() {
    let (Ok(_), Ok(bucket)) = (
        std::env::var("FIRN_TEST_S3_ENDPOINT"),
        std::env::var("FIRN_TEST_S3_BUCKET"),
    ) else {
        assert!(
            std::env::var("FIRN_REQUIRE_S3").is_err(),
            "FIRN_REQUIRE_S3 is set but FIRN_TEST_S3_ENDPOINT/FIRN_TEST_S3_BUCKET are not"
        );
        eprintln!("skipped: FIRN_TEST_S3_ENDPOINT is not set (run scripts/test.sh)");
        return;
    };
    exercise(format!("s3://{bucket}/smoke-{}", uuid_like())).await;
}

fn uuid_like() -> String {
    let nanos = firn_store::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

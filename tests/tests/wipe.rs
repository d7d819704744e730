//! A bucket wiped under a running writer: the writer notices before it
//! deletes any WAL, stops accepting writes with a clear error, keeps its WAL,
//! and once the objects come back (or with the WAL exported) nothing
//! acknowledged is lost. Runs on `file://`, `memory://` and the S3 server of
//! the test run (skipped with a message when `FIRN_TEST_S3_ENDPOINT` is
//! unset, failing then if `FIRN_REQUIRE_S3` is).

use firn::{Db, Durability, Error};
use firn_tests::{s3_enabled, StoreKind, TestDb};

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn value(i: u32) -> String {
    format!("value {i} {}", "w".repeat(30))
}

async fn wipe_under_a_running_writer(kind: StoreKind) {
    let env = TestDb::new(kind, "wipe");
    let mut opts = env.small_options();
    opts.durability = Durability::Sync;
    let db = Db::open(opts.clone()).await.unwrap();
    for i in 0..300 {
        db.put(key(i), value(i)).await.unwrap();
    }
    db.flush().await.unwrap();
    let saved = env.object_contents().await;
    assert!(saved.contains_key("IDENTITY"), "{:?}", saved.keys());

    // The bucket loses every object while the writer runs.
    let store = env.objects();
    for name in saved.keys() {
        store.delete(name).await.unwrap();
    }
    // Writes are still acknowledged into the WAL until a flush finds out.
    let mut acked = 300;
    let mut failure = None;
    for i in 300..900 {
        match db.put(key(i), value(i)).await {
            Ok(()) => acked = i + 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = match failure {
        Some(e) => e,
        None => db.flush().await.expect_err("a flush into a wiped bucket"),
    };
    let msg = err.to_string();
    assert!(
        msg.contains("no longer holds the database") && msg.contains("WAL"),
        "{kind}: {msg}"
    );
    // It accepts nothing more.
    let err = db.put("after", "wipe").await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{kind}: {err}");
    // Every acknowledged write beyond the first flush is still in the WAL.
    let in_wal: std::collections::BTreeSet<Vec<u8>> = firn::read_local_wal(&opts.local_dir)
        .unwrap()
        .iter()
        .flat_map(|b| b.batch.ops().iter().map(|op| op.key().to_vec()))
        .collect();
    for i in 300..acked {
        assert!(
            in_wal.contains(key(i).as_bytes()),
            "{kind}: {} left the WAL",
            key(i)
        );
    }
    assert!(db.close().await.is_err(), "{kind}: close must report it");

    // The objects come back: reopening replays the WAL, nothing is lost.
    for (name, data) in &saved {
        env.write_object(name, data.clone()).await;
    }
    let db = Db::open(opts).await.unwrap();
    for i in 0..acked {
        assert_eq!(
            db.get(key(i)).await.unwrap().as_deref(),
            Some(value(i).as_bytes()),
            "{kind}: {} lost",
            key(i)
        );
    }
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_bucket_stops_the_writer_and_keeps_its_wal_on_file() {
    wipe_under_a_running_writer(StoreKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_bucket_stops_the_writer_and_keeps_its_wal_on_memory() {
    wipe_under_a_running_writer(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_bucket_stops_the_writer_and_keeps_its_wal_on_s3() {
    if !s3_enabled("a_wiped_bucket_stops_the_writer_and_keeps_its_wal_on_s3") {
        return;
    }
    wipe_under_a_running_writer(StoreKind::S3).await;
}

//! `Durability::Deferred`: a write acknowledged from the writer's WAL buffer,
//! visible at once, handed to the OS when the buffer fills, at the periodic
//! WAL sync, with the next write of another durability, a flush or close.
//! A process crash (a child process that aborts) loses at most the newest
//! deferred writes — never one that a later `Buffered` write followed, and
//! never a write without every write before it.

use std::io::Write;
use std::path::Path;

use firn::{Db, Durability, Options, WriteBatch, WriteOptions};
use firn_tests::child_test::{aborted, run_child_test};
use firn_tests::{StoreKind, TestDb};

fn key(i: u32) -> String {
    format!("key{i:06}")
}

fn value(i: u32) -> String {
    format!("value {i} {}", "d".repeat(90))
}

const DEFERRED: WriteOptions = WriteOptions {
    durability: Some(Durability::Deferred),
};

fn opts(dir: &Path) -> Options {
    let mut o = Options::embedded(dir)
        .unwrap()
        .durability(Durability::Deferred);
    // No periodic sync during the child's run: only the buffer filling and
    // the Buffered write hand deferred writes to the OS.
    o.wal_sync_interval = std::time::Duration::from_secs(3600);
    o
}

/// The child: 3000 deferred writes (several buffers' worth), one Buffered
/// write, 200 more deferred ones, then an abort (no destructor runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writes_deferred_then_aborts() {
    let Ok(dir) = std::env::var("FIRN_DEFERRED_DIR") else {
        return;
    };
    let db = Db::open(opts(Path::new(&dir))).await.unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..3200 {
        let durability = if i == 3000 {
            Durability::Buffered
        } else {
            Durability::Deferred
        };
        let mut batch = WriteBatch::new();
        batch.put(key(i), value(i));
        db.write_with(
            batch,
            WriteOptions {
                durability: Some(durability),
            },
        )
        .await
        .unwrap();
        writeln!(out, "ack {i}").unwrap();
    }
    out.flush().unwrap();
    std::process::abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_only_the_newest_deferred_writes() {
    if std::env::var("FIRN_DEFERRED_DIR").is_ok() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let (lines, status) = run_child_test(
        "child_writes_deferred_then_aborts",
        &[("FIRN_DEFERRED_DIR", &dir)],
    );
    assert!(aborted(&status), "the child did not abort: {status}");
    // (The test harness may print on the line of the first ack.)
    assert_eq!(lines.iter().filter(|l| l.contains("ack ")).count(), 3200);

    let db = Db::open(opts(&dir)).await.unwrap();
    let mut present = Vec::new();
    for i in 0..3200 {
        present.push(db.get(key(i)).await.unwrap().is_some());
    }
    // Every write up to the Buffered one is there.
    assert!(
        present[..=3000].iter().all(|p| *p),
        "a deferred write followed by a Buffered write was lost"
    );
    // After it, a prefix survived (here none: 200 writes are less than the
    // buffer, and nothing else handed them to the OS).
    let kept = present[3001..].iter().take_while(|p| **p).count();
    assert!(
        present[3001 + kept..].iter().all(|p| !*p),
        "a deferred write survived without the ones before it"
    );
    assert_eq!(kept, 0, "the buffer reached the OS without a reason");
    for i in [0, 1234, 3000] {
        assert_eq!(
            db.get(key(i)).await.unwrap().as_deref(),
            Some(value(i).as_bytes())
        );
    }
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_writes_are_visible_at_once_and_reach_the_bucket() {
    let env = TestDb::new(StoreKind::File, "deferred");
    let mut o = env.options();
    o.wal_sync_interval = std::time::Duration::from_millis(50);
    let db = Db::open(o).await.unwrap();
    let mut last = 0;
    for i in 0..100 {
        let mut batch = WriteBatch::new();
        batch.put(key(i), value(i));
        last = db.write_with(batch, DEFERRED).await.unwrap();
        assert_eq!(
            db.get(key(i)).await.unwrap().as_deref(),
            Some(value(i).as_bytes())
        );
    }
    // The periodic sync hands them to the OS, the shipper ships them.
    tokio::time::timeout(std::time::Duration::from_secs(30), db.wait_durable(last))
        .await
        .expect("deferred writes never reached the bucket")
        .unwrap();
    assert!(db.durability_status().bucket_durable_seq >= last);
    // Closing hands the buffer over too.
    for i in 100..110 {
        db.write_with(
            {
                let mut b = WriteBatch::new();
                b.put(key(i), value(i));
                b
            },
            DEFERRED,
        )
        .await
        .unwrap();
    }
    db.close().await.unwrap();
    let db = Db::open(env.options()).await.unwrap();
    for i in 0..110 {
        assert!(db.get(key(i)).await.unwrap().is_some(), "{}", key(i));
    }
    db.close().await.unwrap();
}

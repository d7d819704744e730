//! Crashes inside a bulk ingest: a child process (this test binary, running
//! `child_writes_then_ingests`) makes acknowledged `Sync` writes, then
//! ingests, and aborts at a crash point of the engine's `crash-points`
//! feature: after the ingest's marker is in the WAL, after its chunks are
//! uploaded but before the manifest names them, or just after the publish.
//! Reopening, every acknowledged write is there, the ingest is there
//! entirely or not at all (entirely once its manifest version was
//! published), the database takes writes and ingests again, and a second
//! reopen agrees.

use std::io::Write;
use std::path::Path;

use firn::{Db, Durability, Options};
use firn_tests::child_test::{aborted, run_child_test};

const WRITES: u32 = 500;
const INGESTED: u32 = 2000;

fn opts(dir: &Path) -> Options {
    let mut o = Options::embedded(dir)
        .unwrap()
        .durability(Durability::Sync)
        .memtable_size(16 << 10);
    o.block_size = 1024;
    o
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

/// The child: acknowledged writes over every 4th key of the ingest's range,
/// then the ingest of the whole range, which the armed point interrupts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writes_then_ingests() {
    let Ok(dir) = std::env::var("FIRN_INGEST_CRASH_DIR") else {
        return;
    };
    let db = Db::open(opts(Path::new(&dir))).await.unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..WRITES {
        db.put(key(i * 4), format!("write {i}")).await.unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
    let report = db
        .ingest((0..INGESTED).map(|i| (key(i), format!("ingest {i}"))))
        .await
        .unwrap();
    writeln!(out, "ingested {}", report.seq).unwrap();
    out.flush().unwrap();
}

/// Checks the database after the crash; returns whether the ingest is in.
async fn check(db: &Db, acked: u32, case: &str) -> bool {
    let mut ingested = 0u32;
    for i in 0..INGESTED {
        let got = db.get(key(i)).await.unwrap();
        let got = got.map(|v| String::from_utf8(v.to_vec()).unwrap());
        if got.as_deref() == Some(format!("ingest {i}").as_str()) {
            ingested += 1;
            continue;
        }
        // Not ingested: the write of this key, if it was acknowledged.
        let written = i % 4 == 0 && i / 4 < acked;
        match got {
            Some(v) if written && v == format!("write {}", i / 4) => {}
            None if !written => {}
            other => panic!("{case}: {} is {other:?}", key(i)),
        }
    }
    assert!(
        ingested == 0 || ingested == INGESTED,
        "{case}: half an ingest is visible ({ingested} of {INGESTED} keys)"
    );
    ingested == INGESTED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_an_ingest_keeps_it_all_or_nothing() {
    if std::env::var("FIRN_INGEST_CRASH_DIR").is_ok() {
        return;
    }
    for (point, published) in [
        ("ingest.after_marker", false),
        ("ingest.before_publish", false),
        ("ingest.after_publish", true),
    ] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("db");
        let (lines, status) = run_child_test(
            "child_writes_then_ingests",
            &[
                ("FIRN_CRASH_POINT", Path::new(point)),
                ("FIRN_INGEST_CRASH_DIR", dir.as_path()),
            ],
        );
        assert!(
            aborted(&status),
            "{point}: the child did not crash there ({status}): {lines:?}"
        );
        assert!(!lines.iter().any(|l| l.contains("ingested")), "{point}");
        // (The test harness may print on the line of the first ack.)
        let acked = lines.iter().filter(|l| l.contains("ack ")).count() as u32;
        assert_eq!(
            acked, WRITES,
            "{point}: the writes all came before the ingest"
        );

        let db = Db::open(opts(&dir)).await.unwrap();
        let ingested = check(&db, acked, point).await;
        assert_eq!(ingested, published, "{point}");
        // The database goes on: writes, another ingest, a reopen.
        db.put(key(1), "after").await.unwrap();
        let again = db
            .ingest((0..10).map(|i| (format!("z{i}"), "second")))
            .await
            .unwrap();
        assert!(again.seq > db.manifest().wal_watermark.saturating_sub(1));
        db.close().await.unwrap();
        let db = Db::open(opts(&dir)).await.unwrap();
        assert_eq!(
            db.get(key(1)).await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
        assert_eq!(db.get("z9").await.unwrap().as_deref(), Some(&b"second"[..]));
        assert_eq!(
            db.get(key(3)).await.unwrap().is_some(),
            published,
            "{point}"
        );
        db.close().await.unwrap();
    }
}

//! Bulk ingest (`Db::bulk_ingest`, `Db::ingest`): sorted entries go straight
//! into chunks and are published at one new seq, above every write before
//! them: all or nothing, hidden from older snapshots, newer than every
//! older version of their keys wherever it lives (memtable, L0, runs), older
//! than every write after them, through reopen and compaction. Concurrent
//! writes are ordered around the ingest. (The model test ingests at random
//! among its other steps, with followers, takeovers and restores.)

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use firn::{Db, Error, IngestPlacement};
use firn_tests::{collect, StoreKind, TestDb};

fn key(i: usize) -> String {
    format!("key{i:06}")
}

async fn value_of(db: &Db, k: &str) -> Option<String> {
    db.get(k)
        .await
        .unwrap()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_overrides_every_older_version_and_is_hidden_from_older_snapshots() {
    for kind in [StoreKind::Memory, StoreKind::File] {
        let env = TestDb::new(kind, "ingest-order");
        let db = Db::open(env.options()).await.unwrap();
        // Older versions in every layer: a run, an L0 chunk, a frozen-then-
        // flushed memtable and the active memtable.
        for i in 0..400 {
            db.put(key(i), "run").await.unwrap();
        }
        db.compact().await.unwrap();
        for i in 100..400 {
            db.put(key(i), "l0").await.unwrap();
        }
        db.flush().await.unwrap();
        for i in 200..400 {
            db.put(key(i), "mem").await.unwrap();
        }
        let before = db.snapshot();

        // Ingest every 2nd key of 0..600 (new ones past 400), and delete
        // key 3 of each ten.
        let mut ingest = db.bulk_ingest().unwrap();
        for i in 0..600 {
            if i % 10 == 3 {
                ingest.delete(key(i)).await.unwrap();
            } else if i.is_multiple_of(2) {
                ingest.put(key(i), "ingest").await.unwrap();
            }
        }
        let report = ingest.finish().await.unwrap();
        assert!(report.seq > before.seq(), "{report:?}");
        assert_eq!(report.entries, 360);
        // The memtables were flushed into L0, which overlaps the ingest.
        assert_eq!(report.placement, IngestPlacement::L0, "{kind}");
        assert_eq!(db.metrics().visible_seq, report.seq);

        let want = |i: usize| -> Option<&'static str> {
            if i % 10 == 3 {
                None
            } else if i.is_multiple_of(2) {
                Some("ingest")
            } else if i >= 400 {
                None
            } else if i >= 200 {
                Some("mem")
            } else if i >= 100 {
                Some("l0")
            } else {
                Some("run")
            }
        };
        let old = |i: usize| -> Option<&'static str> {
            match i {
                0..100 => Some("run"),
                100..200 => Some("l0"),
                200..400 => Some("mem"),
                _ => None,
            }
        };
        let check = |db: Db, when: &'static str| async move {
            for i in 0..600 {
                assert_eq!(
                    value_of(&db, &key(i)).await.as_deref(),
                    want(i),
                    "{} {when}",
                    key(i)
                );
            }
            let keys: Vec<String> = (0..600).map(key).collect();
            let got = db.multi_get(&keys).await.unwrap();
            for (i, v) in got.iter().enumerate() {
                assert_eq!(
                    v.as_deref(),
                    want(i).map(str::as_bytes),
                    "multi_get {i} {when}"
                );
            }
            let scanned = collect(db.scan::<&[u8], _>(..).unwrap()).await.unwrap();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
                .filter_map(|i| want(i).map(|v| (key(i).into_bytes(), v.as_bytes().to_vec())))
                .collect();
            assert_eq!(scanned, expected, "scan {when}");
        };
        check(db.clone(), "after the ingest").await;
        // The snapshot taken before still reads the old versions.
        for i in (0..600).step_by(7) {
            let got = before.get(key(i)).await.unwrap();
            assert_eq!(got.as_deref(), old(i).map(str::as_bytes), "snapshot {i}");
        }
        drop(before);

        // Later writes win over the ingest.
        db.put(key(0), "after").await.unwrap();
        assert_eq!(value_of(&db, &key(0)).await.as_deref(), Some("after"));
        db.put(key(0), "ingest").await.unwrap();

        db.compact().await.unwrap();
        check(db.clone(), "after a full compaction").await;
        db.close().await.unwrap();
        let db = Db::open(env.options()).await.unwrap();
        check(db.clone(), "after reopening").await;
        db.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_into_a_disjoint_range_becomes_a_run_and_survives_losing_the_local_directory() {
    let env = TestDb::new(StoreKind::File, "ingest-run");
    let db = Db::open(env.options()).await.unwrap();
    for i in 0..100 {
        db.put(format!("a{i:04}"), "small").await.unwrap();
    }
    let report = db
        .ingest((0..50_000).map(|i| (key(i), format!("v{i}"))))
        .await
        .unwrap();
    assert_eq!(report.placement, IngestPlacement::Run);
    assert_eq!(report.entries, 50_000);
    assert!(report.chunks >= 1);
    let m = db.metrics();
    assert_eq!(
        (m.ingests, m.ingest_entries, m.ingest_bytes),
        (1, 50_000, report.bytes)
    );
    let m = db.manifest();
    assert_eq!(m.wal_watermark, report.seq);
    let run = &m.runs[0];
    assert!(run
        .chunks
        .iter()
        .all(|c| c.uniform_seq() == Some(report.seq)));
    assert_eq!(
        run.chunks.iter().map(|c| c.entries).sum::<u64>(),
        50_000,
        "{run:?}"
    );
    // The ingest is in the bucket once acknowledged: a writer on a fresh
    // local directory sees it (and the small writes, flushed before it).
    drop(db);
    let db = Db::open(env.options_with_local("other-machine"))
        .await
        .unwrap();
    assert_eq!(value_of(&db, &key(12_345)).await.as_deref(), Some("v12345"));
    assert_eq!(value_of(&db, "a0042").await.as_deref(), Some("small"));
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error_and_ingests_nothing() {
    let env = TestDb::new(StoreKind::Memory, "ingest-bad");
    let db = Db::open(env.options()).await.unwrap();
    db.put("b", "kept").await.unwrap();
    let mut ingest = db.bulk_ingest().unwrap();
    ingest.put("a", "1").await.unwrap();
    ingest.put("c", "3").await.unwrap();
    let err = ingest.put("b", "2").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidArgument(_)), "{msg}");
    assert!(
        msg.contains("entry 3") && msg.contains("\"b\"") && msg.contains("\"c\""),
        "{msg}"
    );
    assert!(msg.contains("increasing key order"), "{msg}");
    let err = ingest.put("c", "again").await.unwrap_err().to_string();
    assert!(err.contains("not above"), "{err}");
    let err = ingest.put("", "x").await.unwrap_err().to_string();
    assert!(err.contains("empty keys"), "{err}");
    drop(ingest);
    assert_eq!(value_of(&db, "a").await, None);
    assert_eq!(value_of(&db, "b").await.as_deref(), Some("kept"));

    // An empty ingest publishes nothing.
    let version = db.manifest().version;
    let report = db.ingest(Vec::<(Bytes, Bytes)>::new()).await.unwrap();
    assert_eq!(report.placement, IngestPlacement::Nothing);
    assert_eq!(db.manifest().version, version);
    db.close().await.unwrap();

    // A read-only handle cannot ingest.
    let mut opts = env.options();
    opts.read_only = true;
    let ro = Db::open(opts).await.unwrap();
    assert!(matches!(ro.bulk_ingest(), Err(Error::ReadOnly)));
}

/// Writers keep writing the ingested keys while the ingest runs: every key
/// ends with the ingest's value if its last write came before the ingest's
/// seq, else with that write's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_during_an_ingest_are_ordered_around_it() {
    let env = TestDb::new(StoreKind::Memory, "ingest-concurrent");
    let mut opts = env.options();
    opts.memtable_size = 256 << 10;
    let db = Db::open(opts).await.unwrap();
    const KEYS: usize = 20_000;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4usize {
        let (db, stop) = (db.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            // key -> (seq, value) of this writer's last write to it.
            let mut last: BTreeMap<usize, (u64, String)> = BTreeMap::new();
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let i = (n * 7919 + w * 13) % KEYS;
                let value = format!("w{w}-{n}");
                let mut batch = firn::WriteBatch::new();
                batch.put(key(i), value.clone());
                let seq = db.write(batch).await.unwrap();
                last.insert(i, (seq, value));
                n += 1;
                if n.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
            }
            last
        }));
    }
    let report = db
        .ingest((0..KEYS).map(|i| (key(i), "ingest")))
        .await
        .unwrap();
    // Let the writers go on a little after the ingest too.
    for _ in 0..200 {
        db.put("other", "x").await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut newest: BTreeMap<usize, (u64, String)> = BTreeMap::new();
    for w in writers {
        for (i, (seq, v)) in w.await.unwrap() {
            if newest.get(&i).is_none_or(|(s, _)| *s < seq) {
                newest.insert(i, (seq, v));
            }
        }
    }
    assert!(
        newest.values().any(|(s, _)| *s < report.seq)
            && newest.values().any(|(s, _)| *s > report.seq),
        "the writes did not straddle the ingest at seq {}",
        report.seq
    );
    let check = |db: Db| {
        let newest = newest.clone();
        async move {
            for i in 0..KEYS {
                let want = match newest.get(&i) {
                    Some((seq, v)) if *seq > report.seq => v.as_str(),
                    _ => "ingest",
                };
                assert_eq!(
                    value_of(&db, &key(i)).await.as_deref(),
                    Some(want),
                    "{}",
                    key(i)
                );
            }
        }
    };
    check(db.clone()).await;
    db.close().await.unwrap();
    let db = Db::open(env.options()).await.unwrap();
    check(db.clone()).await;
    db.close().await.unwrap();
}

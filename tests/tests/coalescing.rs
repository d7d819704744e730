//! Write coalescing at flush: a memtable becomes a chunk holding, of each
//! key, only the versions a read can still see — the newest, and the one a
//! live snapshot or iterator reads — so a key updated a hundred times
//! between flushes costs one entry, not a hundred. Tombstones stay (they
//! shadow older chunks). Snapshots taken between the updates keep what they
//! see across the flush (the model test checks this at random too).

use bytes::Bytes;
use firn::Db;
use firn_tests::{collect, StoreKind, TestDb};

const KEYS: usize = 100;
const ROUNDS: usize = 50;

async fn update_all(db: &Db, round: usize) {
    for k in 0..KEYS {
        db.put(format!("k{k:03}"), format!("r{round:03}"))
            .await
            .unwrap();
    }
}

fn chunk_entries(db: &Db) -> u64 {
    db.manifest().all_chunks().map(|c| c.entries).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_keeps_one_version_per_key_unless_a_snapshot_needs_more() {
    let env = TestDb::new(StoreKind::Memory, "coalesce");
    let mut opts = env.options();
    opts.memtable_size = 64 << 20;
    let db = Db::open(opts).await.unwrap();
    for round in 0..ROUNDS {
        update_all(&db, round).await;
    }
    db.delete("k000").await.unwrap();
    db.flush().await.unwrap();
    // 100 keys, 50 updates each, one of them deleted: 100 entries (the
    // tombstone included), not 5,001.
    assert_eq!(chunk_entries(&db), KEYS as u64);
    assert_eq!(
        db.metrics().flush_entries_coalesced,
        (KEYS * ROUNDS) as u64 - 99
    );
    assert_eq!(db.get("k000").await.unwrap(), None);
    assert_eq!(
        db.get("k042").await.unwrap(),
        Some(Bytes::from(format!("r{:03}", ROUNDS - 1)))
    );

    // A snapshot between updates keeps its versions through the flush.
    update_all(&db, 100).await;
    let snapshot = db.snapshot();
    let iter = db.scan::<&[u8], _>(..).unwrap();
    update_all(&db, 101).await;
    update_all(&db, 102).await;
    db.flush().await.unwrap();
    // New chunk: the newest version of each key, and the one the snapshot
    // (and the open iterator, at the same seq) reads.
    assert_eq!(chunk_entries(&db) - KEYS as u64, 2 * KEYS as u64);
    for k in [0usize, 7, 99] {
        let key = format!("k{k:03}");
        assert_eq!(
            snapshot.get(&key).await.unwrap(),
            Some(Bytes::from("r100")),
            "{key} through the snapshot"
        );
        assert_eq!(db.get(&key).await.unwrap(), Some(Bytes::from("r102")));
    }
    let seen = collect(iter).await.unwrap();
    assert_eq!(seen.len(), KEYS);
    assert!(
        seen.iter().all(|(_, v)| v == b"r100"),
        "the iterator's view changed"
    );
    drop(snapshot);
    db.close().await.unwrap();
}

//! Compaction through the public API: overwritten versions and tombstones
//! are dropped, snapshots keep what they can see, background compaction
//! keeps level 0 bounded.

use firn::{Db, Options};

fn opts(url: &str, local: &std::path::Path) -> Options {
    let mut o = Options::new(url, local).memtable_size(64 << 10);
    o.block_size = 4096;
    o.compaction.target_chunk_size = 256 << 10;
    // What these tests measure is compaction; shipping the WAL would only
    // compete with it for the test machine's two cores.
    o.wal_shipping = false;
    o
}

fn live_bytes(db: &Db) -> u64 {
    db.manifest().all_chunks().map(|c| c.size).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrites_compact_to_one_copy() {
    let url = format!("memory://compact-overwrite-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let mut o = opts(&url, local.path());
    o.compaction.auto_compaction = false;
    let db = Db::open(o).await.unwrap();
    let value = |round: u32, i: u32| format!("value-{round:02}-{i:06}-{}", "x".repeat(40));
    for round in 0..20u32 {
        let mut batch = firn::WriteBatch::new();
        for i in 0..10_000u32 {
            batch.put(format!("key{i:06}"), value(round, i));
            if batch.len() == 500 {
                db.write(std::mem::take(&mut batch)).await.unwrap();
            }
        }
        db.flush().await.unwrap();
    }
    let before = live_bytes(&db);
    db.compact().await.unwrap();
    let after = live_bytes(&db);
    let m = db.manifest();
    assert!(
        m.l0.is_empty() && m.runs.len() == 1,
        "one sorted run after a full compaction"
    );
    // One copy of the data, as a single flush of it.
    let entries: u64 = m.all_chunks().map(|c| c.entries).sum();
    assert_eq!(entries, 10_000, "exactly one version per key remains");
    assert!(
        after * 15 < before,
        "compaction should shrink 20 copies ({before} -> {after})"
    );
    for i in (0..10_000u32).step_by(997) {
        let got = db.get(format!("key{i:06}")).await.unwrap();
        assert_eq!(got.as_deref(), Some(value(19, i).as_bytes()));
    }
    let metrics = db.metrics();
    assert_eq!(metrics.compactions, 1);
    assert!(metrics.compaction_bytes_written == after);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_everything_leaves_no_tombstones() {
    let url = format!("memory://compact-delete-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    for i in 0..3000u32 {
        db.put(format!("k{i:05}"), "v".repeat(50)).await.unwrap();
    }
    db.flush().await.unwrap();
    for i in 0..3000u32 {
        db.delete(format!("k{i:05}")).await.unwrap();
    }
    db.compact().await.unwrap();
    let m = db.manifest();
    assert_eq!(m.all_chunks().map(|c| c.tombstones).sum::<u64>(), 0);
    assert_eq!(m.all_chunks().map(|c| c.entries).sum::<u64>(), 0);
    assert!(db
        .scan::<&[u8], _>(..)
        .unwrap()
        .collect_all()
        .await
        .unwrap()
        .is_empty());
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_keeps_what_it_sees_across_compaction() {
    let url = format!("memory://compact-snapshot-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    db.put("k", "old").await.unwrap(); // seq 1
    db.put("filler", "x").await.unwrap();
    let snap = db.snapshot();
    db.put("other", "y").await.unwrap();
    db.delete("k").await.unwrap();
    db.compact().await.unwrap();
    assert_eq!(snap.get("k").await.unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(db.get("k").await.unwrap(), None);
    let tombstones: u64 = db.manifest().all_chunks().map(|c| c.tombstones).sum();
    assert_eq!(
        tombstones, 1,
        "the tombstone stays while the snapshot needs the old value"
    );
    drop(snap);
    db.compact().await.unwrap();
    assert_eq!(db.get("k").await.unwrap(), None);
    let m = db.manifest();
    assert_eq!(m.all_chunks().map(|c| c.tombstones).sum::<u64>(), 0);
    assert_eq!(m.all_chunks().map(|c| c.entries).sum::<u64>(), 2);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_compaction_bounds_level_zero() {
    let url = format!("memory://compact-background-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    let mut max_l0 = 0;
    for i in 0..40_000u32 {
        db.put(
            format!("key{:08}", (i * 7919) % 40_000),
            format!("{i:0100}"),
        )
        .await
        .unwrap();
        if i % 1000 == 0 {
            max_l0 = max_l0.max(db.metrics().l0_chunks);
        }
    }
    db.flush().await.unwrap();
    let m = db.metrics();
    assert!(m.flushes > 20, "many flushes expected, got {}", m.flushes);
    assert!(m.compactions > 0, "background compaction never ran");
    assert!(max_l0 < 36, "level 0 grew to {max_l0}");
    for i in (0..40_000u32).step_by(1231) {
        let key = format!("key{:08}", (i * 7919) % 40_000);
        assert_eq!(
            db.get(&key).await.unwrap().as_deref(),
            Some(format!("{i:0100}").as_bytes())
        );
    }
    db.close().await.unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    let all = db
        .scan::<&[u8], _>(..)
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 40_000);
    db.close().await.unwrap();
}

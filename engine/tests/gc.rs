//! Garbage collection and checkpoints: the bucket shrinks back to one copy
//! of the data, while snapshots and checkpoints keep reading what they saw.

use std::time::Duration;

use bytes::Bytes;
use firn::{Db, Options, WriteBatch};

fn opts(url: &str, local: &std::path::Path) -> Options {
    let mut o = Options::new(url, local).memtable_size(256 << 10);
    o.compaction.auto_compaction = false;
    o.compaction.target_chunk_size = 512 << 10;
    o
}

async fn bucket_chunk_bytes(db: &Db) -> u64 {
    let list = db.object_store().list("chunks/").await.unwrap();
    list.iter().map(|o| o.size).sum()
}

fn value(round: u32, i: u32) -> String {
    format!("round {round:02} key {i:06} {}", "payload".repeat(8))
}

async fn overwrite(db: &Db, round: u32) {
    let mut batch = WriteBatch::new();
    for i in 0..10_000u32 {
        batch.put(format!("key{i:06}"), value(round, i));
        if batch.len() == 1000 {
            db.write(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    db.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_returns_the_bucket_to_one_copy_and_keeps_what_readers_need() {
    let url = format!("memory://gc-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    overwrite(&db, 0).await;
    let one_copy = db.metrics().flush_bytes;
    db.checkpoint("after-round-0").await.unwrap();
    for round in 1..20 {
        overwrite(&db, round).await;
    }
    let snap = db.snapshot(); // sees round 19
    assert!(bucket_chunk_bytes(&db).await > 10 * one_copy);

    overwrite(&db, 20).await;
    db.compact().await.unwrap();
    let live: u64 = db.manifest().all_chunks().map(|c| c.size).sum();
    // The snapshot needs round 19's values, so two versions survive per key.
    assert!(live <= 3 * one_copy, "live {live} vs one copy {one_copy}");
    let report = db.gc(Duration::ZERO).await.unwrap();
    assert!(report.chunks_deleted > 10, "{report:?}");
    assert!(report.manifests_deleted > 10, "{report:?}");
    for i in (0..10_000).step_by(1111) {
        let key = format!("key{i:06}");
        assert_eq!(
            snap.get(&key).await.unwrap(),
            Some(Bytes::from(value(19, i)))
        );
        assert_eq!(db.get(&key).await.unwrap(), Some(Bytes::from(value(20, i))));
    }
    drop(snap);
    db.compact().await.unwrap();
    db.gc(Duration::ZERO).await.unwrap();
    let live: u64 = db.manifest().all_chunks().map(|c| c.size).sum();
    assert!(
        live * 2 <= 3 * one_copy,
        "live {live} vs one copy {one_copy}"
    );

    // The checkpoint still pins round 0: its chunks stay; the bucket holds
    // exactly the live run plus the checkpoint's chunks.
    let checkpoints = db.list_checkpoints().await.unwrap();
    assert_eq!(checkpoints.len(), 1);
    let total = bucket_chunk_bytes(&db).await;
    assert!(
        total <= live + one_copy + one_copy / 2,
        "bucket {total}, live {live}"
    );
    db.close().await.unwrap();

    let mut ro = opts(&url, local.path());
    ro.checkpoint = Some("after-round-0".into());
    let old = Db::open(ro).await.unwrap();
    for i in (0..10_000).step_by(777) {
        let got = old.get(format!("key{i:06}")).await.unwrap();
        assert_eq!(got, Some(Bytes::from(value(0, i))));
    }
    assert!(old
        .put("x", "y")
        .await
        .unwrap_err()
        .to_string()
        .contains("read-only"));
    drop(old);

    // Deleting the checkpoint lets GC take the bucket back to one copy.
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    db.delete_checkpoint("after-round-0").await.unwrap();
    db.gc(Duration::ZERO).await.unwrap();
    let total = bucket_chunk_bytes(&db).await;
    assert!(
        total * 2 <= 3 * one_copy,
        "bucket {total} vs one copy {one_copy}"
    );
    assert!(db.delete_checkpoint("after-round-0").await.is_err());
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_fenced_epochs_go_newer_epochs_stay() {
    let url = format!("memory://gc-orphans-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    db.put("a", "1").await.unwrap();
    db.flush().await.unwrap();
    db.close().await.unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    let epoch = db.epoch();
    let store = db.object_store().clone();
    let old = firn::ChunkId {
        epoch: epoch - 1,
        id: 999,
    }
    .object_name();
    let newer = firn::ChunkId {
        epoch: epoch + 1,
        id: 1,
    }
    .object_name();
    store
        .put(&old, Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    store
        .put(&newer, Bytes::from_static(b"someone else's upload"))
        .await
        .unwrap();
    // With a long grace, the fenced writer's orphan is still too young.
    db.gc(Duration::from_secs(3600)).await.unwrap();
    assert!(store.stat(&old).await.unwrap().is_some());
    let report = db.gc(Duration::ZERO).await.unwrap();
    assert_eq!(report.orphans_deleted, 1, "{report:?}");
    assert!(store.stat(&old).await.unwrap().is_none());
    assert!(
        store.stat(&newer).await.unwrap().is_some(),
        "a newer epoch's upload is never collected"
    );
    assert_eq!(db.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_database_makes_no_requests() {
    let url = format!("memory://idle-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let mut o = opts(&url, local.path());
    o.compaction.auto_compaction = true;
    o.gc_interval = Duration::from_millis(50);
    let db = Db::open(o).await.unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{i}"), "v".repeat(200)).await.unwrap();
    }
    db.flush().await.unwrap();
    // Let background flush, compaction and GC settle.
    let mut last = db.metrics().requests;
    loop {
        firn_store::clock::sleep(Duration::from_millis(300)).await;
        let now = db.metrics().requests;
        if now == last {
            break;
        }
        last = now;
    }
    firn_store::clock::sleep(Duration::from_secs(1)).await;
    assert_eq!(db.metrics().requests, last, "requests while idle");
    db.close().await.unwrap();
}

/// The first GC pass of a new process neither reads the superseded manifest
/// versions it finds (there may be hundreds within the grace period) nor
/// deletes a chunk one of them may still reference: those versions count
/// as superseded when first seen, so their chunks wait a full grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_gcs_without_reading_old_versions_and_keeps_their_chunks() {
    let url = format!("memory://gc-first-pass-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    for round in 0..6 {
        overwrite(&db, round).await;
    }
    // A reader in "another process" still on the version with six L0 chunks.
    let reader_dir = tempfile::tempdir().unwrap();
    let reader = Db::open(opts(&url, reader_dir.path()).read_only(true))
        .await
        .unwrap();
    let old_chunks: Vec<String> = reader
        .manifest()
        .all_chunks()
        .map(|c| c.id.object_name())
        .collect();
    assert!(old_chunks.len() >= 6, "{} chunks", old_chunks.len());
    db.compact().await.unwrap();
    let versions = db.object_store().list("manifest/").await.unwrap().len();
    db.close().await.unwrap();
    assert!(versions >= 8, "{versions} manifest versions");

    // A new writer process (fresh local directory), default grace.
    let local2 = tempfile::tempdir().unwrap();
    let db2 = Db::open(opts(&url, local2.path())).await.unwrap();
    // Wait for the open's GC pass.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while db2.metrics().gc_passes == 0 {
        assert!(std::time::Instant::now() < deadline, "no GC pass at open");
        firn_store::clock::sleep(Duration::from_millis(20)).await;
    }
    let m = db2.metrics();
    assert!(
        m.requests.get < 6,
        "the open and its GC pass made {} GETs for {versions} manifest versions",
        m.requests.get
    );
    for name in &old_chunks {
        assert!(
            db2.object_store().get(name).await.is_ok(),
            "{name} was deleted although a version superseded just now references it"
        );
    }
    let all = reader
        .scan::<&[u8], _>(..)
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 10_000, "the old reader lost data");

    // With no grace at all, they go.
    let report = db2.gc(Duration::ZERO).await.unwrap();
    assert!(
        report.chunks_deleted >= old_chunks.len() as u64,
        "{report:?}"
    );
    for name in &old_chunks {
        assert!(db2.object_store().get(name).await.is_err(), "{name} kept");
    }
    reader.close().await.unwrap();
    db2.close().await.unwrap();
}

//! Range deletes through every layer and every read path.
//!
//! * Range deletes land in a sorted run, in L0 chunks and in the memtable,
//!   over data in every layer (a bulk-ingested chunk too), with keys
//!   written again inside deleted ranges afterwards and a snapshot in
//!   between. `get`, `multi_get`, forward and reverse scans and the
//!   snapshot agree with a `BTreeMap` at each stage: before and after a
//!   flush, a reopen and a compaction, and on a follower.
//! * Deleting a million keys is one write (one seq), a full scan then finds
//!   nothing, and a full compaction leaves no chunk and so no range
//!   tombstone.
//!
//! The first runs on `memory://`, `file://` and the S3 server; the million
//! keys on `memory://` and `file://`.

use std::collections::BTreeMap;
use std::time::Duration;

use firn::{Db, WriteBatch};
use firn_tests::{collect, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

firn_tests::on_every_store!(range_deletes_hide_keys_on_every_read_path);

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const KEYS: u32 = 3000;

fn key(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

fn delete_range(model: &mut Model, start: &[u8], end: &[u8]) {
    model.retain(|k, _| !(k.as_slice() >= start && k.as_slice() < end));
}

/// Random puts, deletes and range deletes (about one batch in 40 holds a
/// range delete of up to 200 keys).
async fn write_round(db: &Db, model: &mut Model, rng: &mut StdRng, round: usize, batches: usize) {
    for _ in 0..batches {
        let mut batch = WriteBatch::new();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..KEYS);
            let roll = rng.random_range(0..100);
            if roll < 3 {
                let (start, end) = (key(i), key(i + rng.random_range(1..200)));
                delete_range(model, &start, &end);
                batch.delete_range(start, end);
            } else if roll < 20 {
                batch.delete(key(i));
                model.remove(&key(i));
            } else {
                let v = format!("v{round}-{}", rng.random::<u32>()).into_bytes();
                batch.put(key(i), v.clone());
                model.insert(key(i), v);
            }
        }
        db.write(batch).await.expect("write");
    }
}

/// Every read path against `model`.
async fn check(db: &Db, model: &Model, what: &str) {
    let all: Vec<Vec<u8>> = (0..KEYS + 10).map(key).collect();
    for k in all.iter().step_by(7) {
        assert_eq!(
            db.get(k).await.expect("get").map(|v| v.to_vec()),
            model.get(k).cloned(),
            "{what}: get {}",
            String::from_utf8_lossy(k)
        );
    }
    let got: Vec<Option<Vec<u8>>> = db
        .multi_get(&all)
        .await
        .expect("multi_get")
        .into_iter()
        .map(|v| v.map(|v| v.to_vec()))
        .collect();
    let want: Vec<Option<Vec<u8>>> = all.iter().map(|k| model.get(k).cloned()).collect();
    assert_eq!(got, want, "{what}: multi_get");
    let rows: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let forward = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    assert!(forward == rows, "{what}: forward scan");
    let mut backward = collect(db.scan::<&[u8], _>(..).expect("scan").rev())
        .await
        .expect("reverse scan");
    backward.reverse();
    assert!(backward == rows, "{what}: reverse scan");
    // A bounded scan starting inside a deleted range.
    let (lo, hi) = (key(1000), key(2000));
    let part: Vec<_> = model
        .range(lo.clone()..hi.clone())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let got = collect(db.scan(lo..hi).expect("scan")).await.expect("scan");
    assert!(got == part, "{what}: bounded scan");
}

async fn check_snapshot(snap: &firn::Snapshot, model: &Model, what: &str) {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let got = collect(snap.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("snapshot scan");
    assert!(got == rows, "{what}: snapshot scan");
    for i in (0..KEYS).step_by(11) {
        assert_eq!(
            snap.get(key(i)).await.expect("get").map(|v| v.to_vec()),
            model.get(&key(i)).cloned(),
            "{what}: snapshot get k{i:05}"
        );
    }
}

async fn range_deletes_hide_keys_on_every_read_path(kind: StoreKind) {
    let env = TestDb::new(kind, "range-delete");
    let mut rng = StdRng::seed_from_u64(0x5eed_7a11);
    let mut model = Model::new();
    let db = env.open(env.options()).await;

    // A bulk-ingested chunk (every 5th key, all at one seq), then a range
    // delete over part of it.
    let ingested: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS)
        .step_by(5)
        .map(|i| (key(i), format!("ingested-{i}").into_bytes()))
        .collect();
    db.ingest(ingested.clone()).await.expect("ingest");
    model.extend(ingested);
    db.delete_range(key(100), key(400))
        .await
        .expect("delete_range");
    delete_range(&mut model, &key(100), &key(400));
    check(&db, &model, "ingested + memtable").await;

    // Round 0 compacts into a run, round 1 flushes into L0 (a snapshot
    // after it), round 2 stays in the memtable.
    write_round(&db, &mut model, &mut rng, 0, 1500).await;
    db.compact().await.expect("compact");
    check(&db, &model, "after a compaction").await;
    write_round(&db, &mut model, &mut rng, 1, 1500).await;
    db.flush().await.expect("flush");
    let snap = db.snapshot();
    let at_snap = model.clone();
    // A wide range delete over every layer, then keys written into it again.
    db.delete_range(key(1500), key(2500))
        .await
        .expect("delete_range");
    delete_range(&mut model, &key(1500), &key(2500));
    for i in (1500..2500).step_by(13) {
        db.put(key(i), "again").await.expect("put");
        model.insert(key(i), b"again".to_vec());
    }
    write_round(&db, &mut model, &mut rng, 2, 800).await;
    check(&db, &model, "every layer").await;
    check_snapshot(&snap, &at_snap, "snapshot before the wide delete").await;

    // A follower applies the same WAL ops.
    let last = db
        .write({
            let mut b = WriteBatch::new();
            b.put("z-marker", "1");
            b
        })
        .await
        .expect("write");
    model.insert(b"z-marker".to_vec(), b"1".to_vec());
    db.wait_durable(last).await.expect("shipped");
    let mut follower_opts = env.options_with_local("follower");
    follower_opts.follow = true;
    follower_opts.follow_interval = Duration::from_millis(100);
    let follower = Db::open(follower_opts).await.expect("follower");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while follower.get("z-marker").await.expect("get").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the follower caught up"
        );
        firn_store::clock::sleep(Duration::from_millis(50)).await;
    }
    check(&follower, &model, "follower").await;
    follower.close().await.expect("close follower");

    // Flushed, the memtable's range deletes are in an L0 chunk.
    db.flush().await.expect("flush");
    check(&db, &model, "after a flush").await;
    check_snapshot(&snap, &at_snap, "snapshot after a flush").await;
    drop(snap);
    db.close().await.expect("close");

    let db = env.open(env.options()).await;
    check(&db, &model, "after a reopen").await;
    db.compact().await.expect("compact");
    check(&db, &model, "after a full compaction").await;
    db.close().await.expect("close");
}

async fn deleting_a_million_keys(kind: StoreKind) {
    const N: u32 = 1_000_000;
    let env = TestDb::new(kind, "range-delete-1m");
    let db = env.open(env.options()).await;
    let mut ingest = db.bulk_ingest().expect("ingest");
    for i in 0..N {
        ingest
            .put(format!("key{i:07}"), format!("value{i}"))
            .await
            .expect("put");
    }
    ingest.finish().await.expect("ingest");
    db.put("key0999999", "overwritten").await.expect("put");
    db.put("kez", "outside").await.expect("put");
    let before = db
        .write({
            let mut b = WriteBatch::new();
            b.put("a", "before");
            b
        })
        .await
        .expect("write");
    // One op, one seq: the whole range.
    let mut batch = WriteBatch::new();
    batch.delete_range("key", "kez");
    let seq = db.write(batch).await.expect("delete_range");
    assert_eq!(seq, before + 1, "a range delete takes one seq");
    assert_eq!(db.get("key0000000").await.expect("get"), None);
    assert_eq!(db.get("key0999999").await.expect("get"), None);
    let rows = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    let keys: Vec<&[u8]> = rows.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"a"[..], b"kez"], "only keys outside the range");
    // Delete the rest too: a full compaction then leaves nothing at all.
    db.delete_range("a", "l").await.expect("delete_range");
    assert!(collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan")
        .is_empty());
    db.flush().await.expect("flush");
    let m = db.manifest();
    assert!(
        m.l0.iter()
            .chain(m.runs.iter().flat_map(|r| r.chunks.iter()))
            .count()
            > 0,
        "the data and the range deletes are in chunks before compacting"
    );
    db.compact().await.expect("compact");
    let m = db.manifest();
    let chunks: Vec<_> =
        m.l0.iter()
            .chain(m.runs.iter().flat_map(|r| r.chunks.iter()))
            .collect();
    assert!(
        chunks.is_empty(),
        "no data and no range tombstone left: {chunks:?}"
    );
    assert!(collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan")
        .is_empty());
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_million_keys_is_one_write_and_compaction_leaves_nothing_memory() {
    deleting_a_million_keys(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_million_keys_is_one_write_and_compaction_leaves_nothing_file() {
    deleting_a_million_keys(StoreKind::File).await;
}

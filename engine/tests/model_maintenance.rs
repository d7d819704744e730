//! Model-based test with maintenance: random puts, deletes, batches, reads,
//! scans and snapshot reads against a `BTreeMap` oracle, interleaved with
//! flushes, background compactions (tiny memtables, low level-0 trigger),
//! manual full compactions, GC passes with no grace, clean reopens and
//! crashes (drop without close). Seeded; the seed is printed on failure.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use firn::{Db, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn opts(url: &str, local: &std::path::Path) -> Options {
    let mut o = Options::new(url, local).memtable_size(8 << 10);
    o.block_size = 512;
    o.compaction.l0_trigger = 2;
    o.compaction.target_chunk_size = 16 << 10;
    o.retry_delay = Duration::from_millis(1);
    // Small cache tiers: compaction and GC replace chunks under blocks
    // cached in memory and on disk, and evictions happen constantly.
    o.block_cache_bytes = 16 << 10;
    o.disk_cache_bytes = 32 << 10;
    o.scan_readahead = 2 << 10;
    o.cache_flushed_blocks = true;
    o
}

fn key(rng: &mut StdRng) -> Vec<u8> {
    format!("k{:04}", rng.random_range(0..400u32)).into_bytes()
}

fn value(rng: &mut StdRng, step: usize) -> Vec<u8> {
    let len = rng.random_range(0..120);
    let mut v = format!("{step}:").into_bytes();
    v.resize(len.max(v.len()), b'a' + (step % 26) as u8);
    v
}

async fn check_scan(db: &Db, model: &Model, from: &[u8], to: &[u8], ctx: &str) {
    let got = db
        .scan(from.to_vec()..to.to_vec())
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    let want: Vec<(Bytes, Bytes)> = model
        .range(from.to_vec()..to.to_vec())
        .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
        .collect();
    assert_eq!(got, want, "{ctx}: scan {from:?}..{to:?}");
}

async fn run(seed: u64, steps: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let url = format!("memory://model-maintenance-{seed}-{}", std::process::id());
    let local = tempfile::tempdir().unwrap();
    let mut db = Db::open(opts(&url, local.path())).await.unwrap();
    let mut model = Model::new();
    let mut snapshots: Vec<(firn::Snapshot, Model)> = Vec::new();
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        match rng.random_range(0..100) {
            0..=39 => {
                let (k, v) = (key(&mut rng), value(&mut rng, step));
                db.put(k.clone(), v.clone()).await.unwrap();
                model.insert(k, v);
            }
            40..=49 => {
                let k = key(&mut rng);
                db.delete(k.clone()).await.unwrap();
                model.remove(&k);
            }
            50..=57 => {
                let mut batch = WriteBatch::new();
                for _ in 0..rng.random_range(1..20) {
                    let k = key(&mut rng);
                    if rng.random_bool(0.3) {
                        batch.delete(k.clone());
                        model.remove(&k);
                    } else {
                        let v = value(&mut rng, step);
                        batch.put(k.clone(), v.clone());
                        model.insert(k, v);
                    }
                }
                db.write(batch).await.unwrap();
            }
            58..=69 => {
                let k = key(&mut rng);
                let got = db.get(&k).await.unwrap();
                assert_eq!(
                    got.as_deref(),
                    model.get(&k).map(|v| v.as_slice()),
                    "{ctx}: get {k:?}"
                );
            }
            70..=74 => {
                let (a, b) = (key(&mut rng), key(&mut rng));
                let (from, to) = if a <= b { (a, b) } else { (b, a) };
                check_scan(&db, &model, &from, &to, &ctx).await;
            }
            75..=78 => {
                if snapshots.len() < 3 {
                    snapshots.push((db.snapshot(), model.clone()));
                } else {
                    let (snap, seen) = snapshots.remove(rng.random_range(0..snapshots.len()));
                    let got = snap
                        .scan::<&[u8], _>(..)
                        .unwrap()
                        .collect_all()
                        .await
                        .unwrap();
                    assert_eq!(got.len(), seen.len(), "{ctx}: snapshot scan size");
                    for (k, v) in got {
                        assert_eq!(
                            seen.get(k.as_ref()).map(|v| v.as_slice()),
                            Some(v.as_ref()),
                            "{ctx}: snapshot {k:?}"
                        );
                    }
                }
            }
            79..=84 => {
                db.flush().await.unwrap();
            }
            85..=88 => {
                db.compact().await.unwrap();
            }
            89..=92 => {
                db.gc(Duration::ZERO).await.unwrap();
            }
            93..=96 => {
                snapshots.clear();
                db.close().await.unwrap();
                db = Db::open(opts(&url, local.path())).await.unwrap();
            }
            _ => {
                snapshots.clear();
                drop(db); // a crash: recovery replays the WAL
                db = Db::open(opts(&url, local.path())).await.unwrap();
            }
        }
    }
    check_scan(&db, &model, b"", b"\xff", &format!("seed {seed} final")).await;
    let m = db.metrics();
    db.close().await.unwrap();
    let db = Db::open(opts(&url, local.path())).await.unwrap();
    check_scan(
        &db,
        &model,
        b"",
        b"\xff",
        &format!("seed {seed} after reopen"),
    )
    .await;
    db.close().await.unwrap();
    eprintln!(
        "seed {seed}: {} keys, {} compactions in the last session",
        model.len(),
        m.compactions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_with_compaction_gc_and_reopens() {
    let seeds: Vec<u64> = match std::env::var("FIRN_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("FIRN_MODEL_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    };
    for seed in seeds {
        run(seed, 1500).await;
    }
}

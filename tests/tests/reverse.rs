//! Reverse scans and seeks, checked against a `BTreeMap` on data spread
//! over every layer at once: the memtable, L0 chunks, a sorted run and a
//! bulk-ingested chunk (whose entries take their seq from the manifest),
//! with overwritten versions, tombstones and a snapshot in between.
//!
//! * A reverse scan of any range (bounds included, excluded, open; prefix
//!   scans) returns exactly the forward scan's rows in reverse order, at
//!   the current seq and in a snapshot, before and after a reopen.
//! * `seek` positions a scan in either direction, below, inside and above
//!   its range, on present and missing keys, and again mid-scan.
//! * The blocking API's iterator goes backwards and seeks too.
//!
//! Every case runs on `memory://`, `file://` and the S3 server.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use firn::{Db, WriteBatch};
use firn_tests::{collect, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

firn_tests::on_every_store!(
    reverse_scans_mirror_forward_scans_across_every_layer,
    seek_positions_a_scan_in_either_direction,
);

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

/// Writes over every layer: returns the expected contents now and at the
/// snapshot taken midway, with the snapshot.
async fn spread(db: &Db, rng: &mut StdRng) -> (Model, Model, firn::Snapshot) {
    let mut model = Model::new();
    // A bulk-ingested chunk first (every 7th key): its entries are at one seq.
    let ingested: Vec<(Vec<u8>, Vec<u8>)> = (0..3000)
        .step_by(7)
        .map(|i| (key(i), format!("ingested-{i}").into_bytes()))
        .collect();
    db.ingest(ingested.clone()).await.expect("ingest");
    model.extend(ingested);
    // Random writes, flushed and compacted into a run, then more flushed
    // into L0, then more left in the memtable; a snapshot between.
    let mut snapshot = None;
    for round in 0..4 {
        for _ in 0..1500 {
            let mut batch = WriteBatch::new();
            for _ in 0..rng.random_range(1..4) {
                let k = key(rng.random_range(0..3000));
                if rng.random_bool(0.25) {
                    batch.delete(k.clone());
                    model.remove(&k);
                } else {
                    let v = format!("v{round}-{}", rng.random::<u32>()).into_bytes();
                    batch.put(k.clone(), v.clone());
                    model.insert(k, v);
                }
            }
            db.write(batch).await.expect("write");
        }
        match round {
            0 => db.compact().await.expect("compact"),
            1 => {
                db.flush().await.expect("flush");
                snapshot = Some((db.snapshot(), model.clone()));
            }
            2 => {
                db.flush().await.expect("flush");
            }
            _ => {}
        }
    }
    let (snap, then) = snapshot.expect("snapshot taken");
    (model, then, snap)
}

fn bound(rng: &mut StdRng) -> Bound<Vec<u8>> {
    match rng.random_range(0..3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng.random_range(0..3100))),
        _ => Bound::Excluded(key(rng.random_range(0..3100))),
    }
}

fn expected(model: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let inverted = match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a > b || (a == b && !matches!((lo, hi), (Bound::Included(_), Bound::Included(_))))
        }
        _ => false,
    };
    if inverted {
        return Vec::new();
    }
    model
        .range::<Vec<u8>, _>((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn reversed(mut rows: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    rows.reverse();
    rows
}

async fn check_ranges(db: &Db, snap: &firn::Snapshot, now: &Model, then: &Model, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    // The whole range, every way.
    let all = collect(db.scan::<&[u8], _>(..).expect("scan").rev())
        .await
        .expect("reverse scan");
    assert_eq!(
        all,
        reversed(expected(now, &Bound::Unbounded, &Bound::Unbounded))
    );
    let all_then = collect(snap.scan::<&[u8], _>(..).expect("scan").rev())
        .await
        .expect("reverse snapshot scan");
    assert_eq!(
        all_then,
        reversed(expected(then, &Bound::Unbounded, &Bound::Unbounded))
    );
    for _ in 0..40 {
        let (lo, hi) = (bound(&mut rng), bound(&mut rng));
        let want = reversed(expected(now, &lo, &hi));
        let got = collect(
            db.scan::<Vec<u8>, _>((lo.clone(), hi.clone()))
                .expect("scan")
                .rev(),
        )
        .await
        .expect("reverse scan");
        assert_eq!(got, want, "reverse scan of {lo:?} .. {hi:?}");
        let forward = collect(
            db.scan::<Vec<u8>, _>((lo.clone(), hi.clone()))
                .expect("scan"),
        )
        .await
        .expect("scan");
        assert_eq!(reversed(forward), want, "forward scan of {lo:?} .. {hi:?}");
        let got = collect(
            snap.scan::<Vec<u8>, _>((lo.clone(), hi.clone()))
                .expect("scan")
                .rev(),
        )
        .await
        .expect("reverse snapshot scan");
        assert_eq!(
            got,
            reversed(expected(then, &lo, &hi)),
            "snapshot {lo:?} .. {hi:?}"
        );
    }
    for prefix in [&b"k001"[..], b"k02", b"k0299", b"x"] {
        let want: Vec<_> = now
            .iter()
            .rev()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let got = collect(db.scan_prefix(prefix).expect("scan").rev())
            .await
            .expect("reverse prefix scan");
        assert_eq!(got, want, "prefix {prefix:?}");
    }
}

async fn reverse_scans_mirror_forward_scans_across_every_layer(kind: StoreKind) {
    let env = TestDb::new(kind, "reverse");
    let db = env.open(env.small_options()).await;
    let mut rng = StdRng::seed_from_u64(41);
    let (now, then, snap) = spread(&db, &mut rng).await;
    assert!(
        db.manifest().all_chunks().count() >= 3,
        "the data should span several chunks"
    );
    check_ranges(&db, &snap, &now, &then, 1).await;
    drop(snap);
    db.close().await.expect("close");

    // After a reopen (the memtable replayed from the WAL).
    let db = env.open(env.small_options()).await;
    let snap = db.snapshot();
    check_ranges(&db, &snap, &now, &now, 2).await;
    drop(snap);
    db.close().await.expect("close");
}

async fn seek_positions_a_scan_in_either_direction(kind: StoreKind) {
    let env = TestDb::new(kind, "seek");
    let db = env.open(env.small_options()).await;
    let mut rng = StdRng::seed_from_u64(43);
    let (now, _, snap) = spread(&db, &mut rng).await;
    drop(snap);
    let keys: Vec<&Vec<u8>> = now.keys().collect();
    let (lo, hi) = (key(500), key(2500));
    let in_range: Vec<(Vec<u8>, Vec<u8>)> = now
        .range(lo.clone()..hi.clone())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let first_at_or_after = |k: &[u8]| in_range.iter().find(|(x, _)| x.as_slice() >= k).cloned();
    let last_at_or_before = |k: &[u8]| {
        in_range
            .iter()
            .rev()
            .find(|(x, _)| x.as_slice() <= k)
            .cloned()
    };
    let as_vec = |kv: Option<(Bytes, Bytes)>| kv.map(|(k, v)| (k.to_vec(), v.to_vec()));

    // Below, inside (present and missing keys) and above the range.
    let mut targets = vec![key(0), key(499), key(500), key(2499), key(2500), key(9999)];
    for _ in 0..30 {
        targets.push(keys[rng.random_range(0..keys.len())].clone());
        targets.push(key(rng.random_range(0..3000)));
    }
    let mut forward = db.scan(lo.as_slice()..hi.as_slice()).expect("scan");
    let mut backward = db.scan(lo.as_slice()..hi.as_slice()).expect("scan").rev();
    assert!(backward.is_reverse() && !forward.is_reverse());
    for t in &targets {
        forward.seek(t);
        let got = as_vec(forward.next().await.expect("next"));
        assert_eq!(got, first_at_or_after(t), "forward seek to {t:?}");
        backward.seek(t);
        let got = as_vec(backward.next().await.expect("next"));
        assert_eq!(got, last_at_or_before(t), "backward seek to {t:?}");
        // A few more rows after the seek follow on in order.
        if let Some((k, _)) = got {
            let at = in_range
                .iter()
                .position(|(x, _)| *x == k)
                .expect("in range");
            for j in (0..at).rev().take(5) {
                let row = as_vec(backward.next().await.expect("next"));
                assert_eq!(
                    row.as_ref(),
                    in_range.get(j),
                    "row after backward seek to {t:?}"
                );
            }
        }
    }
    // `rev` twice is forward again, from the start of the range.
    let again = collect(
        db.scan(lo.as_slice()..hi.as_slice())
            .expect("scan")
            .rev()
            .rev(),
    )
    .await
    .expect("scan");
    assert_eq!(again, in_range);
    db.close().await.expect("close");

    // The blocking API (on a thread of its own: it runs its own runtime).
    let opts = env.small_options();
    let blocking = std::thread::spawn(move || {
        let db = firn::blocking::Db::open(opts).expect("open");
        let rows: Vec<_> = db
            .scan(lo.as_slice()..hi.as_slice())
            .expect("scan")
            .rev()
            .map(|r| r.expect("row"))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let mut it = db.scan::<&[u8], _>(..).expect("scan");
        it.seek(key(2500));
        let first = it.next().map(|r| r.expect("row").0.to_vec());
        db.close().expect("close");
        (rows, first)
    })
    .join()
    .expect("blocking thread");
    assert_eq!(blocking.0, reversed(in_range));
    assert_eq!(
        blocking.1,
        now.range(key(2500)..).next().map(|(k, _)| k.clone())
    );
}

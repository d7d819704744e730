//! Reads at an older sequence number: `Db::get_at` and `Db::snapshot_at`.
//!
//! * With `Options::read_history`, every seq since the open reads exactly
//!   what was committed through it — puts, overwrites, deletes and range
//!   deletes — after flushes and full (bottommost) compactions that would
//!   otherwise drop those versions.
//! * Without it, a seq older than the last flush or compaction is refused
//!   with `Error::SeqOutOfRange` naming the oldest readable seq, while a
//!   pinned snapshot keeps its own seq readable; seqs beyond the last write
//!   are refused too.
//! * A reopen starts the history at the open; a follower reads exactly
//!   from its manifest's watermark on.
//!
//! Runs on `memory://`, `file://` and the S3 server.

use std::collections::BTreeMap;
use std::time::Duration;

use firn::{Db, Error, WriteBatch};
use firn_tests::{collect, StoreKind, TestDb};

firn_tests::on_every_store!(
    read_history_keeps_every_seq_since_the_open_readable,
    without_history_old_seqs_are_refused_clearly,
);

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(i: u32) -> Vec<u8> {
    format!("k{i:03}").into_bytes()
}

/// Writes 12 rounds over 50 keys (overwrites, deletes, a range delete per
/// round), flushing and compacting in between; returns the model after
/// each write, by seq.
async fn history(db: &Db) -> Vec<(u64, Model)> {
    let mut model = Model::new();
    let mut states = Vec::new();
    for round in 0..12u32 {
        for i in 0..50u32 {
            let mut b = WriteBatch::new();
            if (i + round) % 7 == 0 {
                b.delete(key(i));
                model.remove(&key(i));
            } else {
                let v = format!("r{round}-{i}").into_bytes();
                b.put(key(i), v.clone());
                model.insert(key(i), v);
            }
            if i == 25 {
                let (lo, hi) = (key(round * 3), key(round * 3 + 5));
                b.delete_range(lo.clone(), hi.clone());
                model.retain(|k, _| !(k >= &lo && k < &hi));
            }
            let seq = db.write(b).await.expect("write");
            states.push((seq, model.clone()));
        }
        match round % 3 {
            0 => db.flush().await.map(|_| ()).expect("flush"),
            1 => db.compact().await.expect("compact"),
            _ => {}
        }
    }
    states
}

async fn check_at(db: &Db, seq: u64, model: &Model) {
    let snap = db.snapshot_at(seq).expect("readable");
    assert_eq!(snap.seq(), seq);
    let rows = collect(snap.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(rows == want, "scan at seq {seq}");
    for i in (0..50).step_by(9) {
        assert_eq!(
            db.get_at(key(i), seq)
                .await
                .expect("get_at")
                .map(|v| v.to_vec()),
            model.get(&key(i)).cloned(),
            "k{i:03} at seq {seq}"
        );
    }
}

async fn read_history_keeps_every_seq_since_the_open_readable(kind: StoreKind) {
    let env = TestDb::new(kind, "read-history");
    let mut opts = env.options();
    opts.read_history = Duration::from_secs(3600);
    let db = env.open(opts.clone()).await;
    let opened_at = db.oldest_readable_seq();
    let states = history(&db).await;
    db.compact().await.expect("compact");
    assert_eq!(db.oldest_readable_seq(), opened_at, "an hour of history");
    for (seq, model) in states.iter().step_by(13).chain(states.last()) {
        check_at(&db, *seq, model).await;
    }
    let newest = states.last().expect("writes").0;
    match db.get_at(key(1), newest + 1).await {
        Err(Error::SeqOutOfRange { seq, newest: n, .. }) => {
            assert_eq!((seq, n), (newest + 1, newest))
        }
        other => panic!("a seq past the last write: {other:?}"),
    }

    // A follower reads exactly from its manifest's watermark on.
    db.flush().await.expect("flush");
    let mut fopts = env.options_with_local("follower");
    fopts.follow = true;
    fopts.follow_interval = Duration::from_millis(100);
    let follower = Db::open(fopts).await.expect("follower");
    let oldest = follower.oldest_readable_seq();
    assert!(oldest <= newest, "{oldest} {newest}");
    let model_at = |seq: u64| {
        states
            .iter()
            .rev()
            .find(|(s, _)| *s <= seq)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    };
    check_at(&follower, newest, &model_at(newest)).await;
    if oldest > 1 {
        assert!(matches!(
            follower.snapshot_at(oldest - 1),
            Err(Error::SeqOutOfRange { .. })
        ));
    }
    follower.close().await.expect("close");
    db.close().await.expect("close");

    // After a reopen the history starts at the open.
    let db = env.open(opts).await;
    assert_eq!(db.oldest_readable_seq(), newest);
    check_at(&db, newest, &model_at(newest)).await;
    assert!(matches!(
        db.get_at(key(1), newest - 1).await,
        Err(Error::SeqOutOfRange { oldest, .. }) if oldest == newest
    ));
    db.close().await.expect("close");
}

async fn without_history_old_seqs_are_refused_clearly(kind: StoreKind) {
    let env = TestDb::new(kind, "no-history");
    let db = env.open(env.options()).await;
    db.put("a", "1").await.expect("put");
    let pinned = db.snapshot();
    let old = pinned.seq();
    db.put("a", "2").await.expect("put");
    let between = db.put_seq_for_test().await;
    db.put("a", "3").await.expect("put");
    // Before any flush everything since the open is still exact.
    assert_eq!(
        db.get_at("a", between).await.expect("get_at").as_deref(),
        Some(&b"2"[..])
    );
    db.flush().await.expect("flush");
    db.compact().await.expect("compact");
    let oldest = db.oldest_readable_seq();
    assert!(oldest > between, "the flush raised the floor");
    match db.get_at("a", between).await {
        Err(e @ Error::SeqOutOfRange { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("from seq {oldest}")), "{text}");
            assert!(text.contains("read_history"), "{text}");
        }
        other => panic!("an old seq: {other:?}"),
    }
    // A snapshot taken then still reads its seq, and may be re-pinned.
    assert_eq!(
        pinned.get("a").await.expect("get").as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        db.get_at("a", old).await.expect("pinned seq").as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        db.get_at("a", oldest).await.expect("get_at").as_deref(),
        Some(&b"3"[..])
    );
    drop(pinned);
    db.close().await.expect("close");
}

/// The seq of a fresh write (a put of an unrelated key).
trait PutSeq {
    async fn put_seq_for_test(&self) -> u64;
}

impl PutSeq for Db {
    async fn put_seq_for_test(&self) -> u64 {
        let mut b = WriteBatch::new();
        b.put("zz-marker", "x");
        self.write(b).await.expect("write")
    }
}

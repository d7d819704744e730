//! Point-in-time restore (`firn restore`, `firn::restore_database`):
//!
//! * a workload with an oracle records the database's state at several
//!   points (the last seq of a round, and the time after it), with flushes,
//!   compactions and zero-grace collections between rounds; with a
//!   retention window set, restoring to each point — by seq and by time —
//!   gives exactly that state (scan compared entry by entry), including
//!   points between flushes (writes only in the shipped WAL) and points
//!   before compactions rewrote everything; on `file://` and on S3;
//! * a restored database is an ordinary one: a writer takes it on;
//! * without a retention window, a point whose history was collected is
//!   refused with an error saying so, and so is a point past the newest
//!   write; nothing is written then.

use std::collections::BTreeMap;
use std::time::Duration;

use firn::{restore_database, Db, Durability, RestorePoint, WriteBatch, WriteOptions};
use firn_tests::{collect, s3_enabled, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

async fn everything(db: &Db) -> State {
    collect(db.scan::<&[u8], _>(..).unwrap())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// One recorded point: the last seq of a round, a time at or after its
/// commit and before the next round's, and the state then.
struct Point {
    seq: u64,
    time_ms: u64,
    state: State,
    what: String,
}

fn remote() -> WriteOptions {
    WriteOptions {
        durability: Some(Durability::Remote),
    }
}

/// Writes `rounds` rounds of random batches, with a flush, a compaction or
/// nothing after each, and a zero-grace collection; records a point after
/// every round.
async fn workload(db: &Db, rounds: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = State::new();
    let mut points = Vec::new();
    for round in 0..rounds {
        let mut last = 0;
        for _ in 0..rng.random_range(2..6) {
            let mut batch = WriteBatch::new();
            for _ in 0..rng.random_range(1..12) {
                let key = format!("k{:03}", rng.random_range(0..120)).into_bytes();
                if rng.random_bool(0.2) {
                    batch.delete(key.clone());
                    state.remove(&key);
                } else {
                    let value = format!("r{round}-{}", rng.random::<u32>()).into_bytes();
                    batch.put(key.clone(), value.clone());
                    state.insert(key, value);
                }
            }
            last = db.write_with(batch, remote()).await.unwrap();
        }
        let time_ms = firn_store::clock::now_ms();
        // The next round's commits get a later time.
        firn_store::clock::sleep(Duration::from_millis(3)).await;
        let what = match round % 3 {
            0 => {
                db.flush().await.unwrap();
                "flushed after"
            }
            1 => "in the shipped WAL only",
            _ => {
                db.compact().await.unwrap();
                "compacted after"
            }
        };
        db.gc(Duration::ZERO).await.unwrap();
        points.push(Point {
            seq: last,
            time_ms,
            state: state.clone(),
            what: format!("round {round} ({what})"),
        });
    }
    points
}

async fn restore_and_read(src: &TestDb, kind: StoreKind, point: RestorePoint, tag: &str) -> State {
    let dest = TestDb::new(kind, tag);
    let report = restore_database(&src.objects(), &dest.objects(), point)
        .await
        .unwrap_or_else(|e| panic!("restore to {point:?}: {e}"));
    if let RestorePoint::Seq(n) = point {
        assert_eq!(report.seq, n, "{report:?}");
    }
    assert!(
        dest.list_objects("chunks/").await.is_empty(),
        "a restore copied chunks"
    );
    let mut opts = dest.options_with_local("reader");
    opts.read_only = true;
    let db = Db::open(opts).await.unwrap();
    let state = everything(&db).await;
    db.close().await.unwrap();
    state
}

async fn every_point_restores_exactly(kind: StoreKind) {
    let src = TestDb::new(kind, "restore-src");
    let mut opts = src.small_options();
    opts.gc_grace = Duration::ZERO;
    let db = Db::open(opts).await.unwrap();
    db.set_history_retention(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(db.history_retention(), Duration::from_secs(3600));
    // Eight rounds: the last one leaves its writes in the shipped WAL only,
    // so the last point is the newest write the bucket holds.
    let points = workload(&db, 8, 0x5EED_0001).await;
    // The history outlives the collections: zero grace, compactions that
    // rewrote every chunk, and yet each point comes back.
    for (i, p) in points.iter().enumerate() {
        let by_seq = restore_and_read(&src, kind, RestorePoint::Seq(p.seq), "restore-seq").await;
        assert_eq!(by_seq, p.state, "{} restored to seq {}", p.what, p.seq);
        let by_time =
            restore_and_read(&src, kind, RestorePoint::TimeMs(p.time_ms), "restore-time").await;
        assert_eq!(
            by_time, p.state,
            "{} restored to time {}",
            p.what, p.time_ms
        );
        if i == 1 {
            // A restored database is an ordinary one.
            let dest = TestDb::new(kind, "restore-writer");
            restore_database(&src.objects(), &dest.objects(), RestorePoint::Seq(p.seq))
                .await
                .unwrap();
            let writer = Db::open(dest.small_options()).await.unwrap();
            writer.put("after-restore", "yes").await.unwrap();
            writer.flush().await.unwrap();
            let mut want = p.state.clone();
            want.insert(b"after-restore".to_vec(), b"yes".to_vec());
            assert_eq!(everything(&writer).await, want);
            writer.close().await.unwrap();
        }
    }
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_point_restores_exactly_on_file() {
    every_point_restores_exactly(StoreKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_point_restores_exactly_on_s3() {
    if s3_enabled("every_point_restores_exactly_on_s3") {
        every_point_restores_exactly(StoreKind::S3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_outside_the_history_are_refused() {
    let src = TestDb::new(StoreKind::Memory, "restore-window");
    let db = Db::open(src.small_options()).await.unwrap();
    let points = workload(&db, 4, 0x5EED_0002).await;
    // No retention window: the zero-grace collections took the history.
    let dest = TestDb::new(StoreKind::Memory, "restore-refused");
    let err = restore_database(
        &src.objects(),
        &dest.objects(),
        RestorePoint::Seq(points[0].seq),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("retention"),
        "the error does not point at the retention window: {msg}"
    );
    let newest = points.last().unwrap().seq;
    let err = restore_database(
        &src.objects(),
        &dest.objects(),
        RestorePoint::Seq(newest + 10),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("past the newest write"), "{err}");
    assert!(
        dest.list_objects("").await.is_empty(),
        "a refused restore wrote"
    );
    // A window without WAL shipping could not be honoured: refused.
    let unshipped = TestDb::new(StoreKind::Memory, "restore-no-shipping");
    let mut opts = unshipped.small_options();
    opts.wal_shipping = false;
    let no_ship = Db::open(opts).await.unwrap();
    let err = no_ship
        .set_history_retention(Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("WAL shipping"), "{err}");
    assert_eq!(no_ship.history_retention(), Duration::ZERO);
    no_ship.close().await.unwrap();
    // The newest point is always there.
    let state = restore_and_read(
        &src,
        StoreKind::Memory,
        RestorePoint::Seq(newest),
        "restore-newest",
    )
    .await;
    assert_eq!(state, points.last().unwrap().state);
    db.close().await.unwrap();
}

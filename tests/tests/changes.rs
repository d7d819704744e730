//! The change feed (`Db::subscribe`): every committed batch, in seq order,
//! exactly once.
//!
//! * Writers on several tasks, across memtable rotations, flushes, a
//!   compaction and a bulk ingest: the subscriber's batches are contiguous
//!   in seq, are exactly the batches acknowledged (each at the seq its
//!   write returned), and replaying them rebuilds the database.
//! * A subscriber that saved its position resumes after the writer
//!   restarted (from the shipped WAL, kept by a history retention window)
//!   and again
//!   sees every later batch exactly once.
//! * A slow subscriber falls out of a tiny change buffer and catches up
//!   from the shipped WAL, missing nothing; without WAL shipping it gets a
//!   `Lagged` error instead, never a gap.
//! * A follower's subscriber sees the batches the follower applies.
//! * Closing the database ends a waiting subscriber with `Closed`.
//!
//! Every case runs on `memory://`, `file://` and the S3 server.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use firn::{BatchOp, Change, Db, Error, Options, Subscription, WriteBatch};
use firn_tests::{StoreKind, TestDb};

firn_tests::on_every_store!(
    a_subscriber_sees_every_batch_exactly_once_in_order,
    a_subscriber_resumes_from_a_saved_seq_after_a_restart,
    a_slow_subscriber_catches_up_from_the_shipped_wal,
    without_shipping_a_lagging_subscriber_gets_a_lag_error,
    a_followers_subscriber_sees_what_it_applies,
);

const WAIT: Duration = Duration::from_secs(60);

fn feed_options(mut opts: Options) -> Options {
    opts.memtable_size = 32 << 10;
    opts.block_size = 1024;
    opts.wal_ship_interval = Duration::from_millis(50);
    opts
}

/// Opens a writer with a history retention window: every write reaches the
/// shipped WAL before its flush and stays there, so the feed can read back
/// past its buffer.
async fn open_feed(env: &TestDb, opts: Options) -> Db {
    let db = env.open(opts).await;
    db.set_history_retention(Duration::from_secs(3600))
        .await
        .expect("retention window");
    db
}

fn batch(writer: usize, n: usize) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(
        format!("w{writer}-{:04}", n % 300),
        format!("value {writer}/{n} {}", "x".repeat(n % 50)),
    );
    if n.is_multiple_of(3) {
        b.delete(format!("w{writer}-{:04}", (n + 7) % 300));
    }
    if n.is_multiple_of(5) {
        b.put(format!("shared-{}", n % 17), format!("{writer}/{n}"));
    }
    if n % 23 == 11 {
        // A range delete travels as one op, like any other.
        b.delete_range(
            format!("w{writer}-{:04}", (n + 40) % 300),
            format!("w{writer}-{:04}", (n + 40) % 300 + 9),
        );
    }
    b
}

/// The next change, within [`WAIT`].
async fn next(sub: &mut Subscription) -> Change {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("the subscriber got no batch within a minute")
        .expect("next change")
}

/// Reads changes until write `through` was returned; checks they are
/// contiguous from `from`.
async fn read_through(sub: &mut Subscription, from: u64, through: u64) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut expect = from;
    while sub.position() < through {
        let c = next(sub).await;
        assert_eq!(
            c.first_seq, expect,
            "batches must be contiguous: expected one starting at {expect}, got {}..={}",
            c.first_seq, c.last_seq
        );
        assert_eq!(c.last_seq, c.first_seq + c.batch.len() as u64 - 1);
        assert!(c.time_ms.is_some(), "a commit time");
        expect = c.last_seq + 1;
        out.push(c);
    }
    assert_eq!(sub.position(), through);
    out
}

fn replay(changes: &[Change], into: &mut BTreeMap<Bytes, Bytes>) {
    for c in changes {
        for op in c.batch.ops() {
            match op {
                BatchOp::Put { key, value } | BatchOp::PutExpiring { key, value, .. } => {
                    into.insert(key.clone(), value.clone());
                }
                BatchOp::Delete { key } => {
                    into.remove(key);
                }
                BatchOp::DeleteRange { start, end } => {
                    into.retain(|k, _| !(k >= start && k < end));
                }
            }
        }
    }
}

async fn contents(db: &Db) -> BTreeMap<Bytes, Bytes> {
    db.scan::<&[u8], _>(..)
        .expect("scan")
        .collect_all()
        .await
        .expect("scan")
        .into_iter()
        .collect()
}

/// Writes `per_writer` batches from each of `writers` tasks; returns each
/// acknowledged batch by its last seq.
async fn write_concurrently(
    db: &Db,
    writers: usize,
    per_writer: usize,
    offset: usize,
) -> BTreeMap<u64, WriteBatch> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in offset..offset + per_writer {
                let b = batch(w, n);
                let last = db.write(b.clone()).await.expect("write");
                acked.push((last, b));
            }
            acked
        }));
    }
    let mut all = BTreeMap::new();
    for t in tasks {
        all.extend(t.await.expect("writer task"));
    }
    all
}

fn check_acked(changes: &[Change], acked: &BTreeMap<u64, WriteBatch>) {
    let by_last: BTreeMap<u64, &WriteBatch> = changes
        .iter()
        .filter(|c| !c.is_ingest())
        .map(|c| (c.last_seq, &c.batch))
        .collect();
    for (last, b) in acked {
        assert_eq!(
            by_last.get(last),
            Some(&b),
            "the batch acknowledged at {last}"
        );
    }
}

async fn a_subscriber_sees_every_batch_exactly_once_in_order(kind: StoreKind) {
    let env = TestDb::new(kind, "changes");
    let db = open_feed(&env, feed_options(env.options())).await;
    db.put("before", "the subscription").await.expect("put");
    let mut sub = db.subscribe(1);

    let mut acked = write_concurrently(&db, 4, 150, 0).await;
    db.flush().await.expect("flush");
    let report = db
        .ingest((0..500u32).map(|i| (format!("ingested-{i:04}"), format!("i{i}"))))
        .await
        .expect("ingest");
    acked.extend(write_concurrently(&db, 3, 100, 150).await);
    db.compact().await.expect("compact");
    let last = db.durability_status().visible_seq;
    assert!(
        db.metrics().flushes >= 3,
        "the writes should span several memtables"
    );

    let changes = read_through(&mut sub, 1, last).await;
    check_acked(&changes, &acked);
    let ingests: Vec<&Change> = changes.iter().filter(|c| c.is_ingest()).collect();
    assert_eq!(ingests.len(), 1, "one ingest");
    assert_eq!(ingests[0].first_seq, report.seq);
    let mut rebuilt = BTreeMap::new();
    replay(&changes, &mut rebuilt);
    let mut now = contents(&db).await;
    now.retain(|k, _| !k.starts_with(b"ingested-"));
    assert_eq!(rebuilt, now, "replaying the feed rebuilds the database");

    // A second subscriber from the middle gets the same batches from there.
    let mid = changes[changes.len() / 2].first_seq;
    let mut late = db.subscribe(mid);
    let again = read_through(&mut late, mid, last).await;
    assert_eq!(again.as_slice(), &changes[changes.len() / 2..]);

    // Closing ends a waiting subscriber.
    let waiting = tokio::spawn(async move { sub.next().await });
    db.close().await.expect("close");
    let ended = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("the subscriber ends")
        .expect("task");
    assert!(matches!(ended, Err(Error::Closed(_))), "{ended:?}");
}

async fn a_subscriber_resumes_from_a_saved_seq_after_a_restart(kind: StoreKind) {
    let env = TestDb::new(kind, "changes-resume");
    let opts = feed_options(env.options());
    let db = open_feed(&env, opts.clone()).await;
    let mut sub = db.subscribe(1);
    let acked = write_concurrently(&db, 2, 200, 0).await;
    let half = *acked.keys().nth(acked.len() / 2).expect("acked");
    let first_part = read_through(&mut sub, 1, half).await;
    let saved = sub.position();
    drop(sub);
    db.close().await.expect("close");

    let db = env.open(opts).await;
    let more = write_concurrently(&db, 2, 100, 200).await;
    let last = db.durability_status().visible_seq;
    let mut resumed = db.subscribe(saved + 1);
    let rest = read_through(&mut resumed, saved + 1, last).await;
    let mut all = first_part;
    all.extend(rest);
    let mut every = acked;
    every.extend(more);
    check_acked(&all, &every);
    assert_eq!(
        all.len(),
        every.len(),
        "exactly the acknowledged batches, once each"
    );
    db.close().await.expect("close");
}

async fn a_slow_subscriber_catches_up_from_the_shipped_wal(kind: StoreKind) {
    let env = TestDb::new(kind, "changes-slow");
    let mut opts = feed_options(env.options());
    opts.change_buffer_bytes = 4096;
    let db = open_feed(&env, opts).await;
    let mut sub = db.subscribe(1);
    let acked = write_concurrently(&db, 2, 400, 0).await;
    let last = db.durability_status().visible_seq;
    let changes = read_through(&mut sub, 1, last).await;
    assert_eq!(changes.len(), acked.len());
    check_acked(&changes, &acked);
    // And live again: new batches arrive once written.
    let more = write_concurrently(&db, 1, 20, 400).await;
    let last = db.durability_status().visible_seq;
    let live = read_through(&mut sub, changes.last().expect("some").last_seq + 1, last).await;
    check_acked(&live, &more);
    db.close().await.expect("close");
}

async fn without_shipping_a_lagging_subscriber_gets_a_lag_error(kind: StoreKind) {
    let env = TestDb::new(kind, "changes-lag");
    let mut opts = feed_options(env.options());
    opts.change_buffer_bytes = 4096;
    opts.wal_shipping = false;
    let db = env.open(opts).await;
    let mut sub = db.subscribe(1);
    // Within the buffer: fine.
    db.put("a", "1").await.expect("put");
    assert_eq!(next(&mut sub).await.first_seq, 1);
    write_concurrently(&db, 1, 300, 0).await;
    let err = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("an answer")
        .expect_err("the buffer no longer holds write 2");
    match &err {
        Error::Lagged { position, detail } => {
            assert_eq!(*position, 1);
            assert!(
                detail.contains("change_buffer_bytes") && detail.contains("wal_shipping"),
                "{err}"
            );
        }
        other => panic!("expected Lagged, got {other:?}"),
    }
    // A subscriber from the newest write on is fine.
    let from = db.durability_status().visible_seq + 1;
    let mut fresh = db.subscribe(from);
    let mut b = WriteBatch::new();
    b.put("b", "2");
    let seq = db.write(b).await.expect("write");
    assert_eq!(next(&mut fresh).await.first_seq, seq);
    db.close().await.expect("close");
}

async fn a_followers_subscriber_sees_what_it_applies(kind: StoreKind) {
    let env = TestDb::new(kind, "changes-follow");
    let mut wopts = feed_options(env.options());
    wopts.flush_on_close = false;
    let writer = open_feed(&env, wopts).await;
    writer.put("first", "write").await.expect("put");
    writer.wait_durable(1).await.expect("shipped");

    let mut fopts = env.options_with_local("follower");
    fopts.follow = true;
    fopts.follow_interval = Duration::from_millis(50);
    let follower = Db::open(fopts).await.expect("open follower");
    let mut sub = follower.subscribe(1);
    let acked = write_concurrently(&writer, 2, 100, 0).await;
    let last = writer.durability_status().visible_seq;
    writer.wait_durable(last).await.expect("shipped");
    let changes = read_through(&mut sub, 1, last).await;
    check_acked(&changes, &acked);
    assert_eq!(changes.len(), acked.len() + 1);
    follower.close().await.expect("close follower");
    writer.close().await.expect("close writer");
}

/// The blocking API's subscriber, on a thread with no runtime.
#[test]
fn the_blocking_api_subscribes_too() {
    let env = TestDb::file();
    let db = firn::blocking::Db::open(feed_options(env.options())).expect("open");
    let mut sub = db.subscribe(1);
    let mut batch = WriteBatch::new();
    batch.put("a", "1").delete("b");
    let last = db.write(batch.clone()).expect("write");
    let change = sub.next().expect("a change").expect("no error");
    assert_eq!(
        (change.first_seq, change.last_seq, change.batch),
        (last - 1, last, batch)
    );
    assert_eq!(sub.position(), last);
    db.close().expect("close");
}

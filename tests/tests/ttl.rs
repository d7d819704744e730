//! TTL and record metadata under a controlled clock (this binary installs a
//! manual clock; its tests take turns, so no test moves another's time).
//!
//! * A value written with a TTL is visible to every read (get, multi_get,
//!   scans both ways, snapshots, followers) until exactly its deadline —
//!   commit time plus TTL — and absent from then on, hiding the older
//!   version under it; the same from the memtable, from chunks and after a
//!   reopen. `Options::default_ttl` gives plain puts a TTL; puts with their
//!   own keep theirs.
//! * Compaction turns expired values into tombstones and drops them, so the
//!   bytes of the chunks fall (counted in `compaction_expired`).
//! * `get_with_meta` and `next_with_meta` report each value's seq and write
//!   time (the commit time), from the memtable and from chunks; a bulk
//!   ingest's entries have none.
//!
//! Every case runs on `memory://`, `file://` and the S3 server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use firn::{Db, Options, WriteBatch};
use firn_tests::{StoreKind, TestDb};

firn_tests::on_every_store!(
    values_expire_exactly_at_their_deadline_on_every_read_path,
    a_default_ttl_applies_to_plain_puts_only,
    compaction_reclaims_expired_values,
    reads_report_each_values_seq_and_write_time,
);

/// A wall clock that moves only when told.
struct ManualClock {
    now_ms: AtomicU64,
}

impl firn_store::clock::Source for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
    fn random_u64(&self) -> u64 {
        // Not a simulation: real randomness (ids must stay unique).
        uuid_like()
    }
}

fn uuid_like() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// The clock, installed once for the whole binary, and the lock each test
/// holds while it runs.
fn clock() -> &'static (Arc<ManualClock>, tokio::sync::Mutex<()>) {
    static CLOCK: OnceLock<(Arc<ManualClock>, tokio::sync::Mutex<()>)> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock = Arc::new(ManualClock {
            now_ms: AtomicU64::new(1_800_000_000_000),
        });
        std::mem::forget(firn_store::clock::install(clock.clone()));
        (clock, tokio::sync::Mutex::new(()))
    })
}

fn now() -> u64 {
    clock().0.now_ms.load(Ordering::SeqCst)
}

fn set_now(ms: u64) {
    clock().0.now_ms.store(ms, Ordering::SeqCst);
}

fn opts(env: &TestDb) -> Options {
    let mut o = env.small_options();
    o.compaction.auto_compaction = false;
    o
}

/// What every read path says about `key` (all must agree).
async fn visible(db: &Db, key: &str) -> Option<Bytes> {
    let got = db.get(key).await.expect("get");
    let many = db.multi_get(&[key]).await.expect("multi_get");
    assert_eq!(many[0], got, "multi_get agrees with get on {key}");
    let fwd = db
        .scan(key.as_bytes()..=key.as_bytes())
        .expect("scan")
        .collect_all()
        .await
        .expect("scan");
    let back = db
        .scan(key.as_bytes()..=key.as_bytes())
        .expect("scan")
        .rev()
        .collect_all()
        .await
        .expect("reverse scan");
    assert_eq!(fwd, back);
    assert_eq!(
        fwd.first().map(|(_, v)| v.clone()),
        got,
        "a scan agrees with get on {key}"
    );
    let snap = db.snapshot();
    assert_eq!(snap.get(key).await.expect("snapshot get"), got);
    got
}

async fn values_expire_exactly_at_their_deadline_on_every_read_path(kind: StoreKind) {
    let _turn = clock().1.lock().await;
    let env = TestDb::new(kind, "ttl-deadline");
    let db = env.open(opts(&env)).await;
    db.put("k", "old").await.expect("put");
    db.put_with_ttl("k", "new", Duration::from_secs(10))
        .await
        .expect("put");
    db.put_with_ttl("other", "x", Duration::from_secs(60))
        .await
        .expect("put");
    let record = db.get_with_meta("k").await.expect("get").expect("present");
    let deadline = record.write_time_ms.expect("a write time") + 10_000;
    assert_eq!(record.expires_ms, Some(deadline));

    let check = |db: Db, label: &'static str| async move {
        set_now(deadline - 1);
        assert_eq!(
            visible(&db, "k").await.as_deref(),
            Some(&b"new"[..]),
            "{label}: before"
        );
        set_now(deadline);
        assert_eq!(
            visible(&db, "k").await,
            None,
            "{label}: at the deadline, nothing (not the old value)"
        );
        assert!(
            visible(&db, "other").await.is_some(),
            "{label}: a longer TTL lives on"
        );
        set_now(deadline - 1);
    };
    check(db.clone(), "memtable").await;
    db.flush().await.expect("flush");
    check(db.clone(), "chunk").await;
    db.close().await.expect("close");
    let db = env.open(opts(&env)).await;
    check(db.clone(), "reopened").await;

    // A follower judges the same deadline (the commit time is shipped).
    let mut fopts = env.options_with_local("follower");
    fopts.follow = true;
    fopts.follow_interval = Duration::from_millis(50);
    let seq = {
        let mut b = WriteBatch::new();
        b.put_with_ttl("shipped", "s", Duration::from_secs(5));
        db.write(b).await.expect("write")
    };
    db.wait_durable(seq).await.expect("shipped");
    let follower = Db::open(fopts).await.expect("follower");
    let mut r = None;
    for _ in 0..200 {
        r = follower.get_with_meta("shipped").await.expect("get");
        if r.is_some() {
            break;
        }
        firn_store::clock::sleep(Duration::from_millis(50)).await;
    }
    let r = r.expect("the follower applies the write");
    let w = db
        .get_with_meta("shipped")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        (r.seq, r.write_time_ms, r.expires_ms),
        (w.seq, w.write_time_ms, w.expires_ms)
    );
    set_now(w.expires_ms.expect("expiry"));
    assert_eq!(follower.get("shipped").await.expect("get"), None);
    follower.close().await.expect("close");
    db.close().await.expect("close");
}

async fn a_default_ttl_applies_to_plain_puts_only(kind: StoreKind) {
    let _turn = clock().1.lock().await;
    let env = TestDb::new(kind, "ttl-default");
    let mut o = opts(&env);
    o.default_ttl = Some(Duration::from_secs(3600));
    let db = env.open(o).await;
    db.put("plain", "p").await.expect("put");
    db.put_with_ttl("own", "o", Duration::from_secs(5))
        .await
        .expect("put");
    let plain = db
        .get_with_meta("plain")
        .await
        .expect("get")
        .expect("present");
    let own = db
        .get_with_meta("own")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        plain.expires_ms,
        Some(plain.write_time_ms.expect("time") + 3_600_000)
    );
    assert_eq!(
        own.expires_ms,
        Some(own.write_time_ms.expect("time") + 5_000)
    );
    db.close().await.expect("close");

    let mut bad = opts(&env);
    bad.default_ttl = Some(Duration::ZERO);
    let err = Db::open(bad)
        .await
        .err()
        .expect("a zero default TTL is refused");
    assert!(err.to_string().contains("default_ttl"), "{err}");
    let db = env.open(opts(&env)).await;
    let mut b = WriteBatch::new();
    b.put_with_ttl("zero", "z", Duration::ZERO);
    let err = db.write(b).await.expect_err("a zero TTL is refused");
    assert!(err.to_string().contains("TTL"), "{err}");
    assert_eq!(db.get("zero").await.expect("get"), None, "nothing written");
    db.close().await.expect("close");
}

async fn compaction_reclaims_expired_values(kind: StoreKind) {
    let _turn = clock().1.lock().await;
    let env = TestDb::new(kind, "ttl-compact");
    let db = env.open(opts(&env)).await;
    for chunk in 0..20 {
        let mut b = WriteBatch::new();
        for i in 0..100 {
            let n = chunk * 100 + i;
            let v = format!("{n:08}-{}", "v".repeat(100));
            if n % 2 == 0 {
                b.put_with_ttl(format!("key{n:05}"), v, Duration::from_secs(60));
            } else {
                b.put(format!("key{n:05}"), v);
            }
        }
        db.write(b).await.expect("write");
    }
    db.compact().await.expect("compact");
    let bytes = |db: &Db| db.manifest().all_chunks().map(|c| c.size).sum::<u64>();
    let before = bytes(&db);
    assert_eq!(db.metrics().compaction_expired, 0, "nothing expired yet");
    set_now(now() + 61_000);
    assert_eq!(
        db.scan::<&[u8], _>(..)
            .expect("scan")
            .collect_all()
            .await
            .expect("scan")
            .len(),
        1000,
        "expired values are invisible before any compaction"
    );
    db.compact().await.expect("compact");
    let after = bytes(&db);
    assert_eq!(db.metrics().compaction_expired, 1000);
    assert!(
        after * 10 < before * 6,
        "compaction should reclaim the expired half: {before} -> {after} bytes"
    );
    let rows = db
        .scan::<&[u8], _>(..)
        .expect("scan")
        .collect_all()
        .await
        .expect("scan");
    assert_eq!(rows.len(), 1000);
    assert!(rows.iter().all(|(k, _)| {
        let n: u32 = std::str::from_utf8(&k[3..])
            .expect("utf8")
            .parse()
            .expect("number");
        n % 2 == 1
    }));
    db.close().await.expect("close");
}

async fn reads_report_each_values_seq_and_write_time(kind: StoreKind) {
    let _turn = clock().1.lock().await;
    let env = TestDb::new(kind, "ttl-meta");
    let db = env.open(opts(&env)).await;
    let t1 = now();
    let mut b = WriteBatch::new();
    b.put("a", "1").put("b", "2");
    let last = db.write(b).await.expect("write");
    set_now(t1 + 5_000);
    let mut b = WriteBatch::new();
    b.put("c", "3");
    let c_seq = db.write(b).await.expect("write");
    db.ingest([("i", "ingested")]).await.expect("ingest");

    let check = |db: Db, label: &'static str| async move {
        let a = db.get_with_meta("a").await.expect("get").expect("a");
        let b = db.get_with_meta("b").await.expect("get").expect("b");
        let c = db.get_with_meta("c").await.expect("get").expect("c");
        assert_eq!(
            (a.seq, b.seq, c.seq),
            (last - 1, last, c_seq),
            "{label}: seqs"
        );
        assert_eq!(a.write_time_ms, Some(t1), "{label}");
        assert_eq!(c.write_time_ms, Some(t1 + 5_000), "{label}");
        assert_eq!((a.expires_ms, c.expires_ms), (None, None), "{label}");
        let i = db.get_with_meta("i").await.expect("get").expect("i");
        assert_eq!(
            i.write_time_ms, None,
            "{label}: an ingest records no write time"
        );
        let mut it = db.scan::<&[u8], _>(..).expect("scan");
        let mut seen = Vec::new();
        while let Some((k, r)) = it.next_with_meta().await.expect("next") {
            seen.push((k, r.seq, r.write_time_ms));
        }
        assert_eq!(
            seen,
            vec![
                (Bytes::from("a"), last - 1, Some(t1)),
                (Bytes::from("b"), last, Some(t1)),
                (Bytes::from("c"), c_seq, Some(t1 + 5_000)),
                (Bytes::from("i"), i.seq, None),
            ],
            "{label}: scan metadata"
        );
    };
    check(db.clone(), "memtable").await;
    db.flush().await.expect("flush");
    check(db.clone(), "chunk").await;
    db.compact().await.expect("compact");
    check(db.clone(), "compacted").await;
    db.close().await.expect("close");
}

//! WAL shipping: every acknowledged write reaches the bucket within the ship
//! interval (at once for `Durability::Remote`), and a writer or reader on
//! another machine — an empty local directory — sees it.

use std::time::Duration;

use bytes::Bytes;
use firn::{Db, Durability, Error, Options, WriteBatch, WriteOptions};
use firn_tests::{s3_enabled, settle, StoreKind, TestDb};

const REMOTE: WriteOptions = WriteOptions {
    durability: Some(Durability::Remote),
};

fn shipping(mut opts: Options) -> Options {
    opts.wal_shipping = true;
    opts.wal_ship_interval = Duration::from_millis(200);
    opts.wal_ship_bytes = 64 << 10;
    opts.flush_on_close = false;
    opts
}

async fn put_with(db: &Db, key: &str, value: &str, opts: WriteOptions) -> firn::Result<u64> {
    let mut batch = WriteBatch::new();
    batch.put(key.to_string(), value.to_string());
    db.write_with(batch, opts).await
}

fn stores() -> Vec<StoreKind> {
    let mut kinds = vec![StoreKind::Memory, StoreKind::File];
    if s3_enabled("shipping") {
        kinds.push(StoreKind::S3);
    }
    kinds
}

/// The machine is lost (its local directory deleted, nothing flushed): a
/// writer with an empty local directory has every `Remote` write, and every
/// buffered write older than the ship interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_loss_keeps_every_remote_and_every_shipped_write() {
    for kind in stores() {
        let env = TestDb::new(kind, "ship-loss");
        let opts = shipping(env.options());
        let db = Db::open(opts.clone()).await.unwrap();
        for i in 0..40 {
            let seq = put_with(&db, &format!("r{i:03}"), &format!("v{i}"), REMOTE)
                .await
                .unwrap();
            let status = db.durability_status();
            assert!(status.bucket_durable_seq >= seq, "{kind}: {status:?}");
        }
        for i in 0..40 {
            db.put(format!("b{i:03}"), format!("w{i}")).await.unwrap();
        }
        // Buffered writes reach the bucket within the interval.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let s = db.durability_status();
            if s.bucket_durable_seq == s.visible_seq {
                assert_eq!(s.oldest_unshipped_ms, None, "{kind}");
                break;
            }
            assert!(s.oldest_unshipped_ms.is_some(), "{kind}: {s:?}");
            assert!(std::time::Instant::now() < deadline, "{kind}: {s:?}");
            firn_store::clock::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(db.metrics().flushes, 0, "{kind}: nothing was flushed");
        assert!(db.metrics().wal_objects_shipped > 0, "{kind}");
        // The machine is lost.
        drop(db);
        std::fs::remove_dir_all(&opts.local_dir).unwrap();

        // A reader on another machine sees everything...
        let mut ro = env.options_with_local("reader");
        ro.read_only = true;
        let reader = Db::open(ro).await.unwrap();
        assert!(reader.metrics().wal_objects_replayed > 0, "{kind}");
        for i in 0..40 {
            assert_eq!(
                reader.get(format!("r{i:03}")).await.unwrap(),
                Some(Bytes::from(format!("v{i}"))),
                "{kind}: reader r{i:03}"
            );
        }
        drop(reader);
        // ...and so does the writer that takes over.
        let db = Db::open(shipping(env.options_with_local("machine-b")))
            .await
            .unwrap();
        for i in 0..40 {
            assert_eq!(
                db.get(format!("r{i:03}")).await.unwrap(),
                Some(Bytes::from(format!("v{i}"))),
                "{kind}: r{i:03}"
            );
            assert_eq!(
                db.get(format!("b{i:03}")).await.unwrap(),
                Some(Bytes::from(format!("w{i}"))),
                "{kind}: b{i:03}"
            );
        }
        // It writes on, and a third machine sees both writers' writes.
        put_with(&db, "after", "takeover", REMOTE).await.unwrap();
        drop(db);
        let db = Db::open(shipping(env.options_with_local("machine-c")))
            .await
            .unwrap();
        assert_eq!(
            db.get("after").await.unwrap(),
            Some(Bytes::from("takeover")),
            "{kind}"
        );
        assert_eq!(
            db.get("r000").await.unwrap(),
            Some(Bytes::from("v0")),
            "{kind}"
        );
        db.close().await.unwrap();
    }
}

/// The old writer keeps running while a new one takes over: its `Remote`
/// writes made before are kept, it acknowledges no `Remote` write after
/// the fence, and it reports `Fenced`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_writer_is_fenced_and_its_remote_writes_survive() {
    for kind in stores() {
        let env = TestDb::new(kind, "ship-fence");
        let old = Db::open(shipping(env.options())).await.unwrap();
        for i in 0..10 {
            put_with(&old, &format!("old{i}"), "before", REMOTE)
                .await
                .unwrap();
        }
        let new = Db::open(shipping(env.options_with_local("machine-b")))
            .await
            .unwrap();
        for i in 0..10 {
            assert_eq!(
                new.get(format!("old{i}")).await.unwrap(),
                Some(Bytes::from("before")),
                "{kind}"
            );
        }
        // The old writer's next Remote write is refused: fenced.
        let err = put_with(&old, "old-after", "fence", REMOTE)
            .await
            .unwrap_err();
        assert!(err.is_fenced(), "{kind}: {err:?}");
        assert!(
            matches!(old.put("more", "x").await, Err(Error::Fenced { .. })),
            "{kind}"
        );
        put_with(&new, "new", "writer", REMOTE).await.unwrap();
        drop(old);
        drop(new);
        let db = Db::open(shipping(env.options_with_local("machine-c")))
            .await
            .unwrap();
        assert_eq!(db.get("old-after").await.unwrap(), None, "{kind}");
        assert_eq!(
            db.get("new").await.unwrap(),
            Some(Bytes::from("writer")),
            "{kind}"
        );
        assert_eq!(
            db.get("old9").await.unwrap(),
            Some(Bytes::from("before")),
            "{kind}"
        );
        db.close().await.unwrap();
    }
}

/// A writer on a fresh local directory (no WAL segment: its replayed
/// memtable is number 0) flushes what it took over from the shipped WAL
/// when asked: `flush` used to return at once, as if memtable 0 were
/// flushed already. Chunk uploads are blocked meanwhile, so the background
/// flusher cannot get there first: `flush` must wait for the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_directory_taking_over_flushes_what_it_replayed() {
    let env = TestDb::file();
    let old = Db::open(shipping(env.options())).await.unwrap();
    let mut last = 0;
    for i in 0..20 {
        last = put_with(&old, &format!("k{i:02}"), "shipped", REMOTE)
            .await
            .unwrap();
    }
    drop(old);
    env.block_chunk_uploads();
    let mut opts = shipping(env.options_with_local("fresh"));
    opts.retry_delay = Duration::from_millis(20);
    opts.max_retry_delay = Duration::from_millis(50);
    let new = Db::open(opts).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(500), new.flush()).await;
    assert!(
        waiting.is_err(),
        "flush returned while no chunk could be uploaded: {waiting:?}"
    );
    env.unblock_chunk_uploads();
    new.flush().await.unwrap();
    let m = new.metrics();
    assert_eq!(
        (m.frozen_memtables, m.memtable_bytes),
        (0, 0),
        "flush left memtables in memory"
    );
    assert!(new.manifest().wal_watermark >= last);
    for i in 0..20 {
        assert!(new.get(format!("k{i:02}")).await.unwrap().is_some());
    }
    new.close().await.unwrap();
}

/// A shipped object that fails its checksum stops the open with an error
/// naming it; it is never skipped.
#[tokio::test]
async fn a_corrupt_shipped_object_is_named() {
    let env = TestDb::new(StoreKind::Memory, "ship-corrupt");
    let db = Db::open(shipping(env.options())).await.unwrap();
    put_with(&db, "k", "v", REMOTE).await.unwrap();
    drop(db);
    // The largest object: not the fence (header only) the writer made at open.
    let objects = env.list_objects("wal/").await;
    let shipped = objects
        .iter()
        .max_by_key(|o| o.size)
        .expect("a shipped object")
        .path
        .clone();
    assert!(objects.iter().any(|o| o.size > 70), "{objects:?}");
    env.flip_object_byte(&shipped, 70, 0x40).await;
    let mut ro = env.options_with_local("reader");
    ro.read_only = true;
    let err = Db::open(ro).await.map(|_| ()).unwrap_err();
    assert!(err.is_corruption(), "{err:?}");
    assert!(err.to_string().contains(&shipped), "{err}");
}

/// Shipped objects go once their writes are in chunks for the grace
/// period; an idle database ships nothing.
#[tokio::test]
async fn flushed_shipped_objects_are_collected_and_idle_is_silent() {
    let env = TestDb::new(StoreKind::Memory, "ship-gc");
    let mut opts = shipping(env.options());
    opts.gc_grace = Duration::ZERO;
    let db = Db::open(opts).await.unwrap();
    for i in 0..20 {
        put_with(&db, &format!("k{i}"), "v", REMOTE).await.unwrap();
    }
    let before = env.object_names("wal/", ".wal").await.len();
    assert!(before >= 2, "a fence and shipped objects: {before}");
    db.flush().await.unwrap();
    let report = db.gc(Duration::ZERO).await.unwrap();
    assert!(report.wal_objects_deleted >= 1, "{report:?}");
    let left = env.object_names("wal/", ".wal").await;
    assert_eq!(left.len() as u64, report.wal_objects_kept, "{left:?}");
    // Idle: no request at all, shipping included.
    settle(&db).await;
    let quiet = db.metrics().requests;
    firn_store::clock::sleep(Duration::from_millis(800)).await;
    assert_eq!(db.metrics().requests.since(&quiet).total_requests(), 0);
    drop(db);
}

/// `Remote` needs shipping; the error says so and nothing is written.
#[tokio::test]
async fn remote_without_shipping_is_refused() {
    let env = TestDb::new(StoreKind::Memory, "ship-off");
    let mut opts = env.options();
    opts.wal_shipping = false;
    let db = Db::open(opts.clone()).await.unwrap();
    let err = put_with(&db, "k", "v", REMOTE).await.unwrap_err();
    assert!(err.to_string().contains("wal_shipping"), "{err}");
    assert_eq!(db.get("k").await.unwrap(), None);
    opts.durability = Durability::Remote;
    drop(db);
    let err = Db::open(opts).await.map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("wal_shipping"), "{err}");
}

/// A read can ask to see only what is in the bucket: a write acknowledged
/// locally is invisible to it until it is shipped (or flushed).
#[tokio::test]
async fn bucket_durable_reads_see_only_shipped_writes() {
    let env = TestDb::new(StoreKind::Memory, "ship-durable-reads");
    let mut opts = shipping(env.options());
    opts.wal_ship_interval = Duration::from_secs(3600);
    let db = Db::open(opts).await.unwrap();
    let durable = firn::ReadOptions {
        bucket_durable_only: true,
    };
    let first = put_with(&db, "k", "v1", REMOTE).await.unwrap();
    let second = put_with(&db, "k", "v2", WriteOptions::default())
        .await
        .unwrap();
    assert!(second > first);
    assert_eq!(db.get("k").await.unwrap(), Some(Bytes::from("v2")));
    assert_eq!(
        db.get_with("k", durable).await.unwrap(),
        Some(Bytes::from("v1")),
        "the buffered overwrite is not in the bucket yet"
    );
    db.put("other", "x").await.unwrap();
    assert_eq!(db.get_with("other", durable).await.unwrap(), None);
    let snap = db.snapshot_with(durable);
    assert_eq!(snap.seq(), first);
    let mut it = db.scan_with::<&[u8], _>(.., durable).unwrap();
    let mut seen = Vec::new();
    while let Some((k, v)) = it.next().await.unwrap() {
        seen.push((k, v));
    }
    assert_eq!(seen, vec![(Bytes::from("k"), Bytes::from("v1"))]);
    // Waiting for the bucket ships at once (no memtable flush).
    let status = db.durability_status();
    assert!(status.oldest_unshipped_ms.is_some(), "{status:?}");
    db.wait_durable(status.visible_seq).await.unwrap();
    assert_eq!(db.metrics().flushes, 0);
    assert_eq!(
        db.get_with("k", durable).await.unwrap(),
        Some(Bytes::from("v2"))
    );
    assert_eq!(snap.get("k").await.unwrap(), Some(Bytes::from("v1")));
    let status = db.durability_status();
    assert_eq!(status.bucket_durable_seq, status.visible_seq);
    assert_eq!(status.oldest_unshipped_ms, None);
}

/// `wal_retention` keeps shipped objects past the grace period.
#[tokio::test]
async fn wal_retention_keeps_flushed_shipped_objects() {
    let env = TestDb::new(StoreKind::Memory, "ship-retention");
    let mut opts = shipping(env.options());
    opts.wal_retention = Duration::from_secs(3600);
    let db = Db::open(opts).await.unwrap();
    for i in 0..5 {
        put_with(&db, &format!("k{i}"), "v", REMOTE).await.unwrap();
    }
    db.flush().await.unwrap();
    let report = db.gc(Duration::ZERO).await.unwrap();
    assert_eq!(report.wal_objects_deleted, 0, "{report:?}");
    assert!(report.wal_objects_kept >= 2, "{report:?}");
    drop(db);
}

/// Ids are never reused: after a writer's shipped objects are flushed and
/// collected, the newest stays, so the next writer fences above every id
/// ever written — and the old writer, still running, is fenced by it.
#[tokio::test]
async fn collected_ids_are_never_reused_and_still_fence_the_old_writer() {
    let env = TestDb::new(StoreKind::Memory, "ship-ids");
    let mut opts = shipping(env.options());
    opts.gc_grace = Duration::ZERO;
    let old = Db::open(opts).await.unwrap();
    for i in 0..6 {
        put_with(&old, &format!("k{i}"), "v", REMOTE).await.unwrap();
    }
    let ids = |names: Vec<String>| -> Vec<u64> {
        names
            .iter()
            .map(|n| n["wal/".len()..n.len() - ".wal".len()].parse().unwrap())
            .collect()
    };
    let newest = *ids(env.object_names("wal/", ".wal").await)
        .iter()
        .max()
        .unwrap();
    old.flush().await.unwrap();
    let report = old.gc(Duration::ZERO).await.unwrap();
    assert!(report.wal_objects_deleted >= 1, "{report:?}");
    let left = ids(env.object_names("wal/", ".wal").await);
    assert!(
        left.contains(&newest),
        "the newest object {newest} stays: {left:?}"
    );

    let new = Db::open(shipping(env.options_with_local("machine-b")))
        .await
        .unwrap();
    let after = ids(env.object_names("wal/", ".wal").await);
    let fence = *after.iter().filter(|id| !left.contains(id)).min().unwrap();
    assert_eq!(
        fence,
        newest + 1,
        "the lowest fence takes the old writer's next id: {after:?}"
    );
    let err = put_with(&old, "late", "write", REMOTE).await.unwrap_err();
    assert!(err.is_fenced(), "{err:?}");
    for i in 0..6 {
        assert_eq!(
            new.get(format!("k{i}")).await.unwrap(),
            Some(Bytes::from("v"))
        );
    }
    assert_eq!(new.get("late").await.unwrap(), None);
}

/// Fences of different writers side by side are all kept by GC (each may
/// be the one an older writer's next shipment meets), and the old writer is
/// still stopped afterwards.
#[tokio::test]
async fn gc_keeps_each_writers_fence() {
    let env = TestDb::new(StoreKind::Memory, "ship-fence-gc");
    let mut opts = shipping(env.options());
    opts.gc_grace = Duration::ZERO;
    let old = Db::open(opts).await.unwrap();
    put_with(&old, "a", "1", REMOTE).await.unwrap();
    let mut b = shipping(env.options_with_local("machine-b"));
    b.gc_grace = Duration::ZERO;
    let new = Db::open(b).await.unwrap();
    // A fence is a header alone (60 bytes); a shipped object has a body.
    let fences = |objects: Vec<firn_store::ObjectInfo>| -> Vec<u64> {
        objects
            .iter()
            .filter(|o| o.size == 60)
            .map(|o| {
                o.path["wal/".len()..o.path.len() - ".wal".len()]
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let made = fences(env.list_objects("wal/").await);
    assert_eq!(made.len(), 2, "one fence per open: {made:?}");
    put_with(&new, "b", "2", REMOTE).await.unwrap();
    new.flush().await.unwrap();
    new.gc(Duration::ZERO).await.unwrap();
    assert_eq!(fences(env.list_objects("wal/").await), made);
    let err = put_with(&old, "late", "write", REMOTE).await.unwrap_err();
    assert!(err.is_fenced(), "{err:?}");
    assert_eq!(new.get("a").await.unwrap(), Some(Bytes::from("1")));
    assert_eq!(new.get("late").await.unwrap(), None);
}

/// The old writer keeps writing — `Remote` and buffered, from two tasks —
/// while a writer on another machine takes over. Afterwards every write the
/// old one had a `Remote` acknowledgement for is readable; what the new
/// writer holds of the old one's writes is a prefix of them in sequence
/// order (nothing it wrote after the fence is visible); the old writer
/// reports `Fenced`; and a third machine sees the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_writing_through_a_takeover_keeps_every_remote_ack() {
    for kind in stores() {
        let env = TestDb::new(kind, "ship-fence-live");
        let old = Db::open(shipping(env.options())).await.unwrap();
        let spawn_writer = |prefix: &'static str, opts: WriteOptions| {
            let old = old.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..1_000_000u32 {
                    let key = format!("{prefix}{i:07}");
                    match put_with(&old, &key, "old", opts).await {
                        Ok(seq) => acked.push((seq, key)),
                        Err(e) => return (acked, e),
                    }
                }
                panic!("the old writer was never fenced");
            })
        };
        let remote = spawn_writer("r", REMOTE);
        let buffered = spawn_writer("b", WriteOptions::default());
        firn_store::clock::sleep(Duration::from_millis(300)).await;
        let new = Db::open(shipping(env.options_with_local("machine-b")))
            .await
            .unwrap();
        let mut acks = Vec::new();
        let mut remote_acks = Vec::new();
        for (task, is_remote) in [(remote, true), (buffered, false)] {
            let (acked, err) = tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .unwrap_or_else(|_| panic!("{kind}: the old writer never noticed the takeover"))
                .unwrap();
            assert!(err.is_fenced(), "{kind}: {err:?}");
            if is_remote {
                remote_acks.extend(acked.iter().cloned());
            }
            acks.extend(acked);
        }
        assert!(
            !remote_acks.is_empty(),
            "{kind}: no Remote write before the takeover"
        );
        acks.sort();
        let check = |db: Db, who: &'static str| {
            let (acks, remote_acks) = (acks.clone(), remote_acks.clone());
            async move {
                for (seq, key) in &remote_acks {
                    assert_eq!(
                        db.get(key.clone()).await.unwrap(),
                        Some(Bytes::from("old")),
                        "{kind} ({who}): Remote-acknowledged {key} (seq {seq}) is missing"
                    );
                }
                // A prefix in sequence order: once one is missing, all later are.
                let mut missing: Option<(u64, String)> = None;
                for (seq, key) in &acks {
                    match (db.get(key.clone()).await.unwrap(), &missing) {
                        (Some(_), Some((mseq, mkey))) => panic!(
                            "{kind} ({who}): {key} (seq {seq}) is visible but {mkey} \
                             (seq {mseq}) is not"
                        ),
                        (Some(_), None) => {}
                        (None, Some(_)) => {}
                        (None, None) => missing = Some((*seq, key.clone())),
                    }
                }
            }
        };
        check(new.clone(), "the new writer").await;
        assert!(
            matches!(old.put("more", "x").await, Err(Error::Fenced { .. })),
            "{kind}"
        );
        put_with(&new, "new", "writer", REMOTE).await.unwrap();
        drop(old);
        drop(new);
        let third = Db::open(shipping(env.options_with_local("machine-c")))
            .await
            .unwrap();
        check(third.clone(), "a third machine").await;
        assert_eq!(
            third.get("new").await.unwrap(),
            Some(Bytes::from("writer")),
            "{kind}"
        );
        assert_eq!(third.get("more").await.unwrap(), None, "{kind}");
        third.close().await.unwrap();
    }
}

/// Frequent small `Remote` writes ship one object each; once the active
/// memtable's writes fill `max_unflushed_wal_objects` objects it is
/// flushed, so a writer taking over replays a bounded number of objects.
#[tokio::test]
async fn many_small_shipments_flush_the_memtable() {
    let env = TestDb::new(StoreKind::Memory, "ship-object-bound");
    let mut opts = shipping(env.options());
    opts.max_unflushed_wal_objects = 5;
    let db = Db::open(opts).await.unwrap();
    for i in 0..40 {
        put_with(&db, &format!("k{i:02}"), "v", REMOTE)
            .await
            .unwrap();
    }
    assert!(db.metrics().flushes >= 3, "{}", db.metrics().flushes);
    settle(&db).await;
    assert!(db.metrics().wal_objects_shipped >= 40);
    drop(db);
    let new = Db::open(shipping(env.options_with_local("machine-b")))
        .await
        .unwrap();
    let replayed = new.metrics().wal_objects_replayed;
    // At most the objects of the active and one frozen memtable, plus fences.
    assert!(
        replayed <= 2 * 5 + 16,
        "replayed {replayed} shipped objects"
    );
    for i in 0..40 {
        assert_eq!(
            new.get(format!("k{i:02}")).await.unwrap(),
            Some(Bytes::from("v"))
        );
    }
}

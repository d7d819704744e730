//! Followers and read-only handles stay current with the bucket: a
//! follower polls for shipped WAL objects and manifest versions, applies
//! them, and serves reads at the sequence number it has reached — never
//! going backwards, never showing half a batch, converging to the writer's
//! state; a plain read-only handle refreshes by itself and on `refresh()`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use firn::{Db, Durability, Options, WriteBatch, WriteOptions};
use firn_tests::{s3_enabled, settle, StoreKind, TestDb};

const KEYS: usize = 8;

fn writer_options(mut opts: Options) -> Options {
    opts.wal_shipping = true;
    opts.wal_ship_interval = Duration::from_millis(100);
    opts.memtable_size = 64 << 10;
    opts.flush_on_close = false;
    opts
}

fn follower_options(env: &TestDb, name: &str) -> Options {
    let mut opts = env.options_with_local(name);
    opts.follow = true;
    opts.follow_interval = Duration::from_millis(100);
    opts.refresh_interval = Duration::from_millis(200);
    opts
}

fn stores() -> Vec<StoreKind> {
    let mut kinds = vec![StoreKind::Memory, StoreKind::File];
    if s3_enabled("follower") {
        kinds.push(StoreKind::S3);
    }
    kinds
}

/// Batch `i`: every key gets value `i` (padded, so chunks fill up).
fn batch(i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    for k in 0..KEYS {
        b.put(format!("key{k}"), format!("{i:08}{}", "x".repeat(200)));
    }
    b
}

fn round(value: &Bytes) -> u64 {
    std::str::from_utf8(&value[..8]).unwrap().parse().unwrap()
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|k| format!("key{k}")).collect()
}

/// The writer writes batches (every other one `Remote`), flushes, compacts
/// and collects with a short grace while a follower reads: its reads never
/// fail, never go backwards, never show half a batch, its lag stays
/// bounded, and it converges to the writer's final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_converges_and_never_goes_backwards() {
    for kind in stores() {
        let env = TestDb::new(kind, "follow");
        let mut wopts = writer_options(env.options());
        wopts.gc_grace = Duration::from_secs(1);
        let writer = Db::open(wopts).await.unwrap();
        let first = writer.write(batch(0)).await.unwrap();
        writer.wait_durable(first).await.unwrap();
        let follower = Db::open(follower_options(&env, "follower")).await.unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reads = {
            let (follower, stop) = (follower.clone(), stop.clone());
            tokio::spawn(async move {
                let mut last = 0u64;
                let mut max_lag = 0u64;
                let mut reads = 0u64;
                let ks = keys();
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let snap = follower.snapshot();
                    let values = snap.multi_get(&ks).await.unwrap();
                    let rounds: Vec<u64> = values
                        .iter()
                        .map(|v| round(v.as_ref().expect("every key is written by batch 0")))
                        .collect();
                    assert!(
                        rounds.iter().all(|r| *r == rounds[0]),
                        "{kind}: half a batch at seq {}: {rounds:?}",
                        snap.seq()
                    );
                    assert!(
                        rounds[0] >= last,
                        "{kind}: went back from {last} to {}",
                        rounds[0]
                    );
                    last = rounds[0];
                    let mut it = snap.scan::<Vec<u8>, _>(..).unwrap();
                    while let Some((_, v)) = it.next().await.unwrap() {
                        assert_eq!(round(&v), last, "{kind}: a scan mixed batches");
                    }
                    let status = follower.follow_status().expect("a follower");
                    max_lag = max_lag.max(status.lag_ms);
                    reads += 1;
                    firn_store::clock::sleep(Duration::from_millis(5)).await;
                }
                (last, max_lag, reads)
            })
        };
        let mut last_seq = 0;
        let mut deleted = 0;
        for i in 1..=300u64 {
            let opts = WriteOptions {
                durability: Some(if i % 2 == 0 {
                    Durability::Remote
                } else {
                    Durability::Buffered
                }),
            };
            last_seq = writer.write_with(batch(i), opts).await.unwrap();
            if i % 60 == 0 {
                writer.flush().await.unwrap();
            }
            if i % 150 == 0 {
                // Compact, then collect what it replaced once the grace the
                // follower refreshes within (every 200 ms) has passed.
                writer.compact().await.unwrap();
                firn_store::clock::sleep(Duration::from_millis(1200)).await;
                let report = writer.gc(Duration::from_secs(1)).await.unwrap();
                deleted += report.chunks_deleted;
            }
            firn_store::clock::sleep(Duration::from_millis(2)).await;
        }
        writer.wait_durable(last_seq).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while follower.follow_status().unwrap().applied_seq < last_seq {
            assert!(
                Instant::now() < deadline,
                "{kind}: the follower did not converge: {:?}",
                follower.follow_status()
            );
            firn_store::clock::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Release);
        let (last, max_lag, reads) = reads.await.unwrap();
        assert!(reads > 10, "{kind}: only {reads} reads");
        assert!(
            deleted > 0,
            "{kind}: the writer collected no chunk under the follower"
        );
        let got = follower.multi_get(&keys()).await.unwrap();
        assert!(
            got.iter().all(|v| round(v.as_ref().unwrap()) == 300),
            "{kind}"
        );
        assert!(last <= 300);
        // Lag: the poll interval (100 ms) plus a poll's own time, with a
        // margin for a slow, shared machine.
        assert!(max_lag < 3_000, "{kind}: lag reached {max_lag} ms");
        eprintln!("{kind}: follower lag at most {max_lag} ms over {reads} reads");
        let status = follower.follow_status().unwrap();
        assert_eq!(status.last_error, None, "{kind}");
        assert!(status.wal_objects_applied > 0, "{kind}: {status:?}");
        drop(follower);
        writer.close().await.unwrap();
    }
}

/// While the writer is idle, a follower makes one GET per poll (plus one
/// per refresh interval for the manifest).
#[tokio::test]
async fn an_idle_writer_costs_a_follower_one_get_per_poll() {
    let env = TestDb::new(StoreKind::Memory, "follow-idle");
    let writer = Db::open(writer_options(env.options())).await.unwrap();
    writer.write(batch(1)).await.unwrap();
    writer.flush().await.unwrap();
    settle(&writer).await;
    let mut opts = follower_options(&env, "follower");
    opts.refresh_interval = Duration::from_secs(3600);
    let follower = Db::open(opts).await.unwrap();
    firn_store::clock::sleep(Duration::from_millis(250)).await;
    let before = follower.metrics().requests;
    let started = Instant::now();
    firn_store::clock::sleep(Duration::from_secs(2)).await;
    let polls = started.elapsed().as_millis() as u64 / 100;
    let used = follower.metrics().requests.since(&before);
    assert!(
        used.total_requests() <= polls + 1 && used.total_requests() == used.get,
        "{} polls made {used:?}",
        polls
    );
    assert!(
        used.get >= polls / 2,
        "the follower does not poll: {used:?}"
    );
    drop(writer);
}

/// A new manifest drops the follower's memtables it covers: memory stays
/// bounded by what the writer has not flushed.
#[tokio::test]
async fn a_follower_drops_what_a_manifest_covers() {
    let env = TestDb::new(StoreKind::Memory, "follow-memory");
    let mut wopts = writer_options(env.options());
    wopts.memtable_size = 64 << 20;
    let writer = Db::open(wopts).await.unwrap();
    writer.write(batch(0)).await.unwrap();
    let follower = Db::open(follower_options(&env, "follower")).await.unwrap();
    let mut last = 0;
    for i in 1..=200 {
        last = writer
            .write_with(
                batch(i),
                WriteOptions {
                    durability: Some(Durability::Remote),
                },
            )
            .await
            .unwrap();
    }
    follower.refresh().await.unwrap();
    assert_eq!(follower.follow_status().unwrap().applied_seq, last);
    assert!(follower.metrics().memtable_bytes > 100_000);
    writer.flush().await.unwrap();
    follower.refresh().await.unwrap();
    assert_eq!(
        follower.metrics().memtable_bytes,
        0,
        "{:?}",
        follower.metrics()
    );
    let got = follower.multi_get(&keys()).await.unwrap();
    assert!(got.iter().all(|v| round(v.as_ref().unwrap()) == 200));
    // It keeps following after the swap.
    let seq = writer
        .write_with(
            batch(201),
            WriteOptions {
                durability: Some(Durability::Remote),
            },
        )
        .await
        .unwrap();
    follower.refresh().await.unwrap();
    assert_eq!(follower.follow_status().unwrap().applied_seq, seq);
    assert_eq!(round(&follower.get("key0").await.unwrap().unwrap()), 201);
}

/// A snapshot on a follower keeps reading the chunks it saw, across the
/// writer's overwrites, flushes and compactions.
#[tokio::test]
async fn a_follower_snapshot_survives_the_writers_compaction() {
    let env = TestDb::new(StoreKind::Memory, "follow-snapshot");
    let writer = Db::open(writer_options(env.options())).await.unwrap();
    writer.write(batch(1)).await.unwrap();
    writer.flush().await.unwrap();
    let follower = Db::open(follower_options(&env, "follower")).await.unwrap();
    let snap = follower.snapshot();
    for i in 2..=5 {
        writer.write(batch(i)).await.unwrap();
        writer.flush().await.unwrap();
    }
    writer.compact().await.unwrap();
    follower.refresh().await.unwrap();
    assert_eq!(round(&follower.get("key3").await.unwrap().unwrap()), 5);
    for v in snap.multi_get(&keys()).await.unwrap() {
        assert_eq!(round(&v.unwrap()), 1, "the snapshot moved");
    }
}

/// A plain read-only handle refreshes by itself (every `refresh_interval`)
/// and at once on `refresh()`.
#[tokio::test]
async fn a_read_only_handle_refreshes() {
    let env = TestDb::new(StoreKind::Memory, "follow-readonly");
    let writer = Db::open(writer_options(env.options())).await.unwrap();
    writer.write(batch(1)).await.unwrap();
    writer.flush().await.unwrap();
    let mut ro = env.options_with_local("reader");
    ro.read_only = true;
    ro.refresh_interval = Duration::from_millis(200);
    let reader = Db::open(ro).await.unwrap();
    assert_eq!(round(&reader.get("key0").await.unwrap().unwrap()), 1);
    writer.write(batch(2)).await.unwrap();
    writer.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while round(&reader.get("key0").await.unwrap().unwrap()) != 2 {
        assert!(Instant::now() < deadline, "the reader never refreshed");
        firn_store::clock::sleep(Duration::from_millis(20)).await;
    }
    let seq = writer
        .write_with(
            batch(3),
            WriteOptions {
                durability: Some(Durability::Remote),
            },
        )
        .await
        .unwrap();
    reader.refresh().await.unwrap();
    assert!(reader.follow_status().unwrap().applied_seq >= seq);
    assert_eq!(round(&reader.get("key0").await.unwrap().unwrap()), 3);
    // A writer is always current: refresh is a no-op there.
    writer.refresh().await.unwrap();
    assert_eq!(writer.follow_status(), None);
}

/// A read-only handle that fell behind the writer by longer than the grace
/// period (it never refreshed) finds a chunk collected under it: a clear
/// error naming the chunk, never a wrong value. It refreshes itself, and
/// its next reads are right.
#[tokio::test]
async fn a_reader_behind_the_grace_gets_a_clear_error_then_recovers() {
    let env = TestDb::new(StoreKind::Memory, "follow-collected");
    let writer = Db::open(writer_options(env.options())).await.unwrap();
    writer.write(batch(1)).await.unwrap();
    let old_chunks = writer.flush().await.unwrap();
    let mut ro = env.options_with_local("reader");
    ro.read_only = true;
    ro.refresh_interval = Duration::from_secs(3600);
    ro.gc_grace = Duration::ZERO;
    let reader = Db::open(ro).await.unwrap();
    writer.write(batch(2)).await.unwrap();
    writer.flush().await.unwrap();
    writer.compact().await.unwrap();
    let report = writer.gc(Duration::ZERO).await.unwrap();
    assert!(report.chunks_deleted >= 1, "{report:?}");
    let err = reader.get("key0").await.unwrap_err();
    let gone = old_chunks[0].object_name();
    assert!(
        matches!(&err, firn::Error::Collected { object, .. } if *object == gone),
        "{err:?}"
    );
    assert!(err.to_string().contains("retry the read"), "{err}");
    // It refreshes by itself: the next reads are right.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match reader.get("key0").await {
            Ok(v) => {
                assert_eq!(round(&v.unwrap()), 2);
                break;
            }
            Err(firn::Error::Collected { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "the reader never recovered");
        firn_store::clock::sleep(Duration::from_millis(20)).await;
    }
    let got = reader.multi_get(&keys()).await.unwrap();
    assert!(got.iter().all(|v| round(v.as_ref().unwrap()) == 2));
}

/// `Db::watch` returns every shipped batch in sequence order, across a
/// takeover (the new writer's fences are passed over), and then the new
/// writer's batches as they are shipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_sees_every_batch_across_a_takeover() {
    let remote = WriteOptions {
        durability: Some(Durability::Remote),
    };
    for kind in stores() {
        let env = TestDb::new(kind, "watch");
        let a = Db::open(writer_options(env.options())).await.unwrap();
        for i in 1..=3 {
            a.write_with(batch(i), remote).await.unwrap();
        }
        drop(a);
        let b = Db::open(writer_options(env.options_with_local("machine-b")))
            .await
            .unwrap();
        for i in 4..=5 {
            b.write_with(batch(i), remote).await.unwrap();
        }
        let mut ro = env.options_with_local("watcher");
        ro.read_only = true;
        let reader = Db::open(ro).await.unwrap();
        let mut watch = reader
            .watch(Some(0), Duration::from_millis(50))
            .await
            .unwrap();
        let mut next_seq = 1;
        for i in 1..=6u64 {
            if i == 6 {
                b.write_with(batch(6), remote).await.unwrap();
            }
            let (first, got) = tokio::time::timeout(Duration::from_secs(20), watch.next())
                .await
                .unwrap_or_else(|_| panic!("{kind}: batch {i} never came"))
                .unwrap();
            assert_eq!(first, next_seq, "{kind}: batch {i}");
            next_seq += got.len() as u64;
            for op in got.ops() {
                let firn::BatchOp::Put { value, .. } = op else {
                    panic!("{kind}: a delete")
                };
                assert_eq!(round(value), i, "{kind}");
            }
        }
        assert_eq!(watch.position(), next_seq - 1);
        drop(b);
    }
}

/// A follower keeps its own local directory: after a reopen, the local
/// index and disk cache it wrote answer its reads without a request to the
/// bucket, and no other process can use the directory at the same time.
#[tokio::test]
async fn a_follower_reuses_its_local_index_and_cache() {
    let env = TestDb::new(StoreKind::Memory, "follow-local");
    let writer = Db::open(writer_options(env.options())).await.unwrap();
    writer.write(batch(1)).await.unwrap();
    writer.flush().await.unwrap();
    let opts = follower_options(&env, "follower");
    let follower = Db::open(opts.clone()).await.unwrap();
    let got = follower.multi_get(&keys()).await.unwrap();
    assert!(got.iter().all(|v| round(v.as_ref().unwrap()) == 1));
    let err = Db::open(opts.clone()).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, firn::Error::Locked(_)), "{err:?}");
    // Blocks reach the disk cache in the background.
    firn_store::clock::sleep(Duration::from_millis(300)).await;
    drop(follower);
    let follower = Db::open(opts).await.unwrap();
    let before = follower.metrics().requests;
    let got = follower.multi_get(&keys()).await.unwrap();
    assert!(got.iter().all(|v| round(v.as_ref().unwrap()) == 1));
    let used = follower.metrics().requests.since(&before);
    assert_eq!(used.get, 0, "reads went to the bucket: {used:?}");
}

/// The writer runs in another process, on the S3 server (and `file://`),
/// writing continuously with `Remote` durability, and flushing, compacting
/// and collecting (with the follower's grace) as it goes; the follower here
/// never fails a read, never goes backwards, converges to the writer's last
/// write, and its lag stays under the poll interval plus a margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_of_a_writer_process_converges() {
    let mut kinds = vec![StoreKind::File];
    if s3_enabled("a_follower_of_a_writer_process_converges") {
        kinds.push(StoreKind::S3);
    }
    for kind in kinds {
        let env = TestDb::new(kind, "follow-process");
        let (mut w, open) = firn_tests::writer_process::WriterProcess::spawn(
            env!("CARGO_BIN_EXE_s3_writer"),
            "writer",
            &env.url,
            &env.local_dir,
        );
        assert!(open.starts_with("OPEN "), "{kind}: {open}");
        assert!(w.cmd("rput counter 0").starts_with("OK "), "{kind}");
        let mut fopts = follower_options(&env, "follower");
        fopts.gc_grace = Duration::from_secs(2);
        let follower = Db::open(fopts).await.unwrap();
        // The writer process, driven from a thread: 200 Remote writes, and
        // every 50 a flush, a full compaction and a collection with the
        // grace the follower was configured for.
        let driver = std::thread::spawn(move || {
            let mut deleted = 0u64;
            for i in 1..=200u32 {
                let answer = w.cmd(&format!("rput counter {i}"));
                assert!(answer.starts_with("OK "), "{answer}");
                w.cmd(&format!("rput pad{} {}", i % 20, "p".repeat(2000)));
                if i % 50 == 0 {
                    for command in ["flush", "compact"] {
                        let answer = w.cmd(command);
                        assert!(answer.starts_with("OK"), "{command}: {answer}");
                    }
                    deleted += w.ok_number("gc 2000");
                }
                if i == 150 {
                    // Past the grace: the versions the compactions replaced
                    // are collected while the follower reads on.
                    std::thread::sleep(Duration::from_millis(2200));
                    deleted += w.ok_number("gc 2000");
                }
            }
            (w, deleted)
        });
        let mut last = 0u64;
        let mut max_lag = 0u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while last < 200 {
            let value = follower
                .get("counter")
                .await
                .unwrap()
                .expect("written first");
            let seen: u64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
            assert!(seen >= last, "{kind}: went back from {last} to {seen}");
            last = seen;
            max_lag = max_lag.max(follower.follow_status().unwrap().lag_ms);
            assert!(Instant::now() < deadline, "{kind}: stuck at {last}");
            firn_store::clock::sleep(Duration::from_millis(5)).await;
        }
        let (w, deleted) = driver.join().expect("the writer process driver");
        eprintln!("{kind}: the writer's collections deleted {deleted} chunks meanwhile");
        assert!(
            deleted >= 1,
            "{kind}: the writer collected nothing under the follower"
        );
        // Lag: the poll interval (100 ms) plus a poll, with a wide margin
        // for a slow, shared test machine (the figures are in RESULTS.md).
        assert!(max_lag < 5_000, "{kind}: lag reached {max_lag} ms");
        eprintln!("{kind}: follower of a writer process, lag at most {max_lag} ms");
        assert_eq!(follower.follow_status().unwrap().last_error, None);
        w.kill();
    }
}

/// A read-only handle in another process, paused (SIGSTOP) for longer than
/// the GC grace period while the writer rewrites, compacts and collects
/// with zero grace: after SIGCONT, a read that needs a collected chunk is
/// the clear `Collected` error naming it; the handle refreshes by itself,
/// and every later read is right. No read ever returns a wrong value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_process_paused_past_the_grace_errs_clearly_then_recovers() {
    let mut kinds = vec![StoreKind::File];
    if s3_enabled("a_reader_process_paused_past_the_grace_errs_clearly_then_recovers") {
        kinds.push(StoreKind::S3);
    }
    const PAUSED_KEYS: usize = 40;
    // One key per block (values larger than the 512-byte blocks): a read of
    // a key the reader has not read yet always goes to the bucket.
    let value = |round: u32, i: usize| format!("v{round}-{i:02}-{}", "z".repeat(600));
    for kind in kinds {
        let env = TestDb::new(kind, "paused-reader");
        let writer = Db::open(writer_options(env.small_options())).await.unwrap();
        for i in 0..PAUSED_KEYS {
            writer.put(format!("p{i:02}"), value(1, i)).await.unwrap();
        }
        writer.flush().await.unwrap();
        let (mut reader, open) = firn_tests::writer_process::WriterProcess::spawn_reader(
            env!("CARGO_BIN_EXE_s3_writer"),
            "reader",
            &env.url,
            &env.root.path().join("reader"),
            1000,
        );
        assert!(open.starts_with("OPEN "), "{kind}: {open}");
        assert_eq!(reader.cmd("get p00"), format!("VAL {}", value(1, 0)));
        let signal = |sig: &str, pid: u32| {
            let status = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill {sig} {pid}");
        };
        signal("-STOP", reader.pid());
        for i in 0..PAUSED_KEYS {
            writer.put(format!("p{i:02}"), value(2, i)).await.unwrap();
        }
        writer.flush().await.unwrap();
        writer.compact().await.unwrap();
        let report = writer.gc(Duration::ZERO).await.unwrap();
        assert!(report.chunks_deleted >= 1, "{kind}: {report:?}");
        // Paused past the reader's grace period (1 s).
        firn_store::clock::sleep(Duration::from_millis(1500)).await;
        signal("-CONT", reader.pid());

        let mut collected = 0;
        let mut right = [false; PAUSED_KEYS];
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut i = 1;
        while right.iter().skip(1).any(|r| !r) {
            assert!(
                Instant::now() < deadline,
                "{kind}: the reader never recovered"
            );
            let answer = reader.cmd(&format!("get p{i:02}"));
            if answer.starts_with("ERR Collected") {
                assert!(
                    answer.contains("chunks/") && answer.contains("retry the read"),
                    "{kind}: the error does not name the chunk and what to do: {answer}"
                );
                collected += 1;
                firn_store::clock::sleep(Duration::from_millis(20)).await;
                continue;
            }
            assert_eq!(answer, format!("VAL {}", value(2, i)), "{kind}: p{i:02}");
            right[i] = true;
            i = i % (PAUSED_KEYS - 1) + 1;
        }
        assert!(collected >= 1, "{kind}: no read found its chunk collected");
        // p00 too, once refreshed.
        assert_eq!(reader.cmd("refresh").split(' ').next(), Some("OK"));
        assert_eq!(reader.cmd("get p00"), format!("VAL {}", value(2, 0)));
        eprintln!("{kind}: the paused reader saw {collected} Collected errors, then right values");
        reader.kill();
        writer.close().await.unwrap();
    }
}

firn_tests::on_every_store!(
    a_reader_behind_collected_versions_lists_rather_than_confirming_a_stale_one,
);

/// A read-only handle whose manifest was confirmed longer ago than the GC
/// grace period follows the manifest by LISTing: the versions after its
/// own may have been collected, and following `version + 1, + 2, ...`
/// would stop at the hole and confirm a stale version as current, so a read
/// of a collected chunk would look like corruption. Here the writer
/// rewrites, compacts and collects with zero grace between two of the
/// reader's periodic refreshes; after the refresh every read is right.
async fn a_reader_behind_collected_versions_lists_rather_than_confirming_a_stale_one(
    kind: StoreKind,
) {
    let env = TestDb::new(kind, "reader-behind");
    let value = |round: u32, i: usize| format!("v{round}-{i:02}-{}", "z".repeat(600));
    let writer = Db::open(writer_options(env.small_options())).await.unwrap();
    for i in 0..20 {
        writer.put(format!("p{i:02}"), value(1, i)).await.unwrap();
    }
    writer.flush().await.unwrap();

    let mut opts = env.options_with_local("reader");
    opts.read_only = true;
    opts.gc_grace = Duration::from_millis(400);
    opts.refresh_interval = Duration::from_millis(1500);
    let reader = Db::open(opts).await.unwrap();
    let opened = reader.manifest().version;

    for i in 0..20 {
        writer.put(format!("p{i:02}"), value(2, i)).await.unwrap();
    }
    writer.flush().await.unwrap();
    writer.compact().await.unwrap();
    let report = writer.gc(Duration::ZERO).await.unwrap();
    assert!(report.chunks_deleted >= 1, "{kind}: {report:?}");
    assert!(
        report.manifests_deleted >= 1,
        "{kind}: the versions after the reader's were collected: {report:?}"
    );
    // Past the reader's grace, and past its next periodic refresh.
    firn_store::clock::sleep(Duration::from_millis(2500)).await;
    assert!(
        reader.manifest().version > opened,
        "{kind}: the periodic refresh found the newest version"
    );
    for i in 0..20 {
        let got = reader.get(format!("p{i:02}")).await;
        assert_eq!(
            got.unwrap_or_else(|e| panic!("{kind}: p{i:02}: {e}"))
                .as_deref(),
            Some(value(2, i).as_bytes()),
            "{kind}: p{i:02}"
        );
    }
    reader.close().await.unwrap();
    writer.close().await.unwrap();
}

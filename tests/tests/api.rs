//! Behaviour tests of the public API.
//!
//! * Limits: an empty key, a key over 64 KiB and a value over
//!   `max_value_size` are `Error::InvalidArgument` naming the limit, and
//!   nothing is written (not even the valid ops of the same batch).
//! * Atomic batches: a reader scanning concurrently with a writer that sets N
//!   keys to one value per batch never sees half a batch, across flushes.
//! * Snapshot isolation across flushes; prefix scans (including 0xFF
//!   prefixes) over memtables and chunks.
//! * Read-only opens take no lock, write nothing (the objects folder and the
//!   local directory are byte-for-byte unchanged) and still see writes that
//!   are only in the WAL, both with the writer still open and after it was
//!   dropped without closing; they refuse writes.
//! * The writer lock (`Error::Locked`), invalid URLs and options. (A local
//!   directory of another database and `close()` flushing to the bucket are
//!   covered on every store by `reopen.rs`.)
//! * Backpressure and outages: the public API offers no way to slow down a
//!   `memory://` store, so these use a `file://` store whose `chunks/` folder
//!   is replaced by a plain file, which makes every chunk upload fail; writers
//!   stall instead of growing memory, nothing is lost, and writes resume once
//!   the folder is back. `close()` during an outage gives up after
//!   `close_timeout` and keeps the WAL.
//! * `memory://` survives close and reopen; the blocking wrapper works from a
//!   plain `#[test]`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use firn::{Db, Durability, Error, Options, WriteBatch, DEFAULT_MAX_KEY_SIZE};
use firn_tests::{collect, folder_contents, StoreKind, TestDb};

fn invalid_argument<T>(result: firn::Result<T>, needle: &str, what: &str) {
    match result {
        Err(Error::InvalidArgument(msg)) => {
            assert!(
                msg.contains(needle),
                "{what}: the message does not name {needle:?}: {msg}"
            );
        }
        Err(other) => panic!("{what}: expected InvalidArgument, got {other:?}"),
        Ok(_) => panic!("{what}: expected InvalidArgument, got success"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_empty_input_is_rejected_and_nothing_is_written() {
    let env = TestDb::file();
    let mut opts = env.options();
    opts.max_value_size = 1000;
    let db = env.open(opts).await;
    db.put("before", "x").await.expect("put");
    let before = db.metrics();

    let big_key = vec![b'k'; DEFAULT_MAX_KEY_SIZE + 1];
    invalid_argument(
        db.put(big_key.clone(), "v").await,
        "key size limit of 65536",
        "put of a 64 KiB + 1 key",
    );
    invalid_argument(
        db.delete(big_key.clone()).await,
        "key size limit",
        "delete of an oversized key",
    );
    invalid_argument(
        db.get(&big_key).await,
        "key size limit",
        "get of an oversized key",
    );
    invalid_argument(
        db.put("k", vec![0u8; 1001]).await,
        "value size limit of 1000",
        "put of an oversized value",
    );
    invalid_argument(db.put("", "v").await, "empty key", "put of an empty key");
    invalid_argument(db.delete("").await, "empty key", "delete of an empty key");
    invalid_argument(db.get("").await, "empty key", "get of an empty key");
    invalid_argument(
        db.write(WriteBatch::new()).await,
        "empty write batch",
        "an empty batch",
    );

    // One bad op spoils the whole batch: the good ops are not written either.
    let mut batch = WriteBatch::new();
    batch
        .put("good-1", "v")
        .put("bad", vec![0u8; 1001])
        .put("good-2", "v");
    invalid_argument(
        db.write(batch).await,
        "op 1",
        "a batch with one oversized value",
    );
    let mut batch = WriteBatch::new();
    batch.put("good-3", "v").delete(big_key.clone());
    invalid_argument(
        db.write(batch).await,
        "Options::max_key_size",
        "a batch with one oversized key",
    );

    // A key of exactly the limit and a value of exactly the limit are fine.
    let max_key = vec![b'm'; DEFAULT_MAX_KEY_SIZE];
    db.put(max_key.clone(), vec![1u8; 1000])
        .await
        .expect("limits are inclusive");

    let after = db.metrics();
    assert_eq!(
        after.batches,
        before.batches + 1,
        "rejected writes must not commit batches"
    );
    for k in ["good-1", "good-2", "good-3", "k", "bad"] {
        assert_eq!(
            db.get(k).await.expect("get"),
            None,
            "rejected key {k} was written"
        );
    }
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    let keys: Vec<&[u8]> = all.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"before"[..], &max_key[..]]);
    db.close().await.expect("close");

    // The default value limit is 64 MiB.
    let env = TestDb::new(StoreKind::Memory, "limits");
    let db = env.open(env.options()).await;
    let huge = vec![0u8; firn::DEFAULT_MAX_VALUE_SIZE + 1];
    invalid_argument(
        db.put("k", huge).await,
        "value size limit of 67108864",
        "put of a 64 MiB + 1 value",
    );
    assert_eq!(db.metrics().batches, 0);
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_urls_and_options_are_rejected() {
    let env = TestDb::file();
    for url in [
        "ftp://bucket/x",
        "file://relative/path",
        "nonsense",
        "memory://a/b",
    ] {
        let opts = Options::new(url, env.local_dir.clone());
        invalid_argument(Db::open(opts).await, url, &format!("open of {url}"));
    }
    let mut opts = env.options();
    opts.memtable_size = 4095;
    invalid_argument(
        Db::open(opts).await,
        "memtable_size",
        "a 4095-byte memtable",
    );
    let mut opts = env.options();
    opts.block_size = 100;
    invalid_argument(Db::open(opts).await, "block_size", "100-byte blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_of_a_missing_database_is_refused_and_creates_nothing() {
    let env = TestDb::file();
    let objects = env.objects_dir().expect("file store");
    invalid_argument(
        Db::open(env.options().read_only(true)).await,
        "no Firn database",
        "read-only open of a store that does not exist",
    );
    assert!(
        !env.local_dir.exists(),
        "a read-only open created the local directory"
    );
    assert!(
        !objects.exists(),
        "a read-only open created the bucket folder {}: {:?}",
        objects.display(),
        folder_contents(&objects).keys().collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_url_changes_nothing_on_disk() {
    let env = TestDb::file();
    let opts = Options::new("s3:/missing-slash", env.local_dir.clone());
    invalid_argument(
        Db::open(opts).await,
        "s3:/missing-slash",
        "open of a malformed URL",
    );
    assert!(
        !env.local_dir.exists(),
        "an open refused for its URL created the local directory {}",
        env.local_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_half_a_batch() {
    const N: usize = 20;
    const BATCHES: usize = 400;
    let env = TestDb::file();
    let db = env.open(env.small_options()).await;
    let key = |i: usize| format!("atomic/{i:02}");
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let db = db.clone();
        let done = done.clone();
        tokio::spawn(async move {
            for round in 0..BATCHES {
                let mut batch = WriteBatch::new();
                let value = format!("{round:06}-{}", "p".repeat(round % 97));
                for i in 0..N {
                    batch.put(key(i), value.clone());
                }
                // Unrelated traffic in between, so batches straddle flushes.
                batch.put(format!("other/{round}"), vec![7u8; 200]);
                db.write(batch).await.expect("write");
            }
            done.store(true, Ordering::Release);
        })
    };

    let mut reads = 0usize;
    let mut seen_rounds = std::collections::BTreeSet::new();
    loop {
        let finished = done.load(Ordering::Acquire);
        // A scan...
        let rows = collect(db.scan_prefix("atomic/").expect("scan"))
            .await
            .expect("scan");
        if !rows.is_empty() {
            assert_eq!(
                rows.len(),
                N,
                "a scan saw {} of the {N} keys of a batch",
                rows.len()
            );
            let first = &rows[0].1;
            assert!(
                rows.iter().all(|(_, v)| v == first),
                "a scan saw a mix of batches: {rows:?}"
            );
            seen_rounds.insert(first.clone());
        }
        // ...and point reads through a snapshot.
        let snap = db.snapshot();
        let mut values = Vec::new();
        for i in 0..N {
            values.push(snap.get(key(i)).await.expect("snapshot get"));
        }
        assert!(
            values.iter().all(|v| v == &values[0]),
            "a snapshot saw a mix of batches"
        );
        reads += 1;
        if finished {
            break;
        }
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer task");
    let m = db.metrics();
    assert!(
        m.flushes >= 3,
        "the test needs flushes during the run: {m:?}"
    );
    assert!(
        seen_rounds.len() >= 2,
        "the reader saw only {} distinct batches in {reads} reads",
        seen_rounds.len()
    );
    let last = format!("{:06}-", BATCHES - 1);
    let rows = collect(db.scan_prefix("atomic/").expect("scan"))
        .await
        .expect("scan");
    assert!(rows.iter().all(|(_, v)| v.starts_with(last.as_bytes())));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_isolated_across_flushes() {
    let env = TestDb::file();
    let db = env.open(env.small_options()).await;
    for i in 0..100 {
        db.put(format!("k{i:03}"), format!("v1-{i}"))
            .await
            .expect("put");
    }
    let snap = db.snapshot();
    let want_then: Vec<(Vec<u8>, Vec<u8>)> = (0..100)
        .map(|i| {
            (
                format!("k{i:03}").into_bytes(),
                format!("v1-{i}").into_bytes(),
            )
        })
        .collect();
    // Overwrite half, delete a quarter, add new keys; flush several times.
    for i in 0..100 {
        match i % 4 {
            0 | 1 => db
                .put(format!("k{i:03}"), format!("v2-{i}"))
                .await
                .expect("put"),
            2 => db.delete(format!("k{i:03}")).await.expect("delete"),
            _ => {}
        }
        db.put(format!("n{i:03}"), vec![b'n'; 300])
            .await
            .expect("put");
        if i % 30 == 0 {
            db.flush().await.expect("flush");
        }
    }
    db.flush().await.expect("flush");
    let m = db.metrics();
    assert_eq!(m.memtable_bytes, 0, "everything should be in chunks now");
    assert!(m.l0_chunks + m.run_chunks >= 1, "expected chunks: {m:?}");

    // The snapshot still sees exactly the first state, now read from chunks.
    let then = collect(snap.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    assert_eq!(then, want_then, "the snapshot's view changed");
    assert_eq!(
        snap.get("k002").await.expect("get").as_deref(),
        Some(&b"v1-2"[..])
    );
    assert_eq!(snap.get("n000").await.expect("get"), None);
    assert_eq!(
        collect(snap.scan_prefix("n").expect("scan"))
            .await
            .expect("scan"),
        vec![]
    );

    // The current view sees the new state.
    assert_eq!(
        db.get("k000").await.expect("get").as_deref(),
        Some(&b"v2-0"[..])
    );
    assert_eq!(db.get("k002").await.expect("get"), None);
    assert_eq!(
        db.get("k003").await.expect("get").as_deref(),
        Some(&b"v1-3"[..])
    );
    assert_eq!(
        collect(db.scan_prefix("n").expect("scan"))
            .await
            .expect("scan")
            .len(),
        100
    );
    assert_eq!(
        collect(db.scan_prefix("k").expect("scan"))
            .await
            .expect("scan")
            .len(),
        75
    );
    // A snapshot taken now is frozen too.
    let snap2 = db.snapshot();
    assert!(snap2.seq() > snap.seq());
    db.put("k002", "v3").await.expect("put");
    assert_eq!(snap2.get("k002").await.expect("get"), None);
    assert_eq!(
        snap.get("k002").await.expect("get").as_deref(),
        Some(&b"v1-2"[..])
    );
    drop((snap, snap2));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_scans_cover_memtables_and_chunks() {
    let env = TestDb::new(StoreKind::Memory, "prefix");
    let db = env.open(env.small_options()).await;
    let keys: [&[u8]; 12] = [
        b"a",
        b"ab",
        b"ab\x00",
        b"abc",
        b"abd",
        b"ab\xff",
        b"ab\xff\xff",
        b"ac",
        b"b",
        b"\xff",
        b"\xff\xff",
        b"\xff\x00",
    ];
    for (i, k) in keys.iter().enumerate() {
        db.put(k.to_vec(), format!("v{i}")).await.expect("put");
        if i == 5 {
            db.flush().await.expect("flush"); // half in a chunk, half in the memtable
        }
    }
    db.delete(&b"abd"[..]).await.expect("delete");
    let prefix = |p: &'static [u8]| {
        let db = db.clone();
        async move {
            let rows = collect(db.scan_prefix(p).expect("scan"))
                .await
                .expect("scan");
            rows.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
        }
    };
    let v = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
    assert_eq!(
        prefix(b"ab").await,
        v(&[b"ab", b"ab\x00", b"abc", b"ab\xff", b"ab\xff\xff"])
    );
    assert_eq!(prefix(b"ab\xff").await, v(&[b"ab\xff", b"ab\xff\xff"]));
    assert_eq!(
        prefix(b"\xff").await,
        v(&[b"\xff", b"\xff\x00", b"\xff\xff"])
    );
    assert_eq!(prefix(b"\xff\xff").await, v(&[b"\xff\xff"]));
    assert_eq!(prefix(b"abd").await, v(&[]));
    assert_eq!(prefix(b"c").await, v(&[]));
    assert_eq!(prefix(b"").await.len(), keys.len() - 1);
    // The same after everything is flushed and the database reopened.
    db.close().await.expect("close");
    let db = env.open(env.small_options()).await;
    let rows = collect(db.scan_prefix(b"ab").expect("scan"))
        .await
        .expect("scan");
    let got: Vec<Vec<u8>> = rows.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        v(&[b"ab", b"ab\x00", b"abc", b"ab\xff", b"ab\xff\xff"])
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_open_takes_no_lock_writes_nothing_and_sees_the_wal() {
    let env = TestDb::file();
    let objects = env.objects_dir().expect("file store");
    // Some data in chunks, more only in the WAL of a writer that stays open.
    let writer = env.open(env.options().durability(Durability::Sync)).await;
    writer.put("flushed", "in a chunk").await.expect("put");
    writer.flush().await.expect("flush");
    writer.put("wal-only", "in the WAL").await.expect("put");
    writer.delete("flushed").await.expect("delete");

    let objects_before = folder_contents(&objects);
    let local_before = folder_contents(&env.local_dir);
    let reader = env.open(env.options().read_only(true)).await;
    assert_eq!(
        reader.get("wal-only").await.expect("get").as_deref(),
        Some(&b"in the WAL"[..])
    );
    assert_eq!(
        reader.get("flushed").await.expect("get"),
        None,
        "the reader missed a WAL delete"
    );
    assert_eq!(reader.epoch(), 0);
    assert!(
        matches!(reader.put("x", "y").await, Err(Error::ReadOnly)),
        "a read-only handle accepted a put"
    );
    assert!(matches!(reader.delete("x").await, Err(Error::ReadOnly)));
    assert!(matches!(reader.flush().await, Err(Error::ReadOnly)));
    // A second reader at the same time is fine too (no lock).
    let reader2 = env.open(env.options().read_only(true)).await;
    assert_eq!(
        reader2.get("wal-only").await.expect("get").as_deref(),
        Some(&b"in the WAL"[..])
    );
    reader2.close().await.expect("close reader");
    reader.close().await.expect("close reader");
    assert_eq!(
        folder_contents(&objects),
        objects_before,
        "a read-only open changed the objects folder"
    );
    assert_eq!(
        folder_contents(&env.local_dir),
        local_before,
        "a read-only open changed the local directory"
    );

    // The writer is unaffected; then it goes away without closing.
    writer.put("late", "also WAL only").await.expect("put");
    drop(writer);
    let objects_before = folder_contents(&objects);
    let local_before = folder_contents(&env.local_dir);
    let reader = env.open(env.options().read_only(true)).await;
    assert_eq!(
        reader.get("late").await.expect("get").as_deref(),
        Some(&b"also WAL only"[..])
    );
    assert_eq!(
        reader.get("wal-only").await.expect("get").as_deref(),
        Some(&b"in the WAL"[..])
    );
    let all = collect(reader.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    assert_eq!(all.len(), 2);
    drop(reader);
    assert_eq!(
        folder_contents(&objects),
        objects_before,
        "a read-only open changed the objects folder"
    );
    assert_eq!(
        folder_contents(&env.local_dir),
        local_before,
        "a read-only open changed the local directory"
    );
    // And a writer can open while nobody holds the lock.
    let db = env.open(env.options()).await;
    assert_eq!(
        db.get("late").await.expect("get").as_deref(),
        Some(&b"also WAL only"[..])
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_same_local_dir_is_locked_out() {
    let env = TestDb::file();
    let db = env.open(env.options()).await;
    db.put("k", "v").await.expect("put");
    match Db::open(env.options()).await {
        Err(Error::Locked(dir)) => assert_eq!(dir, env.local_dir),
        other => panic!(
            "expected Error::Locked, got {:?}",
            other.map(|_| "an open handle")
        ),
    }
    // The first writer is undisturbed.
    db.put("k2", "v2")
        .await
        .expect("put after the refused open");
    assert_eq!(db.get("k").await.expect("get").as_deref(), Some(&b"v"[..]));
    db.close().await.expect("close");
    // Once closed, the lock is free.
    let db = env.open(env.options()).await;
    assert_eq!(
        db.get("k2").await.expect("get").as_deref(),
        Some(&b"v2"[..])
    );
    drop(db);
    // Dropping without close releases it too.
    let db = env.open(env.options()).await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_survives_close_and_reopen() {
    let env = TestDb::new(StoreKind::Memory, "survives");
    let db = env.open(env.small_options()).await;
    for i in 0..300 {
        db.put(format!("m{i:03}"), vec![b'x'; i])
            .await
            .expect("put");
    }
    db.delete("m007").await.expect("delete");
    db.close().await.expect("close");
    // Another local directory: the data must come from the memory store.
    let other_local = env.root.path().join("other-local");
    let db = Db::open(Options::new(env.url.clone(), other_local))
        .await
        .expect("reopen");
    assert_eq!(
        db.get("m299").await.expect("get").map(|v| v.len()),
        Some(299)
    );
    assert_eq!(db.get("m007").await.expect("get"), None);
    assert_eq!(
        collect(db.scan::<&[u8], _>(..).expect("scan"))
            .await
            .expect("scan")
            .len(),
        299
    );
    db.close().await.expect("close");
    // A different name is a different (empty) store.
    let other = TestDb::new(StoreKind::Memory, "survives");
    let db = other.open(other.options()).await;
    assert_eq!(db.get("m299").await.expect("get"), None);
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stall_while_uploads_fail_and_resume_without_loss() {
    let env = TestDb::file();
    let mut opts = env.options();
    opts.memtable_size = 4096;
    opts.max_frozen_memtables = 1;
    opts.retry_delay = Duration::from_millis(5);
    opts.max_retry_delay = Duration::from_millis(20);
    let db = env.open(opts).await;
    env.block_chunk_uploads();

    const KEYS: usize = 60;
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..KEYS {
                db.put(format!("bp{i:03}"), vec![i as u8; 500])
                    .await
                    .expect("put");
            }
        })
    };
    // 60 x ~600 bytes is far more than one memtable plus one frozen one: the
    // writer must stall.
    firn_store::clock::sleep(Duration::from_millis(800)).await;
    assert!(
        !writer.is_finished(),
        "the writer finished although no chunk could be uploaded"
    );
    let m = db.metrics();
    assert_eq!(m.frozen_memtables, 1, "{m:?}");
    assert!(
        m.memtable_bytes <= 2 * (4096 + 600),
        "memory grew past the budget while stalled: {} bytes",
        m.memtable_bytes
    );
    assert!(m.upload_retries > 0, "no upload was retried: {m:?}");
    let status = db.upload_status().expect("the upload problem is reported");
    assert!(status.contains("chunk upload"), "{status}");
    // Reads work during the outage.
    assert_eq!(
        db.get("bp000").await.expect("get").map(|v| v.len()),
        Some(500)
    );

    // The store comes back: the writer finishes and nothing was lost.
    env.unblock_chunk_uploads();
    tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("the writer did not resume after the store came back")
        .expect("writer task");
    let m = db.metrics();
    assert!(m.write_stalls >= 1, "{m:?}");
    db.flush().await.expect("flush");
    assert_eq!(db.upload_status(), None);
    db.close().await.expect("close");
    let db = env.open(env.options()).await;
    for i in 0..KEYS {
        assert_eq!(
            db.get(format!("bp{i:03}")).await.expect("get").as_deref(),
            Some(&vec![i as u8; 500][..])
        );
    }
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_during_an_outage_times_out_and_keeps_the_wal() {
    let env = TestDb::file();
    let mut opts = env.options();
    opts.close_timeout = Duration::from_millis(300);
    opts.retry_delay = Duration::from_millis(5);
    opts.max_retry_delay = Duration::from_millis(20);
    let db = env.open(opts).await;
    env.block_chunk_uploads();
    for i in 0..50 {
        db.put(format!("o{i:02}"), format!("v{i}"))
            .await
            .expect("put");
    }
    let started = std::time::Instant::now();
    let err = db
        .close()
        .await
        .expect_err("close cannot flush while uploads fail");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "close took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Closed(Some(_))), "{err:?}");
    assert!(err.to_string().contains("WAL is kept"), "{err}");
    env.unblock_chunk_uploads();
    let db = env.open(env.options()).await;
    for i in 0..50 {
        assert_eq!(
            db.get(format!("o{i:02}")).await.expect("get"),
            Some(format!("v{i}").into())
        );
    }
    db.close().await.expect("close");
}

#[test]
fn blocking_wrapper_works_without_a_runtime() {
    let env = TestDb::file();
    let db = firn::blocking::Db::open(env.small_options()).expect("open");
    for i in 0..200 {
        db.put(format!("b{i:03}"), format!("v{i}")).expect("put");
    }
    db.delete("b100").expect("delete");
    let mut batch = WriteBatch::new();
    batch.put("b999", "last").delete("b000");
    db.write(batch).expect("write");
    db.flush().expect("flush");
    assert_eq!(db.get("b001").expect("get").as_deref(), Some(&b"v1"[..]));
    assert_eq!(db.get("b100").expect("get"), None);
    let many = db.multi_get(&["b100", "b001"]).expect("multi_get");
    assert_eq!(many, vec![None, Some(firn::Bytes::from_static(b"v1"))]);
    let rows: Vec<_> = db
        .scan_prefix("b")
        .expect("scan")
        .collect::<firn::Result<_>>()
        .expect("scan");
    assert_eq!(rows.len(), 199);
    assert_eq!(&rows[0].0[..], b"b001");
    let some: Vec<_> = db
        .scan("b010".as_bytes().."b013".as_bytes())
        .expect("scan")
        .map(|r| r.expect("row").0)
        .collect();
    assert_eq!(some, vec!["b010", "b011", "b012"]);
    assert!(db.metrics().flushes >= 1);
    db.close().expect("close");
    let db = firn::blocking::Db::open(env.options()).expect("reopen");
    assert_eq!(db.get("b999").expect("get").as_deref(), Some(&b"last"[..]));
    db.close().expect("close");
}

/// After `close()` returns nothing more lands in the database's folders, so
/// they can be deleted at once: background flushes hand their blocks to the
/// disk cache in the background, and close stops and waits for that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_written_after_close_returns() {
    for round in 0..4 {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(format!("db{round}"));
        let mut opts = Options::embedded(&dir).unwrap();
        opts.memtable_size = 512 << 10;
        opts.block_size = 1024;
        opts.flush_on_close = round % 2 == 0;
        let db = Db::open(opts).await.unwrap();
        let value = vec![7u8; 200];
        for i in 0..12_000u32 {
            db.put(format!("key{i:08}"), value.clone()).await.unwrap();
        }
        db.close().await.unwrap();
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            let left: Vec<_> = folder_contents(&dir).into_keys().collect();
            panic!("round {round}: removing the folder after close: {e}; left: {left:?}");
        }
    }
}

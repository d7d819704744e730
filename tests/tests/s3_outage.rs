//! An S3 outage mid-load loses nothing (its own test binary: it freezes the
//! S3 server every other S3 test uses, and test binaries run one at a time).
//!
//! A writer puts continuously (`Durability::Buffered` and `Durability::Sync`
//! in turn: both are local acknowledgements; small memtables, at
//! most two frozen ones: a small memory budget) while the S3 server of the
//! test run is frozen with SIGSTOP — a server that accepts connections and
//! never answers, the worst kind of outage. With short store timeouts and few
//! retries the failures surface quickly. While it is frozen: writes go on
//! into the WAL and memtables until the budget is used, then stall (no write
//! makes progress, none returns an error), memory stays within the budget,
//! `Db::upload_status()` reports the problem, and reads of local data keep
//! working. After SIGCONT uploads resume, the stalled writes complete
//! (`Metrics::write_stalls` counts the stall), and every acknowledged write
//! is readable — also after close and a reopen with an empty local
//! directory, so it is in the bucket.
//!
//! The server's pid comes from `FIRN_S3_SERVER_PID` (set by
//! `scripts/test.sh`); without it (a developer's own server) the test skips
//! with a message. A guard sends SIGCONT on drop, so a failing test never
//! leaves the server frozen.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firn::{Db, Durability};
use firn_tests::{collect, s3_enabled, StoreKind, TestDb};

/// Keeps the S3 server frozen (SIGSTOP) until dropped (SIGCONT).
struct Frozen {
    pid: libc::pid_t,
}

impl Frozen {
    fn new(pid: libc::pid_t) -> Frozen {
        signal(pid, libc::SIGSTOP);
        Frozen { pid }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.pid, libc::SIGCONT);
    }
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    #[allow(
        unsafe_code,
        reason = "sending a signal to the test's own child server process"
    )]
    // SAFETY: kill(2) has no memory-safety preconditions; pid is the S3 server this test started.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "signal {sig} to the S3 server (pid {pid}): {}",
        std::io::Error::last_os_error()
    );
}

/// The pid of the test run's S3 server, if it is one we may freeze.
fn server_pid() -> Option<libc::pid_t> {
    let text = std::env::var("FIRN_S3_SERVER_PID").ok()?;
    let pid: libc::pid_t = text.trim().parse().ok()?;
    // Never signal a process that is not the server scripts/test.sh started.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("moto_server")
        .then_some(pid)
}

fn value(i: u64) -> Vec<u8> {
    format!("{i:08}-{}", "v".repeat(1000)).into_bytes()
}

/// The writer's progress, shared with the test.
#[derive(Default)]
struct Progress {
    acked: AtomicU64,
    longest_write_micros: AtomicU64,
    error: Mutex<Option<String>>,
    stop: AtomicBool,
    /// While set, the writer waits between writes (and says so in `idle`).
    pause: AtomicBool,
    idle: AtomicBool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stall_during_an_s3_outage_and_nothing_is_lost() {
    if !s3_enabled("writes_stall_during_an_s3_outage_and_nothing_is_lost") {
        return;
    }
    let Some(pid) = server_pid() else {
        eprintln!(
            "skipped writes_stall_during_an_s3_outage_and_nothing_is_lost: FIRN_S3_SERVER_PID \
             does not name the moto server scripts/test.sh started (your own S3 server is \
             not frozen by this test)"
        );
        return;
    };
    let env = TestDb::new(StoreKind::S3, "outage");
    let mut opts = env.options().durability(Durability::Buffered);
    opts.memtable_size = 32 << 10;
    opts.max_frozen_memtables = 2;
    opts.block_size = 4096;
    opts.retry_delay = Duration::from_millis(20);
    opts.max_retry_delay = Duration::from_millis(200);
    opts.close_timeout = Duration::from_secs(60);
    opts.store.request_timeout = Duration::from_millis(500);
    opts.store.io_timeout = Duration::from_millis(500);
    opts.store.max_retries = 1;
    opts.store.retry_min_delay = Duration::from_millis(10);
    opts.store.retry_max_delay = Duration::from_millis(50);
    let budget = opts.memtable_size * (opts.max_frozen_memtables + 1);
    let db = env.open(opts.clone()).await;

    let progress = Arc::new(Progress::default());
    let writer = {
        let (db, progress) = (db.clone(), progress.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !progress.stop.load(Ordering::Acquire) {
                if progress.pause.load(Ordering::Acquire) {
                    progress.idle.store(true, Ordering::Release);
                    firn_store::clock::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                progress.idle.store(false, Ordering::Release);
                let started = Instant::now();
                let mut batch = firn::WriteBatch::new();
                batch.put(format!("key{i:08}"), value(i));
                let durability = if i.is_multiple_of(2) {
                    Durability::Buffered
                } else {
                    Durability::Sync
                };
                let write = firn::WriteOptions {
                    durability: Some(durability),
                };
                if let Err(e) = db.write_with(batch, write).await {
                    *progress.error.lock().unwrap() = Some(format!("put {i}: {e}"));
                    return;
                }
                let micros = started.elapsed().as_micros() as u64;
                progress
                    .longest_write_micros
                    .fetch_max(micros, Ordering::Relaxed);
                i += 1;
                progress.acked.store(i, Ordering::Release);
            }
        })
    };
    let error = |p: &Progress| p.error.lock().unwrap().clone();

    // Healthy for a moment: flushes go through.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.metrics().flushes < 3 {
        assert!(Instant::now() < deadline, "no flush before the outage");
        assert_eq!(error(&progress), None);
        firn_store::clock::sleep(Duration::from_millis(20)).await;
    }
    // Uploads keep the writer at its budget all the time (S3 is slower than
    // the WAL): pause it until the frozen memtables are uploaded, so the
    // outage starts with room to spare.
    progress.pause.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !progress.idle.load(Ordering::Acquire) || db.metrics().frozen_memtables > 0 {
        assert!(Instant::now() < deadline, "the uploads did not catch up");
        firn_store::clock::sleep(Duration::from_millis(10)).await;
    }
    let before_outage = progress.acked.load(Ordering::Acquire);

    let frozen = Frozen::new(pid);
    // A Remote write during the outage: acknowledged only once in the
    // bucket, so it waits (while buffered writes go on, within the budget).
    let remote = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut batch = firn::WriteBatch::new();
            batch.put("remote-during-outage", "shipped after");
            let opts = firn::WriteOptions {
                durability: Some(Durability::Remote),
            };
            db.write_with(batch, opts).await
        })
    };
    progress.pause.store(false, Ordering::Release);
    let frozen_at = Instant::now();
    // Writes continue into the WAL and memtables until the budget is used,
    // then stall: no progress for a second, while the upload problem shows.
    let mut last = progress.acked.load(Ordering::Acquire);
    let mut still_since = Instant::now();
    loop {
        firn_store::clock::sleep(Duration::from_millis(50)).await;
        assert_eq!(error(&progress), None, "a write failed during the outage");
        let now = progress.acked.load(Ordering::Acquire);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
        if still_since.elapsed() >= Duration::from_secs(1) && db.upload_status().is_some() {
            break;
        }
        assert!(
            frozen_at.elapsed() < Duration::from_secs(30),
            "the writer did not stall with an upload problem reported within 30s: {} writes \
             since the outage began, status {:?}, {:?}",
            now - before_outage,
            db.upload_status(),
            db.metrics()
        );
    }
    let stalled_at = progress.acked.load(Ordering::Acquire);
    assert!(
        stalled_at > before_outage,
        "no write got into the WAL and memtables while the server was down"
    );
    assert!(
        !remote.is_finished(),
        "a Remote write was acknowledged while the bucket was unreachable"
    );
    let m = db.metrics();
    let status = db.upload_status().expect("the outage is reported");
    eprintln!(
        "outage: {} writes before, {} during, then stalled; status {status:?}; {m:?}",
        before_outage,
        stalled_at - before_outage
    );
    assert_eq!(
        m.frozen_memtables, opts.max_frozen_memtables as u64,
        "stalled without a full set of frozen memtables: {m:?}"
    );
    assert!(
        m.memtable_bytes <= (budget + 2 * 1100) as u64,
        "memory grew past the budget of {budget} bytes while stalled: {m:?}"
    );
    // Reads of local data keep working (the newest write is in a memtable).
    let newest = stalled_at - 1;
    let got = tokio::time::timeout(Duration::from_secs(5), db.get(format!("key{newest:08}")))
        .await
        .expect("a read of local data hung during the outage")
        .expect("get");
    assert_eq!(got.as_deref(), Some(&value(newest)[..]));

    // The server comes back: uploads resume, the writer goes on.
    drop(frozen);
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress.acked.load(Ordering::Acquire) < stalled_at + 300 {
        assert_eq!(error(&progress), None, "a write failed after the outage");
        assert!(
            Instant::now() < deadline,
            "the writer did not resume after the server came back: {:?}, status {:?}",
            db.metrics(),
            db.upload_status()
        );
        firn_store::clock::sleep(Duration::from_millis(20)).await;
    }
    // The Remote write went through once the bucket answered again.
    tokio::time::timeout(Duration::from_secs(60), remote)
        .await
        .expect("the Remote write did not complete after the outage")
        .expect("remote task")
        .expect("the Remote write");
    progress.stop.store(true, Ordering::Release);
    writer.await.expect("writer task");
    assert_eq!(error(&progress), None);
    let acked = progress.acked.load(Ordering::Acquire);
    let m = db.metrics();
    assert!(m.write_stalls >= 1, "no stall was counted: {m:?}");
    let longest = Duration::from_micros(progress.longest_write_micros.load(Ordering::Relaxed));
    assert!(
        longest >= Duration::from_millis(500),
        "no write waited through the outage (longest {longest:?})"
    );
    assert!(m.upload_retries > 0, "{m:?}");
    db.flush().await.expect("flush after the outage");
    assert_eq!(db.upload_status(), None, "uploads are healthy again");
    for i in (0..acked).step_by(97).chain([acked - 1]) {
        assert_eq!(
            db.get(format!("key{i:08}")).await.expect("get").as_deref(),
            Some(&value(i)[..]),
            "acknowledged write {i} is missing"
        );
    }
    db.close().await.expect("close");

    // Everything acknowledged is in the bucket: an empty local directory.
    let db: Db = env.open(env.options_with_local("after-outage")).await;
    let mut all: BTreeMap<Vec<u8>, Vec<u8>> = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan")
        .into_iter()
        .collect();
    assert_eq!(
        all.remove(&b"remote-during-outage"[..]).as_deref(),
        Some(&b"shipped after"[..]),
        "the Remote write is in the bucket"
    );
    assert_eq!(
        all.len() as u64,
        acked,
        "{} of {acked} acknowledged writes are in the bucket",
        all.len()
    );
    for i in 0..acked {
        assert_eq!(
            all.get(format!("key{i:08}").as_bytes()).map(Vec::as_slice),
            Some(&value(i)[..]),
            "acknowledged write {i} is not in the bucket"
        );
    }
    db.close().await.expect("close");
}

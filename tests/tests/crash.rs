//! Crash test: an acknowledged `Durability::Sync` write survives `kill -9`
//! and a power loss.
//!
//! A child process (the `crash_writer` binary of this package) opens the
//! database with sync durability and a tiny memtable, runs several concurrent
//! writer tasks (half of them writing with `Durability::Buffered`) and prints
//! every batch before submitting it and every acknowledgement after it
//! returns, with the WAL position synced at that moment. The parent kills it
//! with SIGKILL at a seeded random moment (after a random number of
//! acknowledgements, or in the middle of opening), reopens the database
//! in-process and checks that
//!
//! * every acknowledged batch is there with its values (after a power loss:
//!   every batch acknowledged with `Durability::Sync`),
//! * every batch that was submitted but not acknowledged is there entirely or
//!   not at all (atomicity), and stays that way in later rounds,
//! * no key appears that no batch wrote.
//!
//! SIGKILL keeps the page cache, so the power-loss variant also cuts the WAL
//! segment named by the highest reported synced position back to that length
//! and deletes every newer segment (files never reported as synced) before
//! reopening: every acknowledged sync write must still be there.
//!
//! Several rounds run on one database, so later children recover what earlier
//! ones left behind (WAL replay, torn tails, half-finished flushes). Set
//! `FIRN_CRASH_SEED` to replay one seed.
//!
//! Every case runs on `file://`, `memory://` and the S3 server of the test
//! run (fewer rounds there; skipped with a message when
//! `FIRN_TEST_S3_ENDPOINT` is unset, failing then if `FIRN_REQUIRE_S3` is). A
//! `memory://` store lives inside one process, so on memory the writer runs
//! in-process instead, on a runtime of its own that is shut down at the kill
//! moment: every task stops at its next await point, the handle is dropped
//! without closing, and only what reached the local WAL and the store
//! survives (the power-loss variant then cuts the WAL as above).
//!
//! A deterministic in-process case covers a second crash that comes before
//! the writes recovered from the WAL have reached the bucket (chunk uploads
//! are made to fail so the window cannot close by chance: on `file://` the
//! `chunks/` folder is replaced by a file; on memory and S3 a fault-injecting
//! layer fails every write under `chunks/`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use firn::Db;
use firn_tests::faults::{FaultConfig, FaultLayer};
use firn_tests::{collect, files_in, s3_enabled, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Concurrent writer tasks in the child.
const WRITERS: u64 = 8;
/// A round that takes longer than this has hung.
const ROUND_DEADLINE: Duration = Duration::from_secs(60);

/// When the parent kills the child.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// This long after spawning it (usually while it opens and recovers).
    Delay(Duration),
    /// After this many acknowledgements.
    Acks(usize),
}

type Pairs = Vec<(String, String)>;

/// What the child reported before it died.
#[derive(Default)]
struct ChildLog {
    opened: bool,
    /// Every batch the child submitted, in submission order per writer.
    begun: BTreeMap<String, Pairs>,
    /// The batches acknowledged with `Durability::Sync`.
    acked_sync: BTreeSet<String>,
    /// The batches acknowledged with `Durability::Buffered`.
    acked_buffered: BTreeSet<String>,
    /// The highest (segment, synced length) reported with an acknowledgement.
    max_synced: Option<(u64, u64)>,
    killed: bool,
}

impl ChildLog {
    fn acks(&self) -> usize {
        self.acked_sync.len() + self.acked_buffered.len()
    }
}

/// What the database must hold after each round, accumulated over rounds.
#[derive(Default)]
struct Expected {
    present: BTreeMap<String, String>,
    absent: BTreeSet<String>,
}

fn spawn_child(env: &TestDb, round: u64, seed: u64) -> Child {
    let stderr =
        std::fs::File::create(stderr_path(env, round)).expect("create the child's stderr file");
    Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(&env.url)
        .arg(&env.local_dir)
        .arg(round.to_string())
        .arg(WRITERS.to_string())
        .arg(seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn crash_writer")
}

fn stderr_path(env: &TestDb, round: u64) -> std::path::PathBuf {
    env.root.path().join(format!("child-{round}.stderr"))
}

fn child_stderr(env: &TestDb, round: u64) -> String {
    std::fs::read_to_string(stderr_path(env, round)).unwrap_or_default()
}

/// Parses one complete line of the child's output into `log`.
fn parse_line(line: &str, log: &mut ChildLog) {
    let mut words = line.split(' ');
    match words.next() {
        Some("OPEN") => log.opened = true,
        Some("B") => {
            let id = words.next().expect("batch id").to_string();
            let pairs = words
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    (k.to_string(), v.to_string())
                })
                .collect();
            log.begun.insert(id, pairs);
        }
        Some("A") => {
            let id = words.next().expect("batch id").to_string();
            let segment: u64 = words.next().and_then(|w| w.parse().ok()).expect("segment");
            let synced: u64 = words
                .next()
                .and_then(|w| w.parse().ok())
                .expect("synced length");
            assert!(
                log.begun.contains_key(&id),
                "ack of batch {id} that never began"
            );
            match words.next() {
                Some("s") => log.acked_sync.insert(id),
                Some("b") => log.acked_buffered.insert(id),
                other => panic!("bad durability {other:?} in {line:?}"),
            };
            let pos = (segment, synced);
            log.max_synced = Some(log.max_synced.map_or(pos, |m| m.max(pos)));
        }
        Some("X") => panic!("the writer failed: {line}"),
        _ => panic!("unexpected line from crash_writer: {line:?}"),
    }
}

/// The writer of one round: a child process, or (memory stores) a runtime
/// in this process.
enum Writer {
    Child(Child),
    /// The runtime, and whether the writers may go on: once the kill begins
    /// they start no new write and report nothing more (writes failing
    /// because their runtime is going away are not reports: a killed process
    /// says nothing either).
    InProcess(Option<tokio::runtime::Runtime>, Arc<AtomicBool>),
}

impl Writer {
    /// Starts the writer; its report lines arrive on the returned channel,
    /// which disconnects when the writer is gone.
    fn start(env: &TestDb, round: u64, seed: u64) -> (Writer, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel::<String>();
        if env.kind != StoreKind::Memory {
            let mut child = spawn_child(env, round, seed);
            let stdout = child.stdout.take().expect("piped stdout");
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => return,
                        // A line cut short by the kill is not a report.
                        Ok(_) if !buf.ends_with(b"\n") => return,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf[..buf.len() - 1]).into_owned();
                            if tx.send(line).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            return (Writer::Child(child), rx);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the writer's runtime");
        let opts = firn_tests::crash_options(&env.url, env.local_dir.clone());
        let alive = Arc::new(AtomicBool::new(true));
        let reporting = alive.clone();
        let report: firn_tests::Report = Arc::new(move |line: String| {
            // A line sent before the kill is received: its write may land.
            reporting.load(Ordering::SeqCst) && tx.send(line).is_ok()
        });
        rt.spawn(async move {
            match Db::open(opts).await {
                Ok(db) => {
                    if !report("OPEN".to_string()) {
                        return;
                    }
                    firn_tests::crash_writers(db, round, WRITERS, seed, CHILD_TIME_LIMIT, report)
                        .await;
                }
                Err(e) => {
                    report(format!("X open failed: {e}"));
                }
            }
        });
        (Writer::InProcess(Some(rt), alive), rx)
    }

    /// The crash: SIGKILL, or stopping every task of the writer's runtime
    /// (and waiting for its blocking threads, as a dead process has none).
    fn kill(&mut self) {
        match self {
            Writer::Child(child) => child.kill().expect("SIGKILL the child"),
            Writer::InProcess(rt, alive) => {
                alive.store(false, Ordering::SeqCst);
                if let Some(rt) = rt.take() {
                    rt.shutdown_timeout(Duration::from_secs(30));
                }
            }
        }
    }

    /// Waits for the writer to be gone and checks it did not fail.
    fn finish(mut self, env: &TestDb, round: u64, seed: u64) {
        match &mut self {
            Writer::Child(child) => {
                let status = child.wait().expect("wait for the child");
                let by_sigkill = status.signal() == Some(9);
                assert!(
                    by_sigkill || status.success(),
                    "round {round} (seed {seed}): the child failed ({status}); stderr:\n{}",
                    child_stderr(env, round)
                );
            }
            Writer::InProcess(..) => self.kill(),
        }
    }
}

/// The in-process writer's own time limit (the child's is its own).
const CHILD_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Runs one writer and kills it as `kill_at` says; returns what it reported.
fn run_child(env: &TestDb, round: u64, seed: u64, kill_at: KillAt) -> ChildLog {
    let (mut writer, rx) = Writer::start(env, round, seed);
    let started = Instant::now();
    let mut log = ChildLog::default();
    loop {
        if !log.killed {
            let due = match kill_at {
                KillAt::Delay(d) => started.elapsed() >= d,
                KillAt::Acks(n) => log.opened && log.acks() >= n,
            };
            if due {
                writer.kill();
                log.killed = true;
            }
        }
        let wait = match kill_at {
            KillAt::Delay(d) if !log.killed => d
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1)),
            _ => Duration::from_millis(200),
        };
        match rx.recv_timeout(wait) {
            Ok(line) => parse_line(&line, &mut log),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if started.elapsed() > ROUND_DEADLINE {
            writer.kill();
            writer.finish(env, round, seed);
            panic!(
                "round {round} (seed {seed}): the writer made no progress for {ROUND_DEADLINE:?} \
                 ({} acks); stderr:\n{}",
                log.acks(),
                child_stderr(env, round)
            );
        }
    }
    writer.finish(env, round, seed);
    log
}

/// Simulates a power loss: only what the child reported as synced survives
/// in the WAL.
fn cut_wal_to_synced(env: &TestDb, synced: (u64, u64)) -> String {
    let (segment, len) = synced;
    let mut report = Vec::new();
    for path in files_in(&env.wal_dir(), ".wal") {
        let number: u64 = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .expect("WAL segment name is a number");
        if number > segment {
            std::fs::remove_file(&path).expect("remove an unsynced WAL segment");
            report.push(format!("removed segment {number}"));
        } else if number == segment {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open WAL segment");
            let size = file.metadata().expect("stat").len();
            assert!(
                size >= len,
                "segment {number} is {size} bytes, shorter than its reported synced length {len}"
            );
            file.set_len(len).expect("truncate WAL segment");
            report.push(format!("cut segment {number} from {size} to {len} bytes"));
        }
    }
    report.join(", ")
}

/// Reopens the database and checks everything the children reported.
///
/// `required` are the batches that must have survived; every other batch the
/// child began must be there entirely or not at all.
async fn verify(
    env: &TestDb,
    log: &ChildLog,
    required: &BTreeSet<String>,
    expected: &mut Expected,
    ctx: &str,
    close: bool,
) {
    let db = match Db::open(env.options()).await {
        Ok(db) => db,
        Err(e) => panic!("{ctx}: reopening after the crash failed: {e}"),
    };
    let get = |key: &str| {
        let db = db.clone();
        let key = key.to_string();
        async move {
            match db.get(key.as_bytes()).await {
                Ok(v) => v.map(|v| String::from_utf8_lossy(&v).into_owned()),
                Err(e) => panic!("{ctx}: get {key}: {e}"),
            }
        }
    };
    // Acknowledged batches: every key with its value.
    for id in required {
        for (key, value) in &log.begun[id] {
            let got = get(key).await;
            assert!(
                got.as_deref() == Some(value.as_str()),
                "{ctx}: acknowledged batch {id} lost key {key}: got {got:?}"
            );
            expected.present.insert(key.clone(), value.clone());
        }
    }
    // Submitted but unacknowledged batches: all or nothing.
    let mut survived = 0;
    for (id, pairs) in log.begun.iter().filter(|(id, _)| !required.contains(*id)) {
        let mut found = Vec::new();
        for (key, value) in pairs {
            let got = get(key).await;
            if let Some(got) = &got {
                assert_eq!(
                    got, value,
                    "{ctx}: key {key} of batch {id} has a wrong value"
                );
            }
            found.push(got.is_some());
        }
        let all = found.iter().all(|f| *f);
        assert!(
            all || found.iter().all(|f| !*f),
            "{ctx}: half of batch {id} survived: {found:?}"
        );
        for (key, value) in pairs {
            if all {
                expected.present.insert(key.clone(), value.clone());
            } else {
                expected.absent.insert(key.clone());
            }
        }
        survived += usize::from(all);
    }
    // Earlier rounds' outcomes hold, and nothing else exists.
    for key in &expected.absent {
        assert_eq!(
            get(key).await,
            None,
            "{ctx}: key {key} of a batch lost in an earlier round reappeared"
        );
    }
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .unwrap_or_else(|e| panic!("{ctx}: full scan: {e}"));
    let all: BTreeMap<String, String> = all
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    if all != expected.present {
        let missing: Vec<_> = expected
            .present
            .keys()
            .filter(|k| !all.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = all
            .keys()
            .filter(|k| !expected.present.contains_key(*k))
            .take(5)
            .collect();
        let wrong: Vec<_> = all
            .iter()
            .filter(|(k, v)| expected.present.get(*k).is_some_and(|w| w != *v))
            .map(|(k, _)| k)
            .take(5)
            .collect();
        panic!(
            "{ctx}: the full scan differs from the expected contents: {} keys vs {} expected; \
             missing {missing:?}, unexpected {extra:?}, wrong values {wrong:?}",
            all.len(),
            expected.present.len()
        );
    }
    eprintln!(
        "{ctx}: {} sync + {} buffered acks, {} required, {} of {} other batches survived, {} keys in total",
        log.acked_sync.len(),
        log.acked_buffered.len(),
        required.len(),
        survived,
        log.begun.len() - required.len(),
        all.len()
    );
    if close {
        db.close()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    } else {
        drop(db);
    }
}

fn seed_for(default: u64) -> u64 {
    match std::env::var("FIRN_CRASH_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("FIRN_CRASH_SEED={s:?} is not a number")),
        Err(_) => default,
    }
}

/// Runs `rounds` kill/reopen rounds on one database of `kind`, killing
/// after up to `max_acks` acknowledgements.
fn crash_rounds(
    kind: StoreKind,
    default_seed: u64,
    rounds: u64,
    max_acks: usize,
    power_loss: bool,
) {
    let seed = seed_for(default_seed);
    let env = TestDb::new(kind, &format!("crash-{seed}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut expected = Expected::default();
    for round in 0..rounds {
        let kill_at = match round {
            // Some rounds die while opening and recovering what the previous
            // child left behind.
            2 | 5 => KillAt::Delay(Duration::from_millis(rng.random_range(0..40))),
            _ => KillAt::Acks(rng.random_range(1..max_acks)),
        };
        let what = if power_loss { "power loss" } else { "SIGKILL" };
        let mut ctx = format!("{what} round {round} on {kind} (seed {seed}, kill at {kill_at:?})");
        let log = run_child(&env, round, seed.wrapping_add(round), kill_at);
        if power_loss {
            if let Some(synced) = log.max_synced {
                let cut = cut_wal_to_synced(&env, synced);
                ctx.push_str(&format!(" [{cut}]"));
            }
        }
        if !log.killed {
            ctx.push_str(" [the child exited before the kill]");
        }
        // A process crash keeps every acknowledged write (buffered ones were
        // handed to the OS); a power loss keeps the synced ones.
        let required = if power_loss {
            log.acked_sync.clone()
        } else {
            log.acked_sync.union(&log.acked_buffered).cloned().collect()
        };
        // Alternate between closing cleanly and dropping the verifying handle.
        rt.block_on(verify(
            &env,
            &log,
            &required,
            &mut expected,
            &ctx,
            round % 2 == 1,
        ));
    }
    assert!(
        expected.present.len() > 100,
        "seed {seed}: only {} keys were written over {rounds} rounds",
        expected.present.len()
    );
}

#[test]
fn sigkill_loses_no_acknowledged_write_on_file() {
    crash_rounds(StoreKind::File, 0xC4A5_0001, 8, 1200, false);
}

#[test]
fn sigkill_loses_no_acknowledged_write_on_memory() {
    crash_rounds(StoreKind::Memory, 0xC4A5_0011, 8, 1200, false);
}

#[test]
fn sigkill_loses_no_acknowledged_write_on_s3() {
    if s3_enabled("sigkill_loses_no_acknowledged_write_on_s3") {
        crash_rounds(StoreKind::S3, 0xC4A5_0021, 6, 600, false);
    }
}

#[test]
fn power_loss_loses_no_acknowledged_sync_write_on_file() {
    crash_rounds(StoreKind::File, 0xC4A5_0002, 8, 1200, true);
}

#[test]
fn power_loss_loses_no_acknowledged_sync_write_on_memory() {
    crash_rounds(StoreKind::Memory, 0xC4A5_0012, 8, 1200, true);
}

#[test]
fn power_loss_loses_no_acknowledged_sync_write_on_s3() {
    if s3_enabled("power_loss_loses_no_acknowledged_sync_write_on_s3") {
        crash_rounds(StoreKind::S3, 0xC4A5_0022, 6, 600, true);
    }
}

firn_tests::on_every_store!(a_second_crash_before_recovered_writes_reach_the_bucket_loses_nothing);

/// Crash, recover while chunk uploads fail, crash again before the
/// recovered writes reached the bucket, recover once uploads work again.
async fn a_second_crash_before_recovered_writes_reach_the_bucket_loses_nothing(kind: StoreKind) {
    let mut env = TestDb::new(kind, "second-crash");
    let mut opts = env.options().durability(firn::Durability::Sync);
    opts.retry_delay = Duration::from_millis(5);
    opts.max_retry_delay = Duration::from_millis(20);
    // Memory and S3: every handle goes through a layer that can fail every
    // chunk upload. File: `chunks/` becomes a plain file instead.
    let faults = (kind != StoreKind::File).then(|| {
        let layer = FaultLayer::new(FaultConfig::failing_writes_under("chunks/"));
        let control = layer.control();
        control.set_enabled(false);
        opts.object_store = Some(env.layered_store(|op| op.layer(layer)));
        control
    });
    let block = |on: bool| match &faults {
        Some(control) => control.set_enabled(on),
        None if on => env.block_chunk_uploads(),
        None => env.unblock_chunk_uploads(),
    };
    let db = env.open(opts.clone()).await;
    for i in 0..20 {
        db.put(format!("k{i:02}"), format!("v{i}"))
            .await
            .expect("put");
    }
    drop(db); // crash 1: the writes are only in the WAL
              // The recovered writes cannot be flushed while chunk uploads fail.
    block(true);
    let db = env.open(opts.clone()).await;
    for i in 0..20 {
        assert_eq!(
            db.get(format!("k{i:02}")).await.expect("get"),
            Some(format!("v{i}").into())
        );
    }
    db.put("after", "recovery")
        .await
        .expect("put after recovery");
    // The recovered memtable is frozen at open and its upload keeps failing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.upload_status().is_none() {
        assert!(Instant::now() < deadline, "no chunk upload was attempted");
        firn_store::clock::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(db.metrics().flushes, 0, "a chunk upload got through");
    drop(db); // crash 2: recovered and new writes are still only local
    block(false);
    let db = match Db::open(opts.clone()).await {
        Ok(db) => db,
        Err(e) => panic!("reopening after a crash during recovery failed: {e}"),
    };
    for i in 0..20 {
        assert_eq!(
            db.get(format!("k{i:02}")).await.expect("get"),
            Some(format!("v{i}").into())
        );
    }
    assert_eq!(db.get("after").await.expect("get"), Some("recovery".into()));
    db.close().await.expect("close");
}

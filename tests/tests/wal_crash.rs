//! Crashes inside WAL segment creation, followed by a crash of the open that
//! recovers from them: the database opens and every acknowledged write is
//! there.
//!
//! Two kinds of cases:
//!
//! * **Crash points** (the engine's `crash-points` feature, armed by
//!   `FIRN_CRASH_POINT`): a child process (this test binary, running
//!   `child_writes_until_the_crash_point`) writes with `Durability::Sync`
//!   and a tiny memtable, printing each acknowledged key, until it aborts at
//!   a point inside the creation of its third WAL segment: before the file
//!   exists, with the file empty, with half a header, with the header synced
//!   under the temporary name, or renamed but the folder not synced. A second
//!   child (`child_recovers_until_the_flush`) opens the database, which
//!   recovers, and aborts before its recovery flush is published, so a
//!   newer segment now exists. Then the parent opens it: every acknowledged
//!   key must be there.
//! * **Segments left by older builds**, which created segments in place: a
//!   segment that is empty, holds part of a header, or a zeroed header,
//!   followed by a newer segment (the recovering open that died). Opening,
//!   and `read_local_wal` (what `firn wal-export` runs), must read every
//!   write.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use firn::{Db, Durability, Options};

const KEYS: u32 = 3000;

fn opts(dir: &Path) -> Options {
    let mut o = Options::embedded(dir)
        .unwrap()
        .durability(Durability::Sync)
        .memtable_size(8 << 10);
    o.block_size = 512;
    o
}

fn value(i: u32) -> String {
    format!("value {i} {}", "v".repeat(40))
}

/// Child 1: writes until the armed crash point aborts the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writes_until_the_crash_point() {
    let Ok(dir) = std::env::var("FIRN_WAL_CRASH_DIR") else {
        return;
    };
    let db = Db::open(opts(Path::new(&dir))).await.unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..KEYS {
        db.put(format!("key{i:05}"), value(i)).await.unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
    writeln!(out, "done").unwrap();
}

/// Child 2: opens (recovering), then aborts before its recovery flush is
/// published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_recovers_until_the_flush() {
    let Ok(dir) = std::env::var("FIRN_WAL_RECOVER_DIR") else {
        return;
    };
    let db = Db::open(opts(Path::new(&dir))).await.unwrap();
    println!("opened");
    db.flush().await.unwrap();
    println!("flushed");
}

/// Runs `test` of this binary as a child with `env`; returns its stdout
/// lines and how it ended.
fn run_child(
    test: &str,
    env: &[(&str, &Path)],
    point: &str,
) -> (Vec<String>, std::process::ExitStatus) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("FIRN_CRASH_POINT", point)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(|l| l.ok())
        .collect();
    (lines, child.wait().unwrap())
}

/// True when the child died at the armed crash point (which aborts the
/// process), not of a failed assertion or unwrap (which exits with 101).
fn crashed_at_the_point(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(SIGABRT)
}

/// The signal `std::process::abort` raises (6 on every Unix Firn runs on).
const SIGABRT: i32 = 6;

fn acked(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|l| l.rsplit_once("ack ")?.1.parse().ok())
        .collect()
}

async fn check_all_there(dir: &Path, acked: &[u32], case: &str) {
    let db = Db::open(opts(dir))
        .await
        .unwrap_or_else(|e| panic!("{case}: open after the crashes: {e}"));
    for &i in acked {
        let got = db
            .get(format!("key{i:05}"))
            .await
            .unwrap_or_else(|e| panic!("{case}: get key{i:05}: {e}"));
        assert_eq!(
            got.as_deref(),
            Some(value(i).as_bytes()),
            "{case}: acknowledged key{i:05} is missing"
        );
    }
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_inside_segment_creation_then_in_recovery_lose_nothing() {
    if std::env::var("FIRN_WAL_CRASH_DIR").is_ok() || std::env::var("FIRN_WAL_RECOVER_DIR").is_ok()
    {
        return;
    }
    for point in [
        "wal.segment.before_create",
        "wal.segment.created",
        "wal.segment.mid_header",
        "wal.segment.before_rename",
        "wal.segment.before_dir_sync",
    ] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("db");
        // The first segment is created at open, the next ones as memtables fill.
        let (lines, status) = run_child(
            "child_writes_until_the_crash_point",
            &[("FIRN_WAL_CRASH_DIR", &dir)],
            &format!("{point}:3"),
        );
        assert!(
            crashed_at_the_point(&status),
            "{point}: the writer did not crash there ({status}): {lines:?}"
        );
        let acked = acked(&lines);
        assert!(
            acked.len() > 50,
            "{point}: too few writes before the crash: {}",
            acked.len()
        );
        // The open recovers, and its recovery flush (which the background
        // flusher may start before `open` has returned, so "opened" may
        // not be printed yet) dies before it publishes. A failed open
        // would exit with a panic instead.
        let (lines, status) = run_child(
            "child_recovers_until_the_flush",
            &[("FIRN_WAL_RECOVER_DIR", &dir)],
            "flush.before_publish",
        );
        assert!(
            crashed_at_the_point(&status),
            "{point}: the recovering open failed or did not reach its flush ({status}): {lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.ends_with("flushed")),
            "{point}: the recovery flush was published: {lines:?}"
        );
        check_all_there(&dir, &acked, point).await;
    }
}

fn segments(wal: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    out.sort();
    out
}

/// Makes the bytes a crash left in a segment from a valid header.
type MakeSegment = fn(&[u8]) -> Vec<u8>;

fn segment_number(path: &Path) -> u64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headerless_segments_left_by_older_builds_are_removed_and_exported_around() {
    let header_of = |wal: &Path| -> Vec<u8> {
        let first = &segments(wal)[0];
        std::fs::read(first).unwrap()[..24].to_vec()
    };
    let cases: [(&str, MakeSegment); 5] = [
        ("empty", |_| Vec::new()),
        ("part of the magic", |h| h[..5].to_vec()),
        ("half a header", |h| h[..12].to_vec()),
        ("a zeroed header", |_| vec![0u8; 24]),
        ("a torn header", |h| {
            let mut t = h.to_vec();
            t[20] ^= 0xff;
            t
        }),
    ];
    for (case, make) in cases {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("db");
        let db = Db::open(opts(&dir)).await.unwrap();
        let mut acked = Vec::new();
        for i in 0..400 {
            db.put(format!("key{i:05}"), value(i)).await.unwrap();
            acked.push(i);
        }
        drop(db); // a crash: nothing flushed on the way out
        let wal = dir.join("local").join("wal");
        let header = header_of(&wal);
        let ops_in_wal = |case: &str| -> usize {
            firn::read_local_wal(&dir.join("local"))
                .unwrap_or_else(|e| panic!("{case}: read_local_wal: {e}"))
                .iter()
                .map(|b| b.batch.len())
                .sum()
        };
        let before = ops_in_wal(case);
        assert!(before > 0, "{case}: the WAL holds no write");
        let last = segments(&wal).last().map(|p| segment_number(p)).unwrap();
        // The crash while creating segment last+1 ...
        std::fs::write(wal.join(format!("{:020}.wal", last + 1)), make(&header)).unwrap();
        // ... and the recovering open that created last+2 and died too.
        std::fs::write(wal.join(format!("{:020}.wal", last + 2)), &header).unwrap();

        // wal-export reads every write around it, changing nothing.
        assert_eq!(ops_in_wal(case), before, "{case}: exported ops");
        assert!(wal.join(format!("{:020}.wal", last + 1)).exists(), "{case}");

        check_all_there(&dir, &acked, case).await;
        // The open removed the headerless segment.
        assert!(
            !wal.join(format!("{:020}.wal", last + 1)).exists(),
            "{case}: headerless segment kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_segment_that_is_not_a_header_is_corruption() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let db = Db::open(opts(&dir)).await.unwrap();
    db.put("k", "v").await.unwrap();
    drop(db);
    let wal = dir.join("local").join("wal");
    let last = segments(&wal).last().map(|p| segment_number(p)).unwrap();
    let bad = wal.join(format!("{:020}.wal", last + 1));
    std::fs::write(&bad, b"garbage").unwrap();
    let err = match Db::open(opts(&dir)).await {
        Ok(_) => panic!("opened over a damaged segment"),
        Err(e) => e,
    };
    assert!(err.is_corruption(), "{err}");
    assert!(
        err.to_string().contains(&bad.display().to_string()),
        "{err}"
    );
    assert!(bad.exists(), "a damaged segment must not be removed");
}

//! Child process of the crash suite (`tests/crash.rs`).
//!
//! Usage: `crash_writer <url> <local_dir> <round> <writers> <seed>`
//!
//! Opens the database with `Durability::Sync` and a tiny memtable (so flushes
//! run all the time), prints `OPEN`, then runs the crash workload
//! ([`firn_tests::crash_writers`]): `<writers>` concurrent writer tasks whose
//! report lines (`B ...` before each write, `A ...` after its
//! acknowledgement) go to stdout, one flushed line at a time.
//!
//! `s3://` URLs use the test run's S3 server (`FIRN_TEST_S3_ENDPOINT` and the
//! `AWS_*` variables, inherited from the parent).
//!
//! The child writes until it is killed (or stops by itself after a time
//! limit, without closing).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use firn::Db;

/// The child gives up (exits without closing) after this long.
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means the parent is gone: nothing left to report to.
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn fail(msg: String) -> ! {
    eprintln!("crash_writer: {msg}");
    std::process::exit(2);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        fail(format!(
            "usage: crash_writer <url> <local_dir> <round> <writers> <seed>; got {args:?}"
        ));
    }
    let number = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| fail(format!("argument {i} ({:?}) is not a number", args[i])))
    };
    let (round, writers, seed) = (number(3), number(4), number(5));
    let opts = firn_tests::crash_options(&args[1], &args[2]);
    let db = Db::open(opts)
        .await
        .unwrap_or_else(|e| fail(format!("open failed: {e}")));
    say("OPEN");
    let report: firn_tests::Report = Arc::new(|line: String| {
        say(&line);
        true
    });
    firn_tests::crash_writers(db, round, writers, seed, TIME_LIMIT, report).await;
    // Deliberately no close: the parent treats this like a crash too.
    std::process::exit(0);
}

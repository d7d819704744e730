//! Child process of the crash suite (`tests/crash.rs`).
//!
//! Usage: `crash_writer <url> <local_dir> <round> <writers> <seed>`
//!
//! Opens the database with `Durability::Sync` and a tiny memtable (so flushes
//! run all the time), then runs `<writers>` concurrent writer tasks. Each
//! writer commits batches of 1..=3 fresh keys and reports on stdout, one
//! flushed line at a time:
//!
//! ```text
//! OPEN                                  the database is open
//! B <batch> <key>=<value> ...           before the write is submitted
//! A <batch> <segment> <synced_len>      after it was acknowledged, with the
//!                                       WAL position synced at that moment
//! ```
//!
//! Keys and values are ASCII without spaces or `=`. The child writes until it
//! is killed (or stops by itself after a time limit, without closing).

use std::io::Write;
use std::time::{Duration, Instant};

use firn::{Db, Durability, Options, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
        fail(format!("usage: crash_writer <url> <local_dir> <round> <writers> <seed>; got {args:?}"));
    }
    let number = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| fail(format!("argument {i} ({:?}) is not a number", args[i])))
    };
    let (round, writers, seed) = (number(3), number(4), number(5));
    let mut opts = Options::new(args[1].clone(), args[2].clone())
        .durability(Durability::Sync)
        .memtable_size(16 << 10);
    opts.block_size = 1024;
    let db = Db::open(opts)
        .await
        .unwrap_or_else(|e| fail(format!("open failed: {e}")));
    say("OPEN");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (w << 32) ^ round);
            let mut i = 0u64;
            while started.elapsed() < TIME_LIMIT {
                let id = format!("r{round}w{w}i{i}");
                let mut batch = WriteBatch::new();
                let mut line = format!("B {id}");
                for j in 0..rng.random_range(1..=3) {
                    let key = format!("k-{id}-{j}");
                    let pad = rng.random_range(0..200);
                    let value = format!("v-{id}-{j}-{}", "x".repeat(pad));
                    line.push_str(&format!(" {key}={value}"));
                    batch.put(key, value);
                }
                say(&line);
                if let Err(e) = db.write(batch).await {
                    fail(format!("write of batch {id} failed: {e}"));
                }
                let Some((segment, synced)) = db.wal_synced_position() else {
                    fail("no WAL position after a write".into());
                };
                say(&format!("A {id} {segment} {synced}"));
                i += 1;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    // Deliberately no close: the parent treats this like a crash too.
    std::process::exit(0);
}

//! A writer process for the fencing tests (`tests/s3.rs`): opens a database as
//! writer and works on command, so a test can run two writers on one database
//! in two processes and interleave them exactly.
//!
//! Usage: `s3_writer <url> <local_dir> [--read-only <gc_grace_ms>]`
//!
//! With `--read-only`, opens a read-only handle instead (the GC grace period
//! it assumes is `<gc_grace_ms>`, and it never refreshes by itself: a
//! one-hour refresh interval), for tests that pause a reader in another
//! process; only `get`, `refresh` and `close` make sense then.
//!
//! Opens the database with `Durability::Sync` (every acknowledged write is
//! in the local WAL) and a 64 MiB memtable (nothing is flushed unless asked),
//! then prints `OPEN <epoch>` — or `ERR <kind> <message>` and exits with 1.
//! `s3://` URLs use the test run's S3 server (`FIRN_TEST_S3_ENDPOINT` and the
//! `AWS_*` variables, inherited from the parent).
//!
//! Then reads one command per line from stdin and answers each with one line:
//!
//! ```text
//! put <key> <value>   OK <seq>            the write's sequence number
//! rput <key> <value>  OK <seq>            the same with Durability::Remote (in the bucket)
//! bput <key> <value>  OK <seq>            the same with Durability::Buffered
//! get <key>           VAL <value> | NONE
//! refresh             OK <manifest version>
//! flush               OK <chunks>         the number of chunks it published
//! compact             OK                  a full compaction, waited for
//! gc <grace_ms>       OK <chunks deleted> one collection with that grace
//! epoch               OK <epoch>
//! close               OK                  then exits
//! crash               (no answer)         exits at once, without closing
//! ```
//!
//! A failed command answers `ERR <kind> <message>`, where `<kind>` is the
//! `firn::Error` variant (`Fenced`, `FencedWrites`, `Closed`, `Store`, ...).
//! Keys and values are single words. End of input exits without closing.

use std::io::{BufRead, Write};
use std::time::Duration;

use firn::{Db, Durability, Error, WriteBatch};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Fenced { .. } => "Fenced",
        Error::FencedWrites { .. } => "FencedWrites",
        Error::Closed(_) => "Closed",
        Error::Store(_) => "Store",
        Error::Corruption { .. } => "Corruption",
        Error::InvalidArgument(_) => "InvalidArgument",
        Error::ReadOnly => "ReadOnly",
        Error::Locked(_) => "Locked",
        Error::DatabaseMismatch { .. } => "DatabaseMismatch",
        Error::Io { .. } => "Io",
        Error::Manifest(_) => "Manifest",
        Error::Background(_) => "Background",
        Error::BucketLost { .. } => "BucketLost",
        Error::CloseTimeout { .. } => "CloseTimeout",
        Error::Collected { .. } => "Collected",
        _ => "Other",
    }
}

fn err_line(e: &Error) -> String {
    // One line: the message may not contain newlines.
    format!("ERR {} {}", kind(e), e.to_string().replace('\n', " "))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let read_only_grace = match args.as_slice() {
        [_, _, _] => None,
        [_, _, _, flag, ms] if flag == "--read-only" => match ms.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => None,
        },
        _ => {
            eprintln!(
                "usage: s3_writer <url> <local_dir> [--read-only <gc_grace_ms>]; got {args:?}"
            );
            std::process::exit(2);
        }
    };
    let mut opts = firn_tests::test_options(&args[1], &args[2]).durability(Durability::Sync);
    opts.retry_delay = Duration::from_millis(20);
    opts.max_retry_delay = Duration::from_millis(200);
    if let Some(grace) = read_only_grace {
        opts.read_only = true;
        opts.gc_grace = grace;
        opts.refresh_interval = Duration::from_secs(3600);
    }
    let db = match Db::open(opts).await {
        Ok(db) => db,
        Err(e) => {
            say(&err_line(&e));
            std::process::exit(1);
        }
    };
    say(&format!("OPEN {}", db.epoch()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["put", key, value] => {
                let mut batch = WriteBatch::new();
                batch.put(key.to_string(), value.to_string());
                match db.write(batch).await {
                    Ok(seq) => format!("OK {seq}"),
                    Err(e) => err_line(&e),
                }
            }
            [verb @ ("rput" | "bput"), key, value] => {
                let mut batch = WriteBatch::new();
                batch.put(key.to_string(), value.to_string());
                let durability = if *verb == "rput" {
                    Durability::Remote
                } else {
                    Durability::Buffered
                };
                let opts = firn::WriteOptions {
                    durability: Some(durability),
                };
                match db.write_with(batch, opts).await {
                    Ok(seq) => format!("OK {seq}"),
                    Err(e) => err_line(&e),
                }
            }
            ["get", key] => match db.get(key).await {
                Ok(Some(v)) => format!("VAL {}", String::from_utf8_lossy(&v)),
                Ok(None) => "NONE".to_string(),
                Err(e) => err_line(&e),
            },
            ["refresh"] => match db.refresh().await {
                Ok(()) => format!("OK {}", db.manifest().version),
                Err(e) => err_line(&e),
            },
            ["compact"] => match db.compact().await {
                Ok(()) => "OK".to_string(),
                Err(e) => err_line(&e),
            },
            ["gc", ms] => match ms.parse::<u64>() {
                Ok(ms) => match db.gc(Duration::from_millis(ms)).await {
                    Ok(report) => format!("OK {}", report.chunks_deleted),
                    Err(e) => err_line(&e),
                },
                Err(_) => format!("ERR Usage bad grace {ms:?}"),
            },
            ["flush"] => match db.flush().await {
                Ok(ids) => format!("OK {}", ids.len()),
                Err(e) => err_line(&e),
            },
            ["epoch"] => format!("OK {}", db.epoch()),
            ["close"] => {
                let answer = match db.clone().close().await {
                    Ok(()) => "OK".to_string(),
                    Err(e) => err_line(&e),
                };
                say(&answer);
                std::process::exit(0);
            }
            ["crash"] => std::process::exit(0),
            _ => format!("ERR Usage unknown command {line:?}"),
        };
        say(&answer);
    }
    std::process::exit(0);
}

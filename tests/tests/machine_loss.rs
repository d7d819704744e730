//! Losing the writer's machine: a writer *process* is killed (SIGKILL) and
//! its local directory deleted; a new writer with an empty local directory
//! opens the database from the bucket alone. Every `Remote`-acknowledged
//! write is there, and every buffered write acknowledged more than
//! `wal_ship_interval` (1 s) plus a margin before the kill. On `file://` and
//! on the S3 server.

use std::time::{Duration, Instant};

use bytes::Bytes;
use firn::Db;
use firn_tests::writer_process::WriterProcess;
use firn_tests::{s3_enabled, StoreKind, TestDb};

/// Slack on top of the ship interval for a slow, loaded test machine.
const MARGIN: Duration = Duration::from_secs(2);
const SHIP_INTERVAL: Duration = Duration::from_secs(1);

fn stores() -> Vec<StoreKind> {
    let mut kinds = vec![StoreKind::File];
    if s3_enabled("machine_loss") {
        kinds.push(StoreKind::S3);
    }
    kinds
}

fn seq_of(answer: &str, what: &str) -> u64 {
    answer
        .strip_prefix("OK ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{what}: {answer}"))
}

#[test]
fn a_killed_writer_loses_no_remote_write_and_only_the_last_interval_of_buffered_ones() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for kind in stores() {
        let env = TestDb::new(kind, "machine-loss");
        let local = env.local_dir.clone();
        let (mut w, open) =
            WriterProcess::spawn(env!("CARGO_BIN_EXE_s3_writer"), "doomed", &env.url, &local);
        assert!(open.starts_with("OPEN "), "{kind}: {open}");
        // Remote writes, each acknowledged only once in the bucket.
        let mut remote = Vec::new();
        for i in 0..30 {
            let key = format!("remote-{i:03}");
            seq_of(&w.cmd(&format!("rput {key} r{i}")), &key);
            remote.push(key);
        }
        // Buffered writes for a while, each with the time it was acknowledged.
        let mut buffered = Vec::new();
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < SHIP_INTERVAL + MARGIN + Duration::from_secs(1) {
            let key = format!("buffered-{i:05}");
            seq_of(&w.cmd(&format!("bput {key} b{i}")), &key);
            buffered.push((key, Instant::now()));
            i += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        // The machine is lost: the process dies at once, its disk with it.
        let killed_at = Instant::now();
        w.kill();
        std::fs::remove_dir_all(&local).unwrap();

        let opts = env.options_with_local("machine-b");
        rt.block_on(async {
            let db = Db::open(opts).await.unwrap();
            for (i, key) in remote.iter().enumerate() {
                assert_eq!(
                    db.get(key).await.unwrap(),
                    Some(Bytes::from(format!("r{i}"))),
                    "{kind}: {key} was acknowledged as in the bucket"
                );
            }
            let mut lost_window = Duration::ZERO;
            let mut lost = 0;
            for (n, (key, acked)) in buffered.iter().enumerate() {
                let age = killed_at.duration_since(*acked);
                match db.get(key).await.unwrap() {
                    Some(v) => {
                        assert_eq!(v, Bytes::from(format!("b{n}")), "{kind}: {key}");
                        // What survives is a prefix of what was acknowledged.
                        assert_eq!(lost, 0, "{kind}: {key} survived a lost earlier write");
                    }
                    None => {
                        assert!(
                            age <= SHIP_INTERVAL + MARGIN,
                            "{kind}: {key}, acknowledged {age:?} before the kill, is lost"
                        );
                        lost += 1;
                        lost_window = lost_window.max(age);
                    }
                }
            }
            println!(
                "{kind}: {} buffered writes, {lost} lost; the oldest lost one was acknowledged \
                 {lost_window:?} before the kill (ship interval {SHIP_INTERVAL:?})",
                buffered.len()
            );
            db.close().await.unwrap();
        });
    }
}

//! Crash safety of compaction: a writer process killed with SIGKILL in the
//! middle of compactions loses nothing, and the outputs it had uploaded but
//! not published are collected by GC afterwards.
//!
//! The test re-runs its own binary as the child (`child_compacts_forever`,
//! which does nothing unless `FIRN_CRASH_CHILD_DIR` is set).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use firn::{Db, Options};

const KEYS: u32 = 6000;

fn opts(dir: &Path) -> Options {
    let mut o = Options::embedded(dir).unwrap().memtable_size(32 << 10);
    o.block_size = 1024;
    o.compaction.target_chunk_size = 64 << 10;
    o
}

fn value(round: u32, i: u32) -> String {
    format!("round {round} key {i} {}", "v".repeat(60))
}

/// The child: loads data in rounds (each round overwrites every key), then
/// compacts over and over until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_compacts_forever() {
    let Ok(dir) = std::env::var("FIRN_CRASH_CHILD_DIR") else {
        return;
    };
    let db = Db::open(opts(Path::new(&dir))).await.unwrap();
    for round in 0..3 {
        for i in 0..KEYS {
            db.put(format!("key{i:05}"), value(round, i)).await.unwrap();
        }
        db.flush().await.unwrap();
    }
    println!("loaded");
    let mut n = 0u64;
    loop {
        // Keep the compactor busy: new overwrites, then a full compaction.
        for i in (0..KEYS).step_by(7) {
            db.put(format!("key{i:05}"), value(3, i)).await.unwrap();
        }
        db.compact().await.unwrap();
        n += 1;
        println!("compacted {n}");
    }
}

#[test]
fn sigkill_during_compaction_loses_nothing_and_orphans_are_collected() {
    let exe = std::env::current_exe().unwrap();
    for round in 0..3u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_compacts_forever",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("FIRN_CRASH_CHILD_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut compactions = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.starts_with("compacted") {
                compactions += 1;
                if compactions > round {
                    break;
                }
            }
        }
        // Kill at a moment that varies from round to round, mostly in the
        // middle of the next compaction.
        std::thread::sleep(Duration::from_millis(5 + 37 * round));
        child.kill().unwrap();
        child.wait().unwrap();

        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let db = Db::open(opts(dir.path())).await.unwrap();
            for i in 0..KEYS {
                let got = db.get(format!("key{i:05}")).await.unwrap().unwrap();
                let text = String::from_utf8(got.to_vec()).unwrap();
                let expected_old = value(2, i);
                assert!(
                    text == expected_old || text == value(3, i),
                    "round {round}: key{i:05} = {text:?}"
                );
                if i % 7 != 0 {
                    assert_eq!(text, expected_old, "round {round}: key{i:05}");
                }
            }
            // Whatever the killed writer uploaded without publishing is an
            // orphan of a fenced epoch: GC with no grace collects it.
            db.gc(Duration::ZERO).await.unwrap();
            let listed: BTreeSet<String> = db
                .object_store()
                .list("chunks/")
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.path)
                .collect();
            let referenced: BTreeSet<String> = db
                .manifest()
                .all_chunks()
                .map(|c| c.id.object_name())
                .collect();
            assert_eq!(
                listed, referenced,
                "round {round}: unreferenced chunks remain after gc"
            );
            db.close().await.unwrap();
        });
    }
}

//! The crash suite's writer workload and its options.

use super::*;

/// The options of the crash suite's writer: `Durability::Sync`, a 16 KiB
/// memtable (flushes all the time) and 1 KiB blocks.
pub fn crash_options(url: &str, local_dir: impl Into<PathBuf>) -> Options {
    let mut opts = test_options(url, local_dir)
        .durability(Durability::Sync)
        .memtable_size(16 << 10);
    opts.block_size = 1024;
    opts
}

/// A sink for the report lines of [`crash_writers`]; it returns false once
/// nobody listens any more (the writer is being killed), and the writers
/// then stop without starting another write.
pub type Report = Arc<dyn Fn(String) -> bool + Send + Sync>;

/// The crash suite's workload: `writers` concurrent tasks on `db`, each
/// committing batches of 1..=3 fresh keys until `time_limit` has passed,
/// reporting through `report`, one line at a time:
///
/// ```text
/// B <batch> <key>=<value> ...                before the write is submitted
/// A <batch> <segment> <synced_len> <s|b>     after it was acknowledged, with
///                                            the WAL position synced at that
///                                            moment and the durability used
/// X <message>                                a write failed (a test failure)
/// ```
///
/// Even-numbered writers use `Durability::Sync`; odd-numbered ones
/// `Durability::Buffered`, so the WAL usually holds unsynced bytes past the
/// last synced position when the writer dies. Keys and values are ASCII
/// without spaces or `=`. Batch ids are `r<round>w<writer>i<n>`.
pub async fn crash_writers(
    db: Db,
    round: u64,
    writers: u64,
    seed: u64,
    time_limit: Duration,
    report: Report,
) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let report = report.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (w << 32) ^ round);
            let mut i = 0u64;
            while started.elapsed() < time_limit {
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
                if !report(line) {
                    return;
                }
                let (durability, mode) = if w % 2 == 0 {
                    (Durability::Sync, "s")
                } else {
                    (Durability::Buffered, "b")
                };
                let opts = WriteOptions {
                    durability: Some(durability),
                };
                if let Err(e) = db.write_with(batch, opts).await {
                    report(format!("X write of batch {id} failed: {e}"));
                    return;
                }
                let Some((segment, synced)) = db.wal_synced_position() else {
                    report("X no WAL position after a write".to_string());
                    return;
                };
                if !report(format!("A {id} {segment} {synced} {mode}")) {
                    return;
                }
                i += 1;
            }
        }));
    }
    drop(db);
    for task in tasks {
        let _ = task.await;
    }
}

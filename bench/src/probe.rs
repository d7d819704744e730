//! Raw `fdatasync` latency of a disk, so sync-durability results can be read
//! beside what the disk itself can do.
//!
//! The probe appends `size` bytes to a fresh file and `fdatasync`s it,
//! `count` times, like a WAL that syncs every record: each sync must also
//! persist the new file length. It also times plain small appends without a
//! sync (one `write(2)` each), the floor of a WAL write that is only handed
//! to the OS.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// What the probe measured.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    /// Folder the probe file was written in.
    pub dir: PathBuf,
    /// Write + fdatasync rounds.
    pub count: usize,
    /// Bytes written before each fdatasync.
    pub size: usize,
    /// Median latency of one write + fdatasync, in microseconds.
    pub p50_us: f64,
    /// 95th percentile, in microseconds.
    pub p95_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
    /// Mean, in microseconds.
    pub mean_us: f64,
    /// Slowest round, in microseconds.
    pub max_us: f64,
    /// Rounds per second one synchronous writer can do.
    pub syncs_per_sec: f64,
    /// Bytes per plain append (no sync).
    pub append_size: usize,
    /// Plain appends timed.
    pub append_count: usize,
    /// Mean time of one plain append `write(2)`, in microseconds.
    pub append_mean_us: f64,
    /// Median time of one plain append, in microseconds.
    pub append_p50_us: f64,
}

/// Bytes per plain append: about one WAL record of a 16-byte key and a
/// 100-byte value.
pub const APPEND_SIZE: usize = 144;
/// Plain appends timed.
pub const APPEND_COUNT: usize = 100_000;

/// Runs the probe in `dir` (which must exist); the probe file is removed.
pub fn fsync_probe(dir: &Path, count: usize, size: usize) -> std::io::Result<ProbeReport> {
    let path = dir.join(format!(".firn-bench-fsync-probe-{}", std::process::id()));
    let result = run(&path, count, size, true);
    let _ = std::fs::remove_file(&path);
    let hist = result?;
    let result = run(&path, APPEND_COUNT, APPEND_SIZE, false);
    let _ = std::fs::remove_file(&path);
    let appends = result?;
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(ProbeReport {
        dir: dir.to_path_buf(),
        count,
        size,
        p50_us: us(hist.value_at_quantile(0.50)),
        p95_us: us(hist.value_at_quantile(0.95)),
        p99_us: us(hist.value_at_quantile(0.99)),
        mean_us: hist.mean() / 1000.0,
        max_us: us(hist.max()),
        syncs_per_sec: if hist.mean() > 0.0 {
            1e9 / hist.mean()
        } else {
            0.0
        },
        append_size: APPEND_SIZE,
        append_count: APPEND_COUNT,
        append_mean_us: appends.mean() / 1000.0,
        append_p50_us: us(appends.value_at_quantile(0.50)),
    })
}

/// `count` appends of `size` bytes to a new file at `path`, each followed by
/// an fdatasync when `sync`; returns the latency histogram in nanoseconds.
fn run(path: &Path, count: usize, size: usize, sync: bool) -> std::io::Result<Histogram<u64>> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let block = vec![0x5Au8; size];
    let mut hist = Histogram::<u64>::new(3).map_err(std::io::Error::other)?;
    for _ in 0..count {
        let started = Instant::now();
        file.write_all(&block)?;
        if sync {
            file.sync_data()?;
        }
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        hist.record(nanos.max(1)).map_err(std::io::Error::other)?;
    }
    Ok(hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_measures_and_cleans_up() {
        let dir =
            std::env::temp_dir().join(format!("firn-bench-probe-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = fsync_probe(&dir, 5, 512).unwrap();
        assert_eq!(report.count, 5);
        assert!(report.p50_us > 0.0 && report.p99_us >= report.p50_us);
        assert!(report.append_mean_us > 0.0);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

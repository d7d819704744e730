//! Results: the per-workload figures, the db_bench-style text report and
//! the `--json` document.

use std::io::Write;

use firn::{Metrics, RequestCounts};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cold::{ColdReport, TierStats};
use crate::machine::{Disk, Machine};
use crate::memory::MemoryStats;
use crate::probe::ProbeReport;
use crate::units::{bytes, micros};

/// The run's configuration, printed as the header.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// firn-bench version.
    pub version: &'static str,
    /// The machine.
    pub machine: Machine,
    /// The disk holding the local (WAL) directory.
    pub disk: Disk,
    /// Object-store URL of the database.
    pub store_url: String,
    /// Local (WAL) directory.
    pub local_dir: String,
    /// Entries written by fills.
    pub num: u64,
    /// Point reads of `readrandom`.
    pub reads: u64,
    /// Range scans of `scan`.
    pub scans: u64,
    /// Entries per range scan.
    pub scan_length: u64,
    /// Key size in bytes.
    pub key_size: usize,
    /// Value size in bytes.
    pub value_size: usize,
    /// Random fraction of each value.
    pub compression_ratio: f64,
    /// Puts per commit.
    pub batch_size: u64,
    /// Client tasks.
    pub threads: usize,
    /// tokio worker threads.
    pub runtime_threads: usize,
    /// `sync` or `buffered`.
    pub durability: &'static str,
    /// Memtable size (flush trigger) in bytes.
    pub memtable_size: usize,
    /// Block cache budget in bytes.
    pub block_cache_size: usize,
    /// Disk block cache budget in bytes (0: off).
    pub disk_cache_size: u64,
    /// Whether every chunk index is loaded at open.
    pub preload_indexes: bool,
    /// Largest scan read-ahead window in bytes.
    pub scan_readahead: u64,
    /// Whether fills are followed by a flush.
    pub flush_after_fill: bool,
    /// Seed of all random choices.
    pub seed: u64,
}

/// Latency percentiles of one workload, in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest operation.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Percentiles of a histogram of nanoseconds.
    pub fn from_nanos(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Latency {
            p50_us: us(0.50),
            p95_us: us(0.95),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: h.max() as f64 / 1000.0,
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// Write-path figures of a fill, from the engine's metrics.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WriteStats {
    /// Commits (write batches) acknowledged.
    pub batches: u64,
    /// Bytes appended to the WAL.
    pub wal_bytes: u64,
    /// fdatasync calls on the commit path.
    pub wal_syncs: u64,
    /// Background fdatasyncs of buffered writes (periodic and at close).
    pub wal_background_syncs: u64,
    /// Commits acknowledged by an fdatasync.
    pub wal_synced_batches: u64,
    /// Acknowledged writes per fdatasync (wal_synced_batches / wal_syncs):
    /// the group-commit width.
    pub writes_per_sync: f64,
    /// Mean fdatasync latency on the commit path (wal_sync_micros / wal_syncs).
    pub mean_sync_us: f64,
    /// Times writers waited for flushes (backpressure).
    pub write_stalls: u64,
    /// Time writers spent stalled, in milliseconds.
    pub write_stall_ms: f64,
    /// Shipped WAL objects uploaded.
    pub wal_objects_shipped: u64,
    /// Bytes of those objects (compressed).
    pub wal_bytes_shipped: u64,
    /// Memtables flushed to chunks (including the final flush).
    pub flushes: u64,
    /// Bytes of chunks written.
    pub flush_bytes: u64,
    /// Entries written to chunks by those flushes.
    pub flush_entries: u64,
    /// Key + value bytes written by the clients.
    pub raw_bytes: u64,
    /// Key + value bytes of the flushed entries (compare with `flush_bytes`).
    pub flushed_raw_bytes: u64,
    /// Compactions completed during the workload (and its flush).
    pub compactions: u64,
    /// Bytes of input chunks those compactions merged.
    pub compaction_bytes_read: u64,
    /// Bytes of chunks those compactions wrote.
    pub compaction_bytes_written: u64,
    /// `(flush_bytes + compaction_bytes_written) / flush_bytes` over the
    /// workload (0 when nothing was flushed).
    pub write_amplification: f64,
    /// Most level-0 chunks seen, sampling the engine's metrics every
    /// [`crate::clients::SAMPLE_EVERY`] writes of each client, before the
    /// workload and after its flush.
    pub max_l0_chunks: u64,
    /// Object-store PUT requests of the workload (and its flush) per 10^9
    /// bytes of keys and values written by the clients.
    pub puts_per_gb: f64,
}

/// The explicit flush after a fill (not counted in ops/s).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlushStats {
    /// Wall time of `Db::flush()`.
    pub seconds: f64,
    /// Chunks it produced.
    pub chunks: usize,
    /// Object-store requests it made.
    pub requests: RequestCounts,
}

/// Read-side figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReadStats {
    /// Point reads that found their key (or, for scans, entries returned).
    pub found: u64,
    /// Keys expected but not found (must be 0).
    pub not_found: u64,
    /// The first key number found missing, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_missing: Option<u64>,
    /// Block-cache hits during the workload.
    pub cache_hits: u64,
    /// Block-cache misses during the workload.
    pub cache_misses: u64,
}

/// Where the data sits at the end of a workload.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Shape {
    /// Bytes held by memtables (active and frozen).
    pub memtable_bytes: u64,
    /// Frozen memtables awaiting flush.
    pub frozen_memtables: u64,
    /// Chunks in L0.
    pub l0_chunks: u64,
    /// Sorted runs.
    pub runs: u64,
    /// Chunks in sorted runs.
    pub run_chunks: u64,
    /// Bytes held by the block cache.
    pub block_cache_bytes: u64,
}

impl Shape {
    /// The shape a metrics snapshot and the number of sorted runs describe.
    pub fn of(m: &Metrics, runs: usize) -> Shape {
        Shape {
            memtable_bytes: m.memtable_bytes,
            frozen_memtables: m.frozen_memtables,
            l0_chunks: m.l0_chunks,
            runs: runs as u64,
            run_chunks: m.run_chunks,
            block_cache_bytes: m.block_cache_bytes,
        }
    }
}

/// One workload's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkloadResult {
    /// Workload name.
    pub name: String,
    /// Operations counted in ops/s (entries for readseq, scans for scan).
    pub ops: u64,
    /// Client tasks.
    pub threads: usize,
    /// Wall time of the operations (flush excluded).
    pub seconds: f64,
    /// 1e6 / ops_per_sec.
    pub micros_per_op: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Key + value megabytes (2^20) per second (of entries, for scans).
    pub mb_per_sec: f64,
    /// Per-operation latency (per commit for writes, per call for reads).
    pub latency: Latency,
    /// Object-store requests during the workload (and its flush).
    pub requests: RequestCounts,
    /// Write-path figures (fills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<WriteStats>,
    /// The flush after a fill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush: Option<FlushStats>,
    /// Read-side figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<ReadStats>,
    /// Entries read by range scans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned_entries: Option<u64>,
    /// Where the data sits at the end (not for the probe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// The read path per tier (read workloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiers: Option<TierStats>,
    /// Cold reads (`readrandom`): figures, or why there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_reads: Option<ColdReport>,
    /// Resident memory after the workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Raw fdatasync latency of the disk, measured by the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsync_probe: Option<ProbeReport>,
}

impl WorkloadResult {
    /// Fills the throughput fields from `ops`, `seconds` and the entry size.
    pub fn set_rates(&mut self, entry_bytes: usize) {
        let secs = self.seconds.max(1e-9);
        self.ops_per_sec = self.ops as f64 / secs;
        self.micros_per_op = if self.ops == 0 {
            0.0
        } else {
            secs * 1e6 / self.ops as f64
        };
        let entries = self.scanned_entries.unwrap_or(self.ops);
        self.mb_per_sec = entries as f64 * entry_bytes as f64 / secs / (1u64 << 20) as f64;
    }
}

/// Write-path figures between two metric snapshots.
/// `ops` entries of `entry_bytes` (key + value) each were written.
pub fn write_stats(before: &Metrics, after: &Metrics, ops: u64, entry_bytes: u64) -> WriteStats {
    let d = |f: fn(&Metrics) -> u64| f(after).saturating_sub(f(before));
    let syncs = d(|m| m.wal_syncs);
    let synced = d(|m| m.wal_synced_batches);
    let sync_us = d(|m| m.wal_sync_micros);
    WriteStats {
        batches: d(|m| m.batches),
        wal_bytes: d(|m| m.wal_bytes),
        wal_syncs: syncs,
        wal_background_syncs: d(|m| m.wal_background_syncs),
        wal_synced_batches: synced,
        writes_per_sync: ratio(synced, syncs),
        mean_sync_us: ratio(sync_us, syncs),
        write_stalls: d(|m| m.write_stalls),
        write_stall_ms: d(|m| m.write_stall_micros) as f64 / 1000.0,
        wal_objects_shipped: d(|m| m.wal_objects_shipped),
        wal_bytes_shipped: d(|m| m.wal_bytes_shipped),
        flushes: d(|m| m.flushes),
        flush_bytes: d(|m| m.flush_bytes),
        flush_entries: d(|m| m.flush_entries),
        raw_bytes: ops * entry_bytes,
        flushed_raw_bytes: d(|m| m.flush_entries) * entry_bytes,
        compactions: d(|m| m.compactions),
        compaction_bytes_read: d(|m| m.compaction_bytes_read),
        compaction_bytes_written: d(|m| m.compaction_bytes_written),
        write_amplification: ratio(
            d(|m| m.flush_bytes) + d(|m| m.compaction_bytes_written),
            d(|m| m.flush_bytes),
        ),
        max_l0_chunks: before.l0_chunks.max(after.l0_chunks),
        puts_per_gb: ratio(
            after.requests.put.saturating_sub(before.requests.put) * 1_000_000_000,
            ops * entry_bytes,
        ),
    }
}

/// Block-cache hits and misses between two snapshots.
pub fn cache_delta(before: &Metrics, after: &Metrics) -> (u64, u64) {
    (
        after
            .block_cache_hits
            .saturating_sub(before.block_cache_hits),
        after
            .block_cache_misses
            .saturating_sub(before.block_cache_misses),
    )
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Where the text report goes: stdout, or stderr when stdout carries JSON.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    to_stderr: bool,
}

impl Printer {
    /// A printer for the `--json` setting.
    pub fn new(json: bool) -> Printer {
        Printer { to_stderr: json }
    }

    /// Prints one line of the text report.
    pub fn line(&self, text: &str) {
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    /// Prints the configuration header.
    pub fn header(&self, c: &Config) {
        let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
        let compressed = (c.value_size as f64 * c.compression_ratio).round();
        let raw = (c.key_size + c.value_size) as f64 * c.num as f64 / (1u64 << 20) as f64;
        let lines = [
            format!("firn-bench {}", c.version),
            format!(
                "Machine:    {} cores ({}), {:.1} GiB memory",
                c.machine.cores,
                c.machine.cpu,
                c.machine.memory_bytes as f64 / (1u64 << 30) as f64
            ),
            format!("Disk:       {}", c.disk.describe()),
            format!("Store:      {}", c.store_url),
            format!("Local dir:  {}", c.local_dir),
            format!("Keys:       {} bytes each", c.key_size),
            format!(
                "Values:     {} bytes each ({compressed} bytes after compression)",
                c.value_size
            ),
            format!("Entries:    {} ({raw:.1} MiB raw)", c.num),
            format!("Durability: {}", c.durability),
            format!(
                "Clients:    {} task(s) on {} runtime worker(s); {} put(s) per commit",
                c.threads, c.runtime_threads, c.batch_size
            ),
            format!(
                "Memtable:   {:.1} MiB; block cache {:.1} MiB; flush after fills: {}",
                mib(c.memtable_size),
                mib(c.block_cache_size),
                if c.flush_after_fill { "yes" } else { "no" }
            ),
            format!(
                "Disk cache: {}; scan read-ahead {:.1} MiB; preload indexes: {}",
                if c.disk_cache_size == 0 {
                    "off".to_string()
                } else {
                    format!("{:.1} MiB", c.disk_cache_size as f64 / (1u64 << 20) as f64)
                },
                c.scan_readahead as f64 / (1u64 << 20) as f64,
                if c.preload_indexes { "yes" } else { "no" }
            ),
            "------------------------------------------------".to_string(),
        ];
        for l in lines {
            self.line(&l);
        }
    }

    /// Prints one workload: the db_bench-style line and detail lines.
    pub fn result(&self, r: &WorkloadResult) {
        let l = &r.latency;
        self.line(&format!(
            "{:<12} : {:>11.3} micros/op {:>9.0} ops/sec; {:>7.1} MB/s; p50 {} p95 {} p99 {}; requests {}",
            r.name,
            r.micros_per_op,
            r.ops_per_sec,
            r.mb_per_sec,
            micros(l.p50_us),
            micros(l.p95_us),
            micros(l.p99_us),
            short_requests(&r.requests)
        ));
        let pad = " ".repeat(15);
        if let Some(w) = &r.writes {
            let sync = if w.wal_synced_batches > 0 {
                format!(
                    "{} fdatasyncs, {:.1} writes/fdatasync, mean fdatasync {}",
                    w.wal_syncs,
                    w.writes_per_sync,
                    micros(w.mean_sync_us)
                )
            } else {
                format!("{} background fdatasyncs", w.wal_background_syncs)
            };
            self.line(&format!(
                "{pad}wal: {} commits, {}; {sync}; stalls {} ({:.0} ms)",
                w.batches,
                bytes(w.wal_bytes),
                w.write_stalls,
                w.write_stall_ms
            ));
            let comp = if w.flush_bytes > 0 {
                format!(
                    " for {} entries ({:.2}x smaller than their {} of keys and values)",
                    w.flush_entries,
                    w.flushed_raw_bytes as f64 / w.flush_bytes as f64,
                    bytes(w.flushed_raw_bytes)
                )
            } else {
                String::new()
            };
            self.line(&format!(
                "{pad}flushes: {}, {} of chunks written{comp}",
                w.flushes,
                bytes(w.flush_bytes)
            ));
            self.line(&format!(
                "{pad}compactions: {}, {} read, {} written; write amplification {:.2}; max L0 chunks seen {}; {:.0} PUTs per GB of keys and values",
                w.compactions,
                bytes(w.compaction_bytes_read),
                bytes(w.compaction_bytes_written),
                w.write_amplification,
                w.max_l0_chunks,
                w.puts_per_gb
            ));
        }
        if let Some(f) = &r.flush {
            self.line(&format!(
                "{pad}flush(): {:.3} s (not in ops/sec), {} chunk(s); requests {}",
                f.seconds,
                f.chunks,
                short_requests(&f.requests)
            ));
        }
        if let Some(p) = &r.fsync_probe {
            self.line(&format!(
                "{pad}disk (probe): {} B write + fdatasync p50 {} p99 {} mean {}; {} B append without sync mean {} p50 {}",
                p.size,
                micros(p.p50_us),
                micros(p.p99_us),
                micros(p.mean_us),
                p.append_size,
                micros(p.append_mean_us),
                micros(p.append_p50_us)
            ));
        }
        if let Some(s) = &r.shape {
            self.line(&format!(
                "{pad}data: memtables {} ({} frozen), {} L0 chunk(s), {} sorted run(s) of {} chunk(s); block cache holds {}",
                bytes(s.memtable_bytes),
                s.frozen_memtables,
                s.l0_chunks,
                s.runs,
                s.run_chunks,
                bytes(s.block_cache_bytes)
            ));
        }
        if let Some(rd) = &r.reads {
            let scanned = r
                .scanned_entries
                .map(|e| format!(", {e} entries scanned"))
                .unwrap_or_default();
            self.line(&format!(
                "{pad}reads: {} found, {} not found{scanned}; block cache {} hits, {} misses; {:.4} GETs per op",
                rd.found,
                rd.not_found,
                rd.cache_hits,
                rd.cache_misses,
                ratio(r.requests.get, r.ops)
            ));
        }
        for l in crate::cold::detail_lines(r) {
            self.line(&format!("{pad}{l}"));
        }
    }

    /// Prints the JSON document (on stdout).
    pub fn json(&self, config: &Config, results: &[WorkloadResult]) -> Result<(), String> {
        #[derive(Serialize)]
        struct Doc<'a> {
            config: &'a Config,
            results: &'a [WorkloadResult],
        }
        let text = serde_json::to_string_pretty(&Doc { config, results })
            .map_err(|e| format!("encoding JSON: {e}"))?;
        println!("{text}");
        Ok(())
    }
}

/// Request counts without the zero byte totals cluttering the line.
fn short_requests(r: &RequestCounts) -> String {
    format!(
        "get={} put={} list={} delete={} head={} read={} written={}",
        r.get,
        r.put,
        r.list,
        r.delete,
        r.head,
        bytes(r.bytes_read),
        bytes(r.bytes_written)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_deltas() {
        let mut r = WorkloadResult {
            ops: 1000,
            seconds: 0.5,
            ..WorkloadResult::default()
        };
        r.set_rates(116);
        assert_eq!(r.ops_per_sec, 2000.0);
        assert_eq!(r.micros_per_op, 500.0);
        let before = Metrics::default();
        let after = Metrics {
            wal_syncs: 10,
            wal_synced_batches: 300,
            wal_sync_micros: 5000,
            ..Metrics::default()
        };
        let w = write_stats(&before, &after, 0, 116);
        assert_eq!(w.writes_per_sync, 30.0);
        assert_eq!(w.mean_sync_us, 500.0);
        let after = Metrics {
            flush_bytes: 100,
            compaction_bytes_written: 150,
            l0_chunks: 3,
            requests: RequestCounts {
                put: 4,
                ..RequestCounts::default()
            },
            ..Metrics::default()
        };
        let w = write_stats(&before, &after, 1_000_000, 100);
        assert_eq!(w.write_amplification, 2.5);
        assert_eq!(w.max_l0_chunks, 3);
        assert_eq!(w.puts_per_gb, 40.0);
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=100u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::from_nanos(&h);
        assert!((l.p50_us - 50.0).abs() < 0.1 && (l.p99_us - 99.0).abs() < 0.1);
    }
}

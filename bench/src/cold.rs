//! Where reads found their data (memory, local disk, object store), the
//! cold reads of `readrandom` (point reads that made object-store GETs),
//! and the detail lines that show them with the scan throughput and memory.
//!
//! Cold reads are counted per read, from the object store's GET counter
//! before and after it, so only with `--threads 1`: with more clients, one
//! read's GETs cannot be told from another's. Background work (a GC pass,
//! a manifest refresh) can still make GETs during a read; the workload's
//! block and index GETs give the read path's own figure beside it.

use firn::{CacheCounts, Metrics};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::report::{Latency, WorkloadResult};
use crate::target::Failure;
use crate::units::{bytes, micros};

/// What the cold-read accounting says when it could not run.
pub const NEEDS_ONE_THREAD: &str = "n/a (needs --threads 1)";

/// The cold reads one client saw.
pub struct ColdTally {
    /// Latency of each cold read, in nanoseconds.
    pub hist: Histogram<u64>,
    /// Reads that made at least one GET.
    pub reads: u64,
    /// GETs made during those reads.
    pub gets: u64,
    /// Cold reads by GETs made: 1, 2, 3 or more.
    pub by_gets: [u64; 3],
}

impl ColdTally {
    /// An empty tally.
    pub fn new() -> Result<ColdTally, Failure> {
        let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .map_err(|e| format!("histogram: {e}"))?;
        Ok(ColdTally {
            hist,
            reads: 0,
            gets: 0,
            by_gets: [0; 3],
        })
    }

    /// Records a read of `nanos` that made `gets` GETs (nothing if none).
    pub fn record(&mut self, nanos: u64, gets: u64) {
        if gets == 0 {
            return;
        }
        self.hist.saturating_record(nanos.max(1));
        self.reads += 1;
        self.gets += gets;
        self.by_gets[(gets.min(3) - 1) as usize] += 1;
    }

    /// Adds another client's tally.
    pub fn merge(&mut self, other: &ColdTally) -> Result<(), Failure> {
        self.hist
            .add(&other.hist)
            .map_err(|e| format!("histogram: {e}"))?;
        self.reads += other.reads;
        self.gets += other.gets;
        for (a, b) in self.by_gets.iter_mut().zip(other.by_gets) {
            *a += b;
        }
        Ok(())
    }
}

/// The read path per tier during a workload (deltas of `Metrics::cache`
/// and the request counters), plus what the tiers held at its end.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierStats {
    /// All object-store GETs.
    pub gets: u64,
    /// Bytes they returned.
    pub bytes_read: u64,
    /// Ranged GETs of data blocks (one may cover several adjacent blocks).
    pub block_gets: u64,
    /// Bytes of those GETs.
    pub block_get_bytes: u64,
    /// Ranged GETs of chunk indexes (missing from `LOCAL/index`).
    pub index_gets: u64,
    /// Bytes of those GETs.
    pub index_get_bytes: u64,
    /// GETs of neither (manifest reads by GC or a refresh).
    pub other_gets: u64,
    /// Chunk indexes mapped from local index files.
    pub index_local: u64,
    /// Blocks found decoded in memory.
    pub memory_hits: u64,
    /// Blocks not in memory.
    pub memory_misses: u64,
    /// Raw blocks found in the disk cache.
    pub disk_hits: u64,
    /// Blocks in neither tier.
    pub disk_misses: u64,
    /// Damaged or stale local files discarded.
    pub discarded: u64,
    /// Bytes the memory tier held at the end.
    pub memory_bytes: u64,
    /// Bytes the disk tier held at the end.
    pub disk_bytes: u64,
}

impl TierStats {
    /// The figures between two snapshots.
    pub fn between(before: &Metrics, after: &Metrics) -> TierStats {
        let d = |f: fn(&CacheCounts) -> u64| f(&after.cache).saturating_sub(f(&before.cache));
        let requests = after.requests.since(&before.requests);
        let (block_gets, index_gets) = (d(|c| c.block_gets), d(|c| c.index_gets));
        TierStats {
            gets: requests.get,
            bytes_read: requests.bytes_read,
            block_gets,
            block_get_bytes: d(|c| c.block_get_bytes),
            index_gets,
            index_get_bytes: d(|c| c.index_get_bytes),
            other_gets: requests.get.saturating_sub(block_gets + index_gets),
            index_local: d(|c| c.index_local),
            memory_hits: d(|c| c.memory_hits),
            memory_misses: d(|c| c.memory_misses),
            disk_hits: d(|c| c.disk_hits),
            disk_misses: d(|c| c.disk_misses),
            discarded: d(|c| c.discarded),
            memory_bytes: after.cache.memory_bytes,
            disk_bytes: after.cache.disk_bytes,
        }
    }

    /// The `tiers:` detail line.
    pub fn line(&self) -> String {
        let discarded = if self.discarded > 0 {
            format!("; {} local file(s) discarded", self.discarded)
        } else {
            String::new()
        };
        format!(
            "tiers: memory {} hits / {} misses, disk {} hits / {} misses; GETs {}: {} block ({}), {} index ({}), {} other; {} index file(s) mapped; memory holds {}, disk {}{discarded}",
            self.memory_hits,
            self.memory_misses,
            self.disk_hits,
            self.disk_misses,
            self.gets,
            self.block_gets,
            bytes(self.block_get_bytes),
            self.index_gets,
            bytes(self.index_get_bytes),
            self.other_gets,
            self.index_local,
            bytes(self.memory_bytes),
            bytes(self.disk_bytes)
        )
    }
}

/// The cold reads of a `readrandom`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ColdReads {
    /// Reads that made at least one GET.
    pub cold_reads: u64,
    /// All reads.
    pub reads: u64,
    /// GETs made during the cold reads (background GETs included).
    pub gets: u64,
    /// `gets / cold_reads`.
    pub gets_per_cold_read: f64,
    /// The workload's block and index GETs per cold read: the read path's
    /// own GETs, without background ones.
    pub read_path_gets_per_cold_read: f64,
    /// Cold reads that made exactly one GET.
    pub with_1_get: u64,
    /// Cold reads that made two.
    pub with_2_gets: u64,
    /// Cold reads that made three or more.
    pub with_3_or_more_gets: u64,
    /// Latency of the cold reads alone.
    pub latency: Latency,
}

/// Cold-read figures, or why there are none.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ColdReport {
    /// Measured (`--threads 1`).
    Measured(ColdReads),
    /// Not measured: [`NEEDS_ONE_THREAD`].
    NotMeasured(&'static str),
}

impl ColdReport {
    /// The report for `reads` reads whose per-read tally is `tally` (none
    /// with more than one client) and whose tier figures are `tiers`.
    pub fn new(tally: Option<&ColdTally>, reads: u64, tiers: &TierStats) -> ColdReport {
        let Some(t) = tally else {
            return ColdReport::NotMeasured(NEEDS_ONE_THREAD);
        };
        let per = |n: u64| {
            if t.reads == 0 {
                0.0
            } else {
                n as f64 / t.reads as f64
            }
        };
        ColdReport::Measured(ColdReads {
            cold_reads: t.reads,
            reads,
            gets: t.gets,
            gets_per_cold_read: per(t.gets),
            read_path_gets_per_cold_read: per(tiers.block_gets + tiers.index_gets),
            with_1_get: t.by_gets[0],
            with_2_gets: t.by_gets[1],
            with_3_or_more_gets: t.by_gets[2],
            latency: Latency::from_nanos(&t.hist),
        })
    }

    /// The `cold reads:` detail line.
    pub fn line(&self, all: &Latency) -> String {
        match self {
            ColdReport::NotMeasured(why) => format!("cold reads: {why}"),
            ColdReport::Measured(c) => format!(
                "cold reads: {} of {} reads made GETs: {:.4} GETs per cold read (read path {:.4}; 1 GET {}, 2 GETs {}, 3+ {}); cold p50 {} p99 {} (all reads p50 {} p99 {})",
                c.cold_reads,
                c.reads,
                c.gets_per_cold_read,
                c.read_path_gets_per_cold_read,
                c.with_1_get,
                c.with_2_gets,
                c.with_3_or_more_gets,
                micros(c.latency.p50_us),
                micros(c.latency.p99_us),
                micros(all.p50_us),
                micros(all.p99_us)
            ),
        }
    }
}

/// The `scan:` line of a scanning workload: key + value bytes per second
/// and the requests behind them.
fn scan_line(r: &WorkloadResult) -> String {
    let entries = r.scanned_entries.unwrap_or(r.ops);
    let kv = (r.mb_per_sec * r.seconds * (1u64 << 20) as f64).round() as u64;
    let per_get = match r.requests.bytes_read.checked_div(r.requests.get) {
        Some(each) => format!("{} per GET", bytes(each)),
        None => "no GETs".to_string(),
    };
    format!(
        "scan: {entries} entries, {} of keys and values in {:.2} s = {:.1} MB/s; {} GETs, {} read ({per_get})",
        bytes(kv),
        r.seconds,
        r.mb_per_sec,
        r.requests.get,
        bytes(r.requests.bytes_read)
    )
}

/// The detail lines of the read path, cold reads, scan throughput and
/// memory of `r` (those that apply).
pub fn detail_lines(r: &WorkloadResult) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(t) = &r.tiers {
        lines.push(t.line());
    }
    if let Some(c) = &r.cold_reads {
        lines.push(c.line(&r.latency));
    }
    if matches!(r.name.as_str(), "readseq" | "scan") {
        lines.push(scan_line(r));
    }
    if let Some(m) = &r.memory {
        lines.push(m.line());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_reads_are_counted() {
        let mut a = ColdTally::new().unwrap();
        a.record(1_000, 0);
        a.record(4_000_000, 1);
        a.record(6_000_000, 2);
        let mut b = ColdTally::new().unwrap();
        b.record(5_000_000, 1);
        b.record(9_000_000, 4);
        a.merge(&b).unwrap();
        assert_eq!((a.reads, a.gets, a.by_gets), (4, 8, [2, 1, 1]));
        let tiers = TierStats {
            block_gets: 4,
            index_gets: 1,
            ..TierStats::default()
        };
        let ColdReport::Measured(c) = ColdReport::new(Some(&a), 10, &tiers) else {
            panic!("not measured");
        };
        assert_eq!(c.gets_per_cold_read, 2.0);
        assert_eq!(c.read_path_gets_per_cold_read, 1.25);
        assert!((c.latency.p50_us - 5000.0).abs() < 10.0);
        let line = ColdReport::Measured(c).line(&Latency::default());
        assert!(line.starts_with("cold reads: 4 of 10 reads made GETs: 2.0000 GETs"));
        let none = ColdReport::new(None, 10, &tiers);
        assert_eq!(
            none.line(&Latency::default()),
            "cold reads: n/a (needs --threads 1)"
        );
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            "\"n/a (needs --threads 1)\""
        );
    }

    #[test]
    fn tier_deltas() {
        let mut before = Metrics::default();
        before.cache.block_gets = 10;
        before.requests.get = 12;
        let mut after = before.clone();
        after.cache.block_gets = 15;
        after.cache.index_gets = 2;
        after.cache.disk_hits = 7;
        after.requests.get = 20;
        let t = TierStats::between(&before, &after);
        assert_eq!(
            (t.gets, t.block_gets, t.index_gets, t.other_gets),
            (8, 5, 2, 1)
        );
        assert_eq!(t.disk_hits, 7);
        assert!(t.line().contains("GETs 8: 5 block"));
    }

    #[test]
    fn scan_lines() {
        let r = WorkloadResult {
            name: "readseq".into(),
            ops: 1000,
            seconds: 2.0,
            mb_per_sec: 1.0,
            requests: firn::RequestCounts {
                get: 4,
                bytes_read: 8 << 20,
                ..Default::default()
            },
            ..WorkloadResult::default()
        };
        let lines = detail_lines(&r);
        assert_eq!(
            lines,
            vec!["scan: 1000 entries, 2.0MiB of keys and values in 2.00 s = 1.0 MB/s; 4 GETs, 8.0MiB read (2.0MiB per GET)"]
        );
    }
}

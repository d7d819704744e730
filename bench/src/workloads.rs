//! The workloads and the [`Bench`] that runs them on one database.
//!
//! Every workload splits its operations evenly among `--threads` client
//! tasks (see [`crate::clients`]), starts them together and measures the
//! wall time until the last one finishes; the engine's metrics before and
//! after give the request counts, WAL and flush figures.

use std::ops::Bound;
use std::str::FromStr;
use std::time::Instant;

use firn::{Db, Metrics};

use crate::args::Args;
use crate::clients::{read_client, readseq_client, run_clients, scan_client, write_client, Tally};
use crate::cold::{ColdReport, TierStats};
use crate::keys::{share_range, KeyFormat, Order, ValueGen};
use crate::memory::{reset_peak, MemoryStats};
use crate::probe::{fsync_probe, ProbeReport};
use crate::report::{
    cache_delta, write_stats, FlushStats, Latency, ReadStats, Shape, WorkloadResult, WriteStats,
};
use crate::target::{Failure, Target};

/// A benchmark workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Keys 0..num in order, into an empty database.
    FillSeq,
    /// Keys 0..num in a random order (each once), into an empty database.
    FillRandom,
    /// Keys 0..num again, in another random order.
    Overwrite,
    /// Point reads of uniformly random existing keys.
    ReadRandom,
    /// One forward scan of the whole database (ops = entries).
    ReadSeq,
    /// Short range scans (`--scan-length` entries) from random keys.
    Scan,
    /// Raw write + fdatasync latency of the disk holding the WAL.
    FsyncProbe,
    /// Keys 0..num in order through one bulk ingest (`Db::bulk_ingest`),
    /// into an empty database: straight into chunks, published at once.
    Ingest,
}

impl Workload {
    /// Every workload, in the order of [`Workload::name`]'s listing.
    pub const ALL: [Workload; 8] = [
        Workload::FillSeq,
        Workload::FillRandom,
        Workload::Overwrite,
        Workload::ReadRandom,
        Workload::ReadSeq,
        Workload::Scan,
        Workload::FsyncProbe,
        Workload::Ingest,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::FillSeq => "fillseq",
            Workload::FillRandom => "fillrandom",
            Workload::Overwrite => "overwrite",
            Workload::ReadRandom => "readrandom",
            Workload::ReadSeq => "readseq",
            Workload::Scan => "scan",
            Workload::FsyncProbe => "fsync-probe",
            Workload::Ingest => "ingest",
        }
    }

    /// True for the workloads that write.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Workload::FillSeq | Workload::FillRandom | Workload::Overwrite | Workload::Ingest
        )
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        let s = s.trim();
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s || (*w == Workload::FsyncProbe && s == "fsyncprobe"))
            .ok_or_else(|| {
                let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload {s:?}; known: {}", names.join(", "))
            })
    }
}

/// The database, the key and value generators, and what has been done so far.
pub struct Bench {
    args: Args,
    target: Target,
    keys: KeyFormat,
    values: ValueGen,
    db: Option<Db>,
    wiped: bool,
    filled: bool,
    probe: Option<ProbeReport>,
}

impl Bench {
    /// A bench on `target`; nothing is opened yet.
    pub fn new(args: Args, target: Target, keys: KeyFormat) -> Bench {
        let values = ValueGen::new(args.seed, args.compression_ratio, args.value_size);
        let filled = args.use_existing;
        Bench {
            args,
            target,
            keys,
            values,
            db: None,
            wiped: false,
            filled,
            probe: None,
        }
    }

    /// Runs one workload.
    pub async fn run(&mut self, w: Workload) -> Result<WorkloadResult, Failure> {
        let peak_reset = reset_peak();
        let mut result = match w {
            Workload::FsyncProbe => return self.probe_result(),
            Workload::FillSeq | Workload::FillRandom | Workload::Overwrite => self.fill(w).await?,
            Workload::ReadRandom | Workload::ReadSeq | Workload::Scan => self.read(w).await?,
            Workload::Ingest => self.ingest().await?,
        };
        result.memory = Some(MemoryStats::now(peak_reset));
        result.name = w.name().to_string();
        result.threads = self.args.threads;
        result.set_rates(self.args.key_size + self.args.value_size);
        Ok(result)
    }

    /// The error for a read workload that missed keys the fills wrote
    /// (`None` when every expected key was found).
    pub fn missing_keys(&self, r: &WorkloadResult) -> Option<Failure> {
        let rd = r.reads.as_ref().filter(|rd| rd.not_found > 0)?;
        let first = rd.first_missing.unwrap_or_default();
        Some(format!(
            "{}: {} expected key(s) were not found (first: key {first} = {:?})",
            r.name,
            rd.not_found,
            String::from_utf8_lossy(&self.keys.key(first))
        ))
    }

    /// Flushes (if the database is kept), closes the database and removes
    /// the temporary folder.
    pub async fn finish(mut self) -> Result<(), Failure> {
        if let Some(db) = self.db.take() {
            if self.target.kept() {
                db.flush().await.map_err(|e| format!("final flush: {e}"))?;
            }
            db.close().await.map_err(|e| format!("close: {e}"))?;
        }
        self.target.cleanup()
    }

    /// The open database, opening it (after the initial wipe) if needed.
    async fn db(&mut self) -> Result<Db, Failure> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        if !self.wiped && !self.args.use_existing {
            self.target.wipe().await?;
            self.wiped = true;
        }
        let db = self.target.open().await?;
        self.db = Some(db.clone());
        Ok(db)
    }

    /// An empty database (unless `--use-existing`).
    async fn fresh_db(&mut self) -> Result<Db, Failure> {
        if self.args.use_existing {
            return self.db().await;
        }
        if let Some(db) = self.db.take() {
            db.close()
                .await
                .map_err(|e| format!("close before a fresh fill: {e}"))?;
        }
        self.wiped = false;
        self.filled = false;
        self.db().await
    }

    async fn fill(&mut self, w: Workload) -> Result<WorkloadResult, Failure> {
        let db = match w {
            Workload::Overwrite => self.db().await?,
            _ => self.fresh_db().await?,
        };
        let num = self.args.num;
        let order = match w {
            Workload::FillSeq => Order::Sequential,
            Workload::FillRandom => Order::permutation(num, self.args.seed),
            _ => Order::permutation(num, self.args.seed.wrapping_add(1)),
        };
        let before = db.metrics();
        let (fmt, size, batch, clients) = (
            self.keys,
            self.args.value_size,
            self.args.batch_size,
            self.args.threads,
        );
        let (tally, seconds) = run_clients(clients, |i| {
            write_client(
                db.clone(),
                order.share(num, i, clients),
                fmt,
                self.values.fork(i),
                size,
                batch,
            )
        })
        .await?;
        self.filled = true;
        let mut after = db.metrics();
        let flush = if self.args.no_flush {
            None
        } else {
            let started = Instant::now();
            let chunks = db
                .flush()
                .await
                .map_err(|e| format!("flush after {}: {e}", w.name()))?;
            let seconds = started.elapsed().as_secs_f64();
            let flushed = db.metrics();
            let requests = flushed.requests.since(&after.requests);
            after = flushed;
            Some(FlushStats {
                seconds,
                chunks: chunks.len(),
                requests,
            })
        };
        let stats = write_stats(
            &before,
            &after,
            tally.ops,
            (self.args.key_size + size) as u64,
        );
        Ok(WorkloadResult {
            ops: tally.ops,
            seconds,
            latency: Latency::from_nanos(&tally.hist),
            requests: after.requests.since(&before.requests),
            writes: Some(WriteStats {
                max_l0_chunks: tally.max_l0_chunks.max(stats.max_l0_chunks),
                ..stats
            }),
            flush,
            shape: Some(Shape::of(&after, db.manifest().runs.len())),
            fsync_probe: self.probe.clone(),
            ..WorkloadResult::default()
        })
    }

    /// One bulk ingest of keys 0..num in order; the time includes every
    /// chunk's upload and the publish.
    async fn ingest(&mut self) -> Result<WorkloadResult, Failure> {
        let db = self.fresh_db().await?;
        let num = self.args.num;
        let before = db.metrics();
        let mut values = self.values.fork(0);
        let mut hist = hdrhistogram::Histogram::<u64>::new(3)
            .map_err(|e| format!("latency histogram: {e}"))?;
        let started = Instant::now();
        let mut ingest = db.bulk_ingest().map_err(|e| format!("bulk ingest: {e}"))?;
        let mut last = Instant::now();
        for k in 0..num {
            ingest
                .put(self.keys.key(k), values.next_value(self.args.value_size))
                .await
                .map_err(|e| format!("bulk ingest of key {k}: {e}"))?;
            if k % 1024 == 1023 {
                // Per-entry latency, sampled as the mean of 1024 entries.
                let now = Instant::now();
                let _ = hist.record((now - last).as_nanos() as u64 / 1024);
                last = now;
            }
        }
        let report = ingest
            .finish()
            .await
            .map_err(|e| format!("bulk ingest: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        self.filled = true;
        let after = db.metrics();
        eprintln!(
            "ingest: {} entries at seq {} into {} chunks ({} bytes, {:?})",
            report.entries, report.seq, report.chunks, report.bytes, report.placement
        );
        Ok(WorkloadResult {
            ops: report.entries,
            seconds,
            latency: Latency::from_nanos(&hist),
            requests: after.requests.since(&before.requests),
            shape: Some(Shape::of(&after, db.manifest().runs.len())),
            ..WorkloadResult::default()
        })
    }

    async fn read(&mut self, w: Workload) -> Result<WorkloadResult, Failure> {
        let db = self.db().await?;
        if !self.filled {
            return Err(format!(
                "no data to read: run a fill first (e.g. --benchmarks fillrandom,{}) or pass --use-existing",
                w.name()
            ));
        }
        let (num, fmt, clients, seed) =
            (self.args.num, self.keys, self.args.threads, self.args.seed);
        let before = db.metrics();
        let (tally, seconds) = match w {
            Workload::ReadRandom => {
                let order = Order::Uniform {
                    num,
                    seed: seed.wrapping_add(2),
                };
                let (reads, size) = (self.args.reads(), self.args.value_size);
                let per_read = clients == 1;
                run_clients(clients, |i| {
                    read_client(
                        db.clone(),
                        order.share(reads, i, clients),
                        fmt,
                        size,
                        per_read,
                    )
                })
                .await?
            }
            Workload::Scan => {
                let order = Order::Uniform {
                    num,
                    seed: seed.wrapping_add(3),
                };
                let (scans, length) = (self.args.scans(), self.args.scan_length);
                run_clients(clients, |i| {
                    scan_client(db.clone(), order.share(scans, i, clients), fmt, length, num)
                })
                .await?
            }
            _ => {
                run_clients(clients, |i| {
                    let part = share_range(num, i, clients);
                    let start = if i == 0 {
                        Bound::Unbounded
                    } else {
                        Bound::Included(fmt.key(part.start))
                    };
                    let end = if i + 1 == clients {
                        Bound::Unbounded
                    } else {
                        Bound::Excluded(fmt.key(part.end))
                    };
                    readseq_client(db.clone(), (start, end), part.end - part.start)
                })
                .await?
            }
        };
        let after = db.metrics();
        let mut r = read_result(
            &before,
            &after,
            db.manifest().runs.len(),
            seconds,
            &tally,
            w == Workload::Scan,
        );
        let tiers = TierStats::between(&before, &after);
        if w == Workload::ReadRandom {
            r.cold_reads = Some(ColdReport::new(tally.cold.as_ref(), tally.ops, &tiers));
        }
        r.tiers = Some(tiers);
        Ok(r)
    }

    /// Runs the fsync probe on the disk holding the WAL.
    fn probe_result(&mut self) -> Result<WorkloadResult, Failure> {
        self.target.prepare()?;
        let dir = self.target.local_dir();
        let p = fsync_probe(dir, self.args.probe_count, self.args.probe_size)
            .map_err(|e| format!("fsync probe in {}: {e}", dir.display()))?;
        self.probe = Some(p.clone());
        let mut r = WorkloadResult {
            name: Workload::FsyncProbe.name().to_string(),
            ops: p.count as u64,
            threads: 1,
            seconds: p.count as f64 * p.mean_us / 1e6,
            latency: Latency {
                p50_us: p.p50_us,
                p95_us: p.p95_us,
                p99_us: p.p99_us,
                p999_us: p.max_us,
                max_us: p.max_us,
                mean_us: p.mean_us,
            },
            fsync_probe: Some(p),
            ..WorkloadResult::default()
        };
        r.set_rates(self.args.probe_size);
        Ok(r)
    }
}

fn read_result(
    before: &Metrics,
    after: &Metrics,
    runs: usize,
    seconds: f64,
    tally: &Tally,
    scan: bool,
) -> WorkloadResult {
    let (cache_hits, cache_misses) = cache_delta(before, after);
    WorkloadResult {
        ops: tally.ops,
        seconds,
        latency: Latency::from_nanos(&tally.hist),
        requests: after.requests.since(&before.requests),
        reads: Some(ReadStats {
            found: tally.found,
            not_found: tally.not_found,
            first_missing: tally.first_missing,
            cache_hits,
            cache_misses,
        }),
        scanned_entries: scan.then_some(tally.entries),
        shape: Some(Shape::of(after, runs)),
        ..WorkloadResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert!("fill".parse::<Workload>().unwrap_err().contains("fillseq"));
    }

    fn bench(extra: &[&str]) -> Bench {
        let dir = std::env::temp_dir().join(format!(
            "firn-bench-workloads-{}-{}",
            std::process::id(),
            extra.join("")
        ));
        let mut argv = vec!["firn-bench", "--num", "2000"];
        if !extra.contains(&"--threads") {
            argv.extend_from_slice(&["--threads", "3"]);
        }
        argv.extend_from_slice(extra);
        argv.extend_from_slice(&["--db", dir.to_str().unwrap()]);
        let args = Args::parse_from(argv);
        let target = Target::from_args(&args).unwrap();
        let keys = KeyFormat::new(args.key_size, args.num).unwrap();
        Bench::new(args, target, keys)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_workload_runs_and_finds_its_keys() {
        let mut b = bench(&["--scans", "20", "--memtable-size", "64KiB"]);
        let root = b.target.local_dir().parent().unwrap().to_path_buf();
        for w in [
            Workload::FillRandom,
            Workload::Overwrite,
            Workload::ReadRandom,
            Workload::ReadSeq,
            Workload::Scan,
        ] {
            let r = b.run(w).await.unwrap();
            assert_eq!(r.name, w.name());
            assert!(r.ops > 0 && r.ops_per_sec > 0.0, "{w:?}");
            assert!(b.missing_keys(&r).is_none(), "{w:?}");
            if let Some(rd) = &r.reads {
                assert_eq!(rd.not_found, 0);
                assert!(r.tiers.is_some(), "{w:?}");
            }
            assert!(r.memory.is_some(), "{w:?}");
            if w == Workload::ReadRandom {
                assert!(matches!(r.cold_reads, Some(ColdReport::NotMeasured(_))));
            }
        }
        let fill = b.run(Workload::FillSeq).await.unwrap();
        let writes = fill.writes.unwrap();
        assert_eq!(writes.batches, 2000);
        assert!(writes.flushes >= 1 && writes.flush_bytes > 0);
        assert!(fill.flush.is_some());
        let seq = b.run(Workload::ReadSeq).await.unwrap();
        assert_eq!(seq.ops, 2000);
        b.finish().await.unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_client_counts_cold_reads() {
        let mut b = bench(&["--threads", "1", "--reads", "300", "--disk-cache-size", "0"]);
        assert_eq!(b.target.options().disk_cache_bytes, 0);
        let root = b.target.local_dir().parent().unwrap().to_path_buf();
        b.run(Workload::FillRandom).await.unwrap();
        // A new handle reads with empty memory: its first reads are cold.
        b.db.take().unwrap().close().await.unwrap();
        let r = b.run(Workload::ReadRandom).await.unwrap();
        let Some(ColdReport::Measured(c)) = &r.cold_reads else {
            panic!("cold reads not measured: {:?}", r.cold_reads);
        };
        let tiers = r.tiers.as_ref().unwrap();
        assert!(c.cold_reads > 0 && c.cold_reads <= 300);
        assert!(c.gets >= c.cold_reads && c.gets <= tiers.gets);
        assert!(tiers.block_gets > 0 && tiers.disk_hits == 0);
        assert!(c.latency.p50_us > 0.0);
        b.finish().await.unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_keys_fail_loudly() {
        let mut b = bench(&["--use-existing"]);
        let root = b.target.local_dir().parent().unwrap().to_path_buf();
        let r = b.run(Workload::ReadRandom).await.unwrap();
        assert_eq!(r.reads.as_ref().unwrap().not_found, 2000);
        let err = b.missing_keys(&r).unwrap();
        assert!(
            err.contains("readrandom: 2000 expected key(s) were not found"),
            "{err}"
        );
        b.finish().await.unwrap();
        std::fs::remove_dir_all(root).unwrap();

        let mut fresh = bench(&[]);
        let root = fresh.target.local_dir().parent().unwrap().to_path_buf();
        let err = fresh.run(Workload::Scan).await.unwrap_err();
        assert!(err.contains("run a fill first"), "{err}");
        fresh.finish().await.unwrap();
        let _ = std::fs::remove_dir_all(root);
    }
}

//! The workloads, and the harness that runs each on concurrent client tasks.
//!
//! Every workload splits its operations evenly among `--threads` tokio
//! tasks, starts them together behind a barrier and measures the wall time
//! until the last one finishes. Each task records the latency of every
//! operation (the time since its previous one completed, so the harness
//! reads the clock once per operation) in its own histogram; the
//! histograms are merged at the end.

use std::future::Future;
use std::ops::Bound;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use firn::{Bytes, Db, Metrics, WriteBatch};
use hdrhistogram::Histogram;

use crate::args::Args;
use crate::keys::{share_range, KeyFormat, KeySource, Order, ValueGen};
use crate::probe::{fsync_probe, ProbeReport};
use crate::report::{cache_delta, write_stats, FlushStats, Latency, ReadStats, WorkloadResult};
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
}

impl Workload {
    /// Every workload, in the order of [`Workload::name`]'s listing.
    pub const ALL: [Workload; 7] = [
        Workload::FillSeq,
        Workload::FillRandom,
        Workload::Overwrite,
        Workload::ReadRandom,
        Workload::ReadSeq,
        Workload::Scan,
        Workload::FsyncProbe,
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
        }
    }

    /// True for the workloads that write.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Workload::FillSeq | Workload::FillRandom | Workload::Overwrite
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

/// What one client task counted.
struct Tally {
    hist: Histogram<u64>,
    ops: u64,
    found: u64,
    not_found: u64,
    entries: u64,
    first_missing: Option<u64>,
}

impl Tally {
    fn new() -> Result<Tally, Failure> {
        // 1 ns .. 1 hour at 3 significant digits: fixed size, never resizes.
        let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .map_err(|e| format!("histogram: {e}"))?;
        Ok(Tally {
            hist,
            ops: 0,
            found: 0,
            not_found: 0,
            entries: 0,
            first_missing: None,
        })
    }

    /// Records an operation that ended `now`, having started at `*last`.
    fn lap(&mut self, last: &mut Instant) {
        let now = Instant::now();
        let nanos = u64::try_from(now.duration_since(*last).as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(nanos.max(1));
        *last = now;
    }

    fn merge(&mut self, other: Tally) -> Result<(), Failure> {
        self.hist
            .add(&other.hist)
            .map_err(|e| format!("histogram: {e}"))?;
        self.ops += other.ops;
        self.found += other.found;
        self.not_found += other.not_found;
        self.entries += other.entries;
        self.first_missing = self.first_missing.or(other.first_missing);
        Ok(())
    }
}

/// Runs `clients` tasks made by `make` (given the client index), started
/// together. Returns their merged tally and the wall time in seconds.
async fn run_clients<F, Fut>(clients: usize, mut make: F) -> Result<(Tally, f64), Failure>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Tally, Failure>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut handles = Vec::with_capacity(clients);
    for i in 0..clients {
        let work = make(i);
        let start = barrier.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            work.await
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut total = Tally::new()?;
    let mut first_error = None;
    for handle in handles {
        match handle.await {
            Ok(Ok(t)) => total.merge(t)?,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("client task failed: {e}"));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    match first_error {
        Some(e) => Err(e),
        None => Ok((total, seconds)),
    }
}

/// Writes the keys of `keys`, `batch` puts per commit.
async fn write_client(
    db: Db,
    mut keys: KeySource,
    fmt: KeyFormat,
    mut values: ValueGen,
    value_size: usize,
    batch: u64,
) -> Result<Tally, Failure> {
    let mut t = Tally::new()?;
    let mut left = keys.remaining();
    let mut last = Instant::now();
    while left > 0 {
        let n = left.min(batch);
        if n == 1 {
            let k = keys.next().unwrap_or_default();
            db.put(fmt.key(k), values.next_value(value_size))
                .await
                .map_err(|e| format!("put of key {k}: {e}"))?;
        } else {
            let mut b = WriteBatch::new();
            for k in keys.by_ref().take(n as usize) {
                b.put(fmt.key(k), values.next_value(value_size));
            }
            db.write(b)
                .await
                .map_err(|e| format!("write of a {n}-put batch: {e}"))?;
        }
        left -= n;
        t.ops += n;
        t.lap(&mut last);
    }
    Ok(t)
}

/// Point reads of the keys of `keys`; every one must exist with a value of
/// `value_size` bytes.
async fn read_client(
    db: Db,
    keys: KeySource,
    fmt: KeyFormat,
    value_size: usize,
) -> Result<Tally, Failure> {
    let mut t = Tally::new()?;
    let mut last = Instant::now();
    for k in keys {
        let key = fmt.key(k);
        match db
            .get(&key)
            .await
            .map_err(|e| format!("get of key {k}: {e}"))?
        {
            Some(v) if v.len() == value_size => t.found += 1,
            Some(v) => {
                return Err(format!(
                    "get of key {k} returned a {}-byte value, expected {value_size} bytes",
                    v.len()
                ))
            }
            None => {
                t.not_found += 1;
                t.first_missing.get_or_insert(k);
            }
        }
        t.ops += 1;
        t.lap(&mut last);
    }
    Ok(t)
}

/// Scans `range` to its end; `expected` entries should be there.
async fn readseq_client(
    db: Db,
    range: (Bound<Bytes>, Bound<Bytes>),
    expected: u64,
) -> Result<Tally, Failure> {
    let mut t = Tally::new()?;
    let mut it = db.scan(range).map_err(|e| format!("scan: {e}"))?;
    let mut last = Instant::now();
    while it.next().await.map_err(|e| format!("scan: {e}"))?.is_some() {
        t.ops += 1;
        t.lap(&mut last);
    }
    t.entries = t.ops;
    t.found = t.ops;
    t.not_found = expected.saturating_sub(t.ops);
    Ok(t)
}

/// Range scans of up to `length` entries from each key of `keys`; keys
/// `0..num` are expected to exist.
async fn scan_client(
    db: Db,
    keys: KeySource,
    fmt: KeyFormat,
    length: u64,
    num: u64,
) -> Result<Tally, Failure> {
    let mut t = Tally::new()?;
    let mut last = Instant::now();
    for k in keys {
        let mut it = db
            .scan(fmt.key(k)..)
            .map_err(|e| format!("scan from key {k}: {e}"))?;
        let mut got = 0;
        while got < length {
            match it
                .next()
                .await
                .map_err(|e| format!("scan from key {k}: {e}"))?
            {
                Some(_) => got += 1,
                None => break,
            }
        }
        drop(it);
        if got < length.min(num - k) {
            t.not_found += 1;
            t.first_missing.get_or_insert(k);
        }
        t.entries += got;
        t.ops += 1;
        t.lap(&mut last);
    }
    t.found = t.entries;
    Ok(t)
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
        let mut result = match w {
            Workload::FsyncProbe => return self.probe_result(),
            Workload::FillSeq | Workload::FillRandom | Workload::Overwrite => self.fill(w).await?,
            Workload::ReadRandom | Workload::ReadSeq | Workload::Scan => self.read(w).await?,
        };
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
        let raw = tally.ops * (self.args.key_size + size) as u64;
        Ok(WorkloadResult {
            ops: tally.ops,
            seconds,
            latency: Latency::from_nanos(&tally.hist),
            requests: after.requests.since(&before.requests),
            writes: Some(write_stats(&before, &after, raw)),
            flush,
            fsync_probe: self
                .probe
                .clone()
                .filter(|_| self.args.durability == crate::args::DurabilityArg::Sync),
            ..WorkloadResult::default()
        })
    }

    async fn read(&mut self, w: Workload) -> Result<WorkloadResult, Failure> {
        let db = self.db().await?;
        if !self.filled {
            return Err(format!(
                "{} needs data: run a fill first (e.g. --benchmarks fillrandom,{}) or pass --use-existing",
                w.name(),
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
                run_clients(clients, |i| {
                    read_client(db.clone(), order.share(reads, i, clients), fmt, size)
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
        Ok(read_result(
            &before,
            &after,
            seconds,
            &tally,
            w == Workload::Scan,
        ))
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
        ..WorkloadResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert!("fill".parse::<Workload>().unwrap_err().contains("fillseq"));
    }
}

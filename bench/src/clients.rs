//! Client tasks: each runs its share of one workload's operations and
//! counts what it saw; [`run_clients`] starts them together and merges their
//! tallies.
//!
//! Each task records the latency of every operation as the time since its
//! previous one completed, so the harness reads the clock once per
//! operation.

use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use firn::{Bytes, Db, WriteBatch};
use hdrhistogram::Histogram;

use crate::cold::ColdTally;
use crate::keys::{KeyFormat, KeySource, ValueGen};
use crate::target::Failure;

/// Writers sample the engine's metrics (level-0 chunk count) once per this
/// many writes.
pub const SAMPLE_EVERY: u64 = 10_000;

/// What one client task counted.
pub struct Tally {
    pub hist: Histogram<u64>,
    pub ops: u64,
    pub found: u64,
    pub not_found: u64,
    pub entries: u64,
    pub first_missing: Option<u64>,
    /// Most level-0 chunks a writer's samples saw.
    pub max_l0_chunks: u64,
    /// Per-read GET accounting of point reads (one client only).
    pub cold: Option<ColdTally>,
}

impl Tally {
    pub fn new() -> Result<Tally, Failure> {
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
            max_l0_chunks: 0,
            cold: None,
        })
    }

    /// Records an operation that ended `now`, having started at `*last`;
    /// returns its latency in nanoseconds.
    fn lap(&mut self, last: &mut Instant) -> u64 {
        let now = Instant::now();
        let nanos = u64::try_from(now.duration_since(*last).as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(nanos.max(1));
        *last = now;
        nanos
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
        self.max_l0_chunks = self.max_l0_chunks.max(other.max_l0_chunks);
        match (&mut self.cold, other.cold) {
            (Some(mine), Some(theirs)) => mine.merge(&theirs)?,
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        Ok(())
    }
}

/// Runs `clients` tasks made by `make` (given the client index), started
/// together. Returns their merged tally and the wall time in seconds.
pub async fn run_clients<F, Fut>(clients: usize, mut make: F) -> Result<(Tally, f64), Failure>
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
pub async fn write_client(
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
        if t.ops / SAMPLE_EVERY != (t.ops - n) / SAMPLE_EVERY {
            t.max_l0_chunks = t.max_l0_chunks.max(db.metrics().l0_chunks);
            // The sample is not part of the next operation's latency.
            last = Instant::now();
        }
    }
    Ok(t)
}

/// Point reads of the keys of `keys`; every one must exist with a value of
/// `value_size` bytes. With `per_read`, the object store's GET counter is
/// read before and after each read to count the cold reads (only
/// meaningful when this is the only client).
pub async fn read_client(
    db: Db,
    keys: KeySource,
    fmt: KeyFormat,
    value_size: usize,
    per_read: bool,
) -> Result<Tally, Failure> {
    let mut t = Tally::new()?;
    if per_read {
        t.cold = Some(ColdTally::new()?);
    }
    let mut key = Vec::new();
    let mut last = Instant::now();
    for k in keys {
        fmt.write(k, &mut key);
        let gets_before = per_read.then(|| db.object_store().requests().get);
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
        let nanos = t.lap(&mut last);
        if let (Some(cold), Some(before)) = (&mut t.cold, gets_before) {
            let gets = db.object_store().requests().get.saturating_sub(before);
            cold.record(nanos, gets);
        }
    }
    Ok(t)
}

/// Scans `range` to its end; `expected` entries should be there.
pub async fn readseq_client(
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
pub async fn scan_client(
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

//! Client loops: each client does its share of puts or gets and records
//! every operation's latency. Firn and SlateDB are driven from tokio tasks;
//! RocksDB and fjall from OS threads (`spawn_blocking`), one per client.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;

use crate::engines::Engine;
use crate::keys::{KeyFormat, KeySource, ValueGen};

/// What a client does with each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Put the next value; `sync`: durable before the put returns.
    Put { sync: bool },
    /// Get the key; it must be found with a value of the expected length.
    Get,
}

/// One client's work.
pub struct Client {
    pub keys: KeySource,
    pub values: ValueGen,
}

/// What the clients did.
#[derive(Debug)]
pub struct Tally {
    /// Latency of every operation, in nanoseconds.
    pub hist: Histogram<u64>,
    pub ops: u64,
    pub found: u64,
    pub missing: u64,
    /// Gets that returned a value of the wrong length.
    pub wrong: u64,
    pub first_missing: Option<u64>,
    /// (key number, value) of some puts, to read back afterwards.
    pub samples: Vec<(u64, Bytes)>,
}

impl Tally {
    pub fn new() -> Result<Tally> {
        Ok(Tally {
            // Fixed bounds (1 ns .. 1 h): `saturating_record` clamps to the
            // current top, so an auto-resizing histogram would cut values off.
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .map_err(|e| anyhow!("histogram: {e}"))?,
            ops: 0,
            found: 0,
            missing: 0,
            wrong: 0,
            first_missing: None,
            samples: Vec::new(),
        })
    }

    fn record(&mut self, nanos: u64) {
        self.ops += 1;
        // Saturates at the histogram's top instead of failing.
        self.hist.saturating_record(nanos.max(1));
    }

    fn merge(&mut self, other: Tally) -> Result<()> {
        self.hist
            .add(&other.hist)
            .map_err(|e| anyhow!("merging histograms: {e}"))?;
        self.ops += other.ops;
        self.found += other.found;
        self.missing += other.missing;
        self.wrong += other.wrong;
        self.first_missing = self.first_missing.or(other.first_missing);
        self.samples.extend(other.samples);
        Ok(())
    }

    /// Latency percentile `q` (0..100) in microseconds.
    pub fn percentile_us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q / 100.0) as f64 / 1000.0
    }

    /// Fails if a get missed a key or found a value of the wrong size.
    pub fn check_reads(&self, what: &str, fmt: KeyFormat) -> Result<()> {
        if self.missing > 0 || self.wrong > 0 {
            let first = self.first_missing.unwrap_or_default();
            bail!(
                "{what}: {} key(s) not found and {} value(s) of the wrong size (first missing: {:?})",
                self.missing,
                self.wrong,
                String::from_utf8_lossy(&fmt.key(first))
            );
        }
        Ok(())
    }
}

/// Sampling interval of a client doing `ops` puts (about 200 samples each).
fn sample_every(ops: u64) -> u64 {
    (ops / 200).max(1)
}

/// Runs `clients` concurrently on `engine` and returns their merged tally
/// and the wall time from the start of the first to the end of the last.
pub async fn run(
    engine: &Engine,
    clients: Vec<Client>,
    op: Op,
    fmt: KeyFormat,
    value_size: usize,
) -> Result<(Tally, f64)> {
    let started = Instant::now();
    let mut handles = Vec::with_capacity(clients.len());
    for client in clients {
        let engine = engine.clone();
        let handle = if engine.is_async() {
            tokio::spawn(async move { async_client(engine, client, op, fmt, value_size).await })
        } else {
            // RocksDB and fjall block: each client gets a thread of its own.
            // (The workspace's ban is for engine code run under the simulation.)
            #[allow(clippy::disallowed_methods)]
            tokio::task::spawn_blocking(move || {
                blocking_client(engine, client, op, fmt, value_size)
            })
        };
        handles.push(handle);
    }
    let mut total = Tally::new()?;
    for handle in handles {
        let tally = handle.await.map_err(|e| anyhow!("client task: {e}"))??;
        total.merge(tally)?;
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

fn check_value(tally: &mut Tally, n: u64, got: Option<Bytes>, value_size: usize) {
    match got {
        Some(v) if v.len() == value_size => tally.found += 1,
        Some(_) => tally.wrong += 1,
        None => {
            tally.missing += 1;
            tally.first_missing.get_or_insert(n);
        }
    }
}

async fn async_client(
    engine: Engine,
    mut client: Client,
    op: Op,
    fmt: KeyFormat,
    value_size: usize,
) -> Result<Tally> {
    let mut tally = Tally::new()?;
    let every = sample_every(client.keys.remaining());
    let mut buf = Vec::new();
    for (i, n) in (&mut client.keys).enumerate() {
        match op {
            Op::Put { sync } => {
                let key = fmt.key(n);
                let value = client.values.next_value(value_size);
                if (i as u64).is_multiple_of(every) {
                    tally.samples.push((n, value.clone()));
                }
                let t = Instant::now();
                engine.put_async(key, value, sync).await?;
                tally.record(t.elapsed().as_nanos() as u64);
            }
            Op::Get => {
                fmt.write(n, &mut buf);
                let t = Instant::now();
                let got = engine.get_async(&buf).await?;
                tally.record(t.elapsed().as_nanos() as u64);
                check_value(&mut tally, n, got, value_size);
            }
        }
    }
    Ok(tally)
}

fn blocking_client(
    engine: Engine,
    mut client: Client,
    op: Op,
    fmt: KeyFormat,
    value_size: usize,
) -> Result<Tally> {
    let mut tally = Tally::new()?;
    let every = sample_every(client.keys.remaining());
    let mut buf = Vec::new();
    for (i, n) in (&mut client.keys).enumerate() {
        fmt.write(n, &mut buf);
        match op {
            Op::Put { sync } => {
                let value = client.values.next_value(value_size);
                if (i as u64).is_multiple_of(every) {
                    tally.samples.push((n, value.clone()));
                }
                let t = Instant::now();
                engine.put_blocking(&buf, &value, sync)?;
                tally.record(t.elapsed().as_nanos() as u64);
            }
            Op::Get => {
                let t = Instant::now();
                let got = engine.get_blocking(&buf)?;
                tally.record(t.elapsed().as_nanos() as u64);
                check_value(&mut tally, n, got, value_size);
            }
        }
    }
    Ok(tally)
}

/// Reads back every sampled (key, value) and fails on the first mismatch:
/// the guard that a fill really wrote what it claims.
pub async fn spot_check(
    engine: &Engine,
    samples: &[(u64, Bytes)],
    fmt: KeyFormat,
    what: &str,
) -> Result<usize> {
    if samples.is_empty() {
        bail!("{what}: no samples to check (did the fill write anything?)");
    }
    for (n, want) in samples {
        let key = fmt.key(*n);
        let got = if engine.is_async() {
            engine.get_async(&key).await?
        } else {
            engine.get_blocking(&key)?
        };
        if got.as_ref() != Some(want) {
            bail!(
                "{what}: {} read back {:?}, expected a {}-byte value it wrote",
                engine.kind().name(),
                got.map(|v| String::from_utf8_lossy(&v).into_owned()),
                want.len()
            );
        }
    }
    Ok(samples.len())
}

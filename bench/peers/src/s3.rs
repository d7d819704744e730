//! Firn against SlateDB on one S3 server: durable writes, PUTs per GB
//! ingested, cold point reads and cold 10-row scans. Each engine works in a
//! fresh prefix of the bucket (`<run>/firn-*`, `<run>/slatedb-*`).
//!
//! Requests are counted by Firn's own metrics (`Db::metrics().requests`)
//! and, for SlateDB, by [`CountingStore`] around the real `AmazonS3`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;
use serde::Serialize;

use crate::clients::{run, spot_check, Client, Op, Tally};
use crate::counting::{CountingStore, Counts};
use crate::engines::{open_slatedb, Engine, Kind};
use crate::keys::{KeyFormat, Order, Rng, ValueGen};

/// The S3 server, from the variables `scripts/s3-server.sh start` exports.
#[derive(Clone, Debug)]
pub struct S3Env {
    pub endpoint: String,
    pub bucket: String,
    region: String,
    key_id: String,
    secret: String,
}

impl S3Env {
    pub fn from_env() -> Result<S3Env> {
        let var = |name: &str| -> Result<String> {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    anyhow!("--s3 needs {name} (e.g. eval \"$(scripts/s3-server.sh start)\")")
                })
        };
        Ok(S3Env {
            endpoint: var("FIRN_TEST_S3_ENDPOINT")?,
            bucket: var("FIRN_TEST_S3_BUCKET")?,
            region: var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            key_id: var("AWS_ACCESS_KEY_ID")?,
            secret: var("AWS_SECRET_ACCESS_KEY")?,
        })
    }

    /// The bucket as an `object_store` (path-style, plain HTTP allowed).
    fn amazon(&self) -> Result<Arc<dyn ObjectStore>> {
        let s3 = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.key_id)
            .with_secret_access_key(&self.secret)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()
            .context("building the AmazonS3 store")?;
        Ok(Arc::new(s3))
    }

    /// Firn options for `s3://bucket/prefix` with `local` as local directory.
    fn firn_options(&self, prefix: &str, local: &Path, d: firn::Durability) -> firn::Options {
        let mut opts =
            firn::Options::new(format!("s3://{}/{prefix}", self.bucket), local).durability(d);
        opts.store.s3_endpoint = Some(self.endpoint.clone());
        opts.store.s3_region = Some(self.region.clone());
        opts.store.s3_access_key_id = Some(self.key_id.clone());
        opts.store.s3_secret_access_key = Some(self.secret.clone());
        opts
    }
}

/// The S3 section's settings.
#[derive(Clone, Debug)]
pub struct S3Setup {
    pub num: u64,
    /// Entries of the buffered load (the database the cold reads use).
    pub buffered_num: u64,
    pub writers: usize,
    pub cold_reads: u64,
    pub cold_scans: u64,
    pub value_size: usize,
    pub seed: u64,
    pub fmt: KeyFormat,
    /// Unique per run: the prefix under which every database of the run lives.
    pub run_prefix: String,
    /// Folder for Firn's local directories.
    pub local_root: PathBuf,
}

/// One engine's S3 figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct S3Result {
    pub engine: &'static str,
    pub durable_writes: u64,
    pub durable_writers: usize,
    pub durable_ops_per_sec: f64,
    pub durable_ack_p50_us: f64,
    pub durable_ack_p99_us: f64,
    /// Requests during the durable load and the flush after it.
    pub durable_requests: Counts,
    pub durable_puts_per_gb: f64,
    /// Requests during a buffered load of the same size (1 client) and its flush.
    pub buffered_requests: Counts,
    pub buffered_puts_per_gb: f64,
    pub buffered_ops_per_sec: f64,
    /// Requests of the open (empty cache) before the cold reads.
    pub cold_open_requests: Counts,
    pub cold_open_seconds: f64,
    pub cold_reads: u64,
    pub cold_read_gets: u64,
    pub cold_gets_per_read: f64,
    /// Reads during which at least one GET was made.
    pub cold_reads_with_get: u64,
    pub cold_read_p50_us: f64,
    pub cold_read_p99_us: f64,
    pub cold_scans: u64,
    /// Mean GETs of one 10-row scan, each from a fresh open with an empty cache.
    pub cold_scan_gets_mean: f64,
    pub cold_scan_p50_us: f64,
    pub cold_scan_p99_us: f64,
    /// Mean requests of the opens before the scans (not in the scan figures).
    pub cold_scan_open_gets_mean: f64,
}

/// An open database with a way to read its request counts.
struct Handle {
    engine: Engine,
    counter: Option<CountingStore>,
}

impl Handle {
    fn counts(&self) -> Counts {
        match (&self.engine, &self.counter) {
            (Engine::Firn(db) | Engine::FirnDeferred(db), _) => {
                Counts::from_firn(&db.metrics().requests)
            }
            (_, Some(c)) => c.counts(),
            _ => Counts::default(),
        }
    }
}

async fn open(
    env: &S3Env,
    s: &S3Setup,
    kind: Kind,
    name: &str,
    d: firn::Durability,
) -> Result<Handle> {
    let prefix = format!("{}/{}-{name}", s.run_prefix, kind.name());
    match kind {
        Kind::Firn => {
            // A fresh local directory each open: empty disk cache, no local indexes.
            let local = s.local_root.join(format!(
                "firn-{name}-{}",
                firn_store::clock::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |t| t.as_nanos())
            ));
            let db = firn::Db::open(env.firn_options(&prefix, &local, d))
                .await
                .map_err(|e| anyhow!("opening firn at s3://{}/{prefix}: {e}", env.bucket))?;
            Ok(Handle {
                engine: Engine::Firn(db),
                counter: None,
            })
        }
        Kind::SlateDb => {
            let counter = CountingStore::new(env.amazon()?);
            let db = open_slatedb(&prefix, Arc::new(counter.clone())).await?;
            Ok(Handle {
                engine: Engine::Slate(Arc::new(db)),
                counter: Some(counter),
            })
        }
        _ => bail!("the S3 section compares firn and slatedb only"),
    }
}

fn gb(entries: u64, entry_bytes: usize) -> f64 {
    (entries * entry_bytes as u64) as f64 / 1e9
}

fn puts_per_gb(c: &Counts, entries: u64, entry_bytes: usize) -> f64 {
    let g = gb(entries, entry_bytes);
    if g > 0.0 {
        c.put as f64 / g
    } else {
        0.0
    }
}

/// Runs the S3 section for one engine.
pub async fn run_engine(env: &S3Env, s: &S3Setup, kind: Kind) -> Result<S3Result> {
    let entry = s.fmt.key(0).len() + s.value_size;
    let values = ValueGen::new(s.seed, 0.5, s.value_size);
    let mut r = S3Result {
        engine: kind.name(),
        ..S3Result::default()
    };

    // 1. Durable writes: `writers` concurrent clients, each put acknowledged
    //    once it is in the bucket.
    let h = open(env, s, kind, "durable", firn::Durability::Remote).await?;
    let order = Order::permutation(s.num, s.seed);
    let writers = s.writers.max(1);
    let cl: Vec<Client> = (0..writers)
        .map(|i| Client {
            keys: order.share(s.num, i, writers),
            values: values.fork(i),
        })
        .collect();
    let before = h.counts();
    let (tally, secs) = run(&h.engine, cl, Op::Put { sync: true }, s.fmt, s.value_size).await?;
    h.engine.flush().await?;
    r.durable_requests = h.counts().since(&before);
    spot_check(&h.engine, &tally.samples, s.fmt, "s3 durable load").await?;
    r.durable_writes = tally.ops;
    r.durable_writers = writers;
    r.durable_ops_per_sec = tally.ops as f64 / secs.max(1e-9);
    r.durable_ack_p50_us = tally.percentile_us(50.0);
    r.durable_ack_p99_us = tally.percentile_us(99.0);
    r.durable_puts_per_gb = puts_per_gb(&r.durable_requests, tally.ops, entry);
    h.engine.close().await?;

    // 2. Buffered load of the same size from one client, then flush: the
    //    database the cold reads use.
    let h = open(env, s, kind, "data", firn::Durability::Buffered).await?;
    let before = h.counts();
    let order = Order::permutation(s.buffered_num, s.seed);
    let cl = vec![Client {
        keys: order.share(s.buffered_num, 0, 1),
        values: values.fork(0),
    }];
    let (tally, secs) = run(&h.engine, cl, Op::Put { sync: false }, s.fmt, s.value_size).await?;
    h.engine.flush().await?;
    r.buffered_requests = h.counts().since(&before);
    r.buffered_puts_per_gb = puts_per_gb(&r.buffered_requests, tally.ops, entry);
    r.buffered_ops_per_sec = tally.ops as f64 / secs.max(1e-9);
    spot_check(&h.engine, &tally.samples, s.fmt, "s3 buffered load").await?;
    let samples = tally.samples;
    h.engine.close().await?;

    // 3. Cold point reads: reopen with an empty cache.
    let t = Instant::now();
    let h = open(env, s, kind, "data", firn::Durability::Buffered).await?;
    r.cold_open_seconds = t.elapsed().as_secs_f64();
    let opened = h.counts();
    r.cold_open_requests = opened;
    let mut rng = Rng::new(s.seed.wrapping_add(4));
    let mut tally = Tally::new()?;
    let mut gets = 0;
    for _ in 0..s.cold_reads {
        let n = rng.below(s.buffered_num);
        let key = s.fmt.key(n);
        let c0 = h.counts();
        let t = Instant::now();
        let got = h.engine.get_async(&key).await?;
        let nanos = t.elapsed().as_nanos() as u64;
        tally.hist.saturating_record(nanos.max(1));
        let made = h.counts().since(&c0).get;
        gets += made;
        r.cold_reads_with_get += u64::from(made > 0);
        if got.map(|v| v.len()) != Some(s.value_size) {
            bail!(
                "{} cold read: key {n} not found or of the wrong size",
                kind.name()
            );
        }
    }
    r.cold_reads = s.cold_reads;
    r.cold_read_gets = gets;
    r.cold_gets_per_read = gets as f64 / s.cold_reads.max(1) as f64;
    r.cold_read_p50_us = tally.percentile_us(50.0);
    r.cold_read_p99_us = tally.percentile_us(99.0);
    spot_check(&h.engine, &samples, s.fmt, "s3 after reopen").await?;
    h.engine.close().await?;

    // 4. Cold 10-row scans, each from a fresh open (empty cache).
    let mut scan_hist = Tally::new()?;
    let (mut scan_gets, mut open_gets) = (0u64, 0u64);
    let span = s.buffered_num.saturating_sub(10).max(1);
    for _ in 0..s.cold_scans {
        let h = open(env, s, kind, "data", firn::Durability::Buffered).await?;
        let start = rng.below(span);
        let c0 = h.counts();
        open_gets += c0.get;
        let t = Instant::now();
        let rows = scan10(&h.engine, &s.fmt.key(start)).await?;
        scan_hist
            .hist
            .saturating_record((t.elapsed().as_nanos() as u64).max(1));
        scan_gets += h.counts().since(&c0).get;
        let want: Vec<Vec<u8>> = (start..(start + 10).min(s.buffered_num))
            .map(|n| s.fmt.key(n).to_vec())
            .collect();
        if rows != want {
            bail!(
                "{} cold scan from key {start}: got {} rows, not the expected keys",
                kind.name(),
                rows.len()
            );
        }
        h.engine.close().await?;
    }
    r.cold_scans = s.cold_scans;
    let scans = s.cold_scans.max(1) as f64;
    r.cold_scan_gets_mean = scan_gets as f64 / scans;
    r.cold_scan_open_gets_mean = open_gets as f64 / scans;
    r.cold_scan_p50_us = scan_hist.percentile_us(50.0);
    r.cold_scan_p99_us = scan_hist.percentile_us(99.0);
    Ok(r)
}

/// The keys of the first 10 rows from `start`.
async fn scan10(engine: &Engine, start: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut keys = Vec::with_capacity(10);
    match engine {
        Engine::Firn(db) | Engine::FirnDeferred(db) => {
            let mut it = db
                .scan(start.to_vec()..)
                .map_err(|e| anyhow!("firn scan: {e}"))?;
            while keys.len() < 10 {
                match it.next().await.map_err(|e| anyhow!("firn scan: {e}"))? {
                    Some((k, _)) => keys.push(k.to_vec()),
                    None => break,
                }
            }
        }
        Engine::Slate(db) => {
            let mut it = db
                .scan(start.to_vec()..)
                .await
                .map_err(|e| anyhow!("slatedb scan: {e}"))?;
            while keys.len() < 10 {
                match it.next().await.map_err(|e| anyhow!("slatedb scan: {e}"))? {
                    Some(kv) => keys.push(kv.key.to_vec()),
                    None => break,
                }
            }
        }
        _ => bail!("scan10: not an S3 engine"),
    }
    Ok(keys)
}

//! Deterministic simulation: the engine on a current-thread tokio runtime
//! with paused time, over an in-memory store behind the fault-injecting
//! layer, with the clock, ids and randomness replaced by a seeded source
//! (`firn_store::clock::install`) and blocking work run inline. From a seed,
//! random writes (buffered and synced, single and batched), point reads,
//! `multi_get`s, scans, flushes, full compactions, GC passes with no grace
//! period, crashes (drop without close) and clean reopens run against the
//! oracle; injected store faults (failed and partially landed writes, failed
//! lists, stats and deletes, latency) exercise the retries.
//!
//! Everything that happens is a function of the seed: the test runs each
//! seed twice and requires the same sequence of object-store requests (a
//! hash of the fault layer's trace). A failing seed is printed; replay it
//! with `FIRN_SIM_SEED=<seed> cargo test -p firn-tests --test sim`
//! (`FIRN_SIM_SEEDS=<n>` runs more seeds, `FIRN_SIM_STEPS=<n>` longer runs).
//!
//! What is not simulated: the local directory (WAL, local indexes, disk
//! cache) is a real temporary folder, used with synchronous calls in a fixed
//! order, so it does not make the order of events depend on the machine.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firn::{Db, Durability, Error, Options, WriteBatch, WriteOptions};
use firn_store::clock::{self, Source};
use firn_tests::faults::{FaultConfig, FaultLayer};
use firn_tests::{collect, show, Oracle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seeds run by default (each twice).
const DEFAULT_SEEDS: u64 = 200;
/// Operations per seed.
const DEFAULT_STEPS: usize = 120;
/// Distinct keys.
const KEY_SPACE: u32 = 64;

/// A virtual wall clock (tokio's paused time from a fixed epoch) and seeded
/// randomness.
struct SimSource {
    start: tokio::time::Instant,
    state: Mutex<u64>,
}

impl Source for SimSource {
    fn now_ms(&self) -> u64 {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        1_700_000_000_000 + elapsed.as_millis() as u64
    }

    fn random_u64(&self) -> u64 {
        // SplitMix64.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn key(id: u32) -> Vec<u8> {
    format!("k{:03}{}", id, "-".repeat((id % 7) as usize)).into_bytes()
}

struct Sim {
    rng: StdRng,
    oracle: Oracle,
    db: Option<Db>,
    opts: Options,
    history: Vec<String>,
    stats: [usize; 4], // flushes, compactions, crashes, reopens
}

type Check = Result<(), String>;

impl Sim {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("open")
    }

    fn note(&mut self, what: String) {
        if self.history.len() == 30 {
            self.history.remove(0);
        }
        self.history.push(what);
    }

    async fn open(&mut self) -> Check {
        for _ in 0..50 {
            match Db::open(self.opts.clone()).await {
                Ok(db) => {
                    self.db = Some(db);
                    return Ok(());
                }
                Err(Error::Store(e)) => self.note(format!("open failed, again: {e}")),
                Err(e) => return Err(format!("open: {e}")),
            }
        }
        Err("open kept failing".into())
    }

    fn value(&mut self) -> Vec<u8> {
        let len = match self.rng.random_range(0..10) {
            0 => self.rng.random_range(1000..3000),
            _ => self.rng.random_range(0..60),
        };
        (0..len).map(|_| self.rng.random()).collect()
    }

    async fn write(&mut self) -> Check {
        let mut batch = WriteBatch::new();
        for _ in 0..self.rng.random_range(1..=4) {
            let k = key(self.rng.random_range(0..KEY_SPACE));
            if self.rng.random_bool(0.25) {
                batch.delete(k);
            } else {
                let v = self.value();
                batch.put(k, v);
            }
        }
        let durability = if self.rng.random_bool(0.1) {
            Durability::Sync
        } else {
            Durability::Buffered
        };
        self.note(format!("write {} ops ({durability:?})", batch.len()));
        let opts = WriteOptions {
            durability: Some(durability),
        };
        self.db()
            .write_with(batch.clone(), opts)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.oracle.apply(&batch);
        Ok(())
    }

    async fn read(&mut self) -> Check {
        let keys: Vec<Vec<u8>> = (0..self.rng.random_range(1..=5))
            .map(|_| key(self.rng.random_range(0..KEY_SPACE)))
            .collect();
        self.note(format!("multi_get of {} keys", keys.len()));
        let got = self
            .db()
            .multi_get(&keys)
            .await
            .map_err(|e| format!("multi_get: {e}"))?;
        for (k, v) in keys.iter().zip(got) {
            if v.as_deref() != self.oracle.get(k) {
                return Err(format!("get {}: got {:?}", show(k), v.map(|v| v.len())));
            }
        }
        Ok(())
    }

    async fn scan(&mut self) -> Check {
        let a = key(self.rng.random_range(0..KEY_SPACE));
        let b = key(self.rng.random_range(0..KEY_SPACE));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        self.note(format!("scan {}..{}", show(&lo), show(&hi)));
        let it = self
            .db()
            .scan::<Vec<u8>, _>((Bound::Included(lo.clone()), Bound::Excluded(hi.clone())))
            .map_err(|e| format!("scan: {e}"))?;
        let got = collect(it).await.map_err(|e| format!("scan: {e}"))?;
        let want = self
            .oracle
            .range(&Bound::Included(lo), &Bound::Excluded(hi));
        if got != want {
            return Err(format!("scan: {} entries, want {}", got.len(), want.len()));
        }
        Ok(())
    }

    async fn step(&mut self) -> Check {
        match self.rng.random_range(0..100) {
            0..45 => self.write().await,
            45..65 => self.read().await,
            65..75 => self.scan().await,
            75..83 => {
                self.note("flush".into());
                self.stats[0] += 1;
                self.db()
                    .flush()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("flush: {e}"))
            }
            83..87 => {
                self.note("compact".into());
                self.stats[1] += 1;
                self.db()
                    .compact()
                    .await
                    .map_err(|e| format!("compact: {e}"))
            }
            87..91 => {
                self.note("gc".into());
                match self.db().gc(Duration::ZERO).await {
                    Ok(_) | Err(Error::Store(_)) => Ok(()),
                    Err(e) => Err(format!("gc: {e}")),
                }
            }
            91..96 => {
                self.note("crash + reopen".into());
                self.stats[2] += 1;
                drop(self.db.take());
                self.open().await
            }
            _ => {
                self.note("close + reopen".into());
                self.stats[3] += 1;
                let db = self.db.take().expect("open");
                db.close().await.map_err(|e| format!("close: {e}"))?;
                self.open().await
            }
        }
    }

    async fn full_check(&mut self) -> Check {
        for id in 0..KEY_SPACE {
            let k = key(id);
            let got = self.db().get(&k).await.map_err(|e| format!("get: {e}"))?;
            if got.as_deref() != self.oracle.get(&k) {
                return Err(format!("final get {}", show(&k)));
            }
        }
        Ok(())
    }
}

/// What a run did, for the coverage check.
#[derive(Clone, Copy, Debug, Default)]
struct Coverage {
    flushes: usize,
    compactions: usize,
    crashes: usize,
    reopens: usize,
    injected_faults: u64,
    engine_retries: u64,
}

/// Runs one seed; returns the object-store request trace and what it covered.
fn run_seed(seed: u64, steps: usize) -> Result<(Vec<String>, Coverage), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let local = tempfile::tempdir().expect("tempdir");
    runtime.block_on(async move {
        let _clock = clock::install(Arc::new(SimSource {
            start: tokio::time::Instant::now(),
            state: Mutex::new(seed),
        }));
        let layer = FaultLayer::new(FaultConfig {
            seed,
            read_error_rate: 0.0,
            write_error_rate: 0.2,
            partial_write_rate: 0.1,
            list_error_rate: 0.05,
            stat_error_rate: 0.05,
            delete_error_rate: 0.05,
            max_latency: Duration::from_millis(3),
            max_streak_reads: 0,
            max_streak_writes: 4,
            max_faults_per_object: u32::MAX,
            only_under: None,
        });
        let control = layer.control();
        control.start_trace();
        let op = opendal::Operator::new(opendal::services::Memory::default())
            .expect("memory operator")
            .layer(layer);
        let store = firn::ObjectStore::from_operator(op, format!("memory://sim-{seed}"));
        let mut opts = Options::new(format!("memory://sim-{seed}"), local.path().join("local"));
        opts.object_store = Some(store);
        opts.memtable_size = 4 << 10;
        opts.block_size = 512;
        opts.retry_delay = Duration::from_millis(2);
        opts.max_retry_delay = Duration::from_millis(50);
        opts.block_cache_bytes = 16 << 10;
        opts.disk_cache_bytes = 32 << 10;
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(seed),
            oracle: Oracle::new(),
            db: None,
            opts,
            history: Vec::new(),
            stats: [0; 4],
        };
        let mut retries = 0;
        let result = async {
            sim.open().await?;
            for _ in 0..steps {
                if sim.db.is_some() {
                    retries = sim.db().metrics().upload_retries;
                }
                sim.step().await?;
            }
            sim.full_check().await?;
            let db = sim.db.take().expect("open");
            db.close().await.map_err(|e| format!("final close: {e}"))
        }
        .await;
        drop(sim.db.take());
        result.map_err(|e| format!("{e}\nlast steps:\n  {}", sim.history.join("\n  ")))?;
        let [flushes, compactions, crashes, reopens] = sim.stats;
        let coverage = Coverage {
            flushes,
            compactions,
            crashes,
            reopens,
            injected_faults: control.stats().total_faults(),
            engine_retries: retries,
        };
        Ok((control.take_trace(), coverage))
    })
}

/// A hash of a request trace (what two runs of a seed must agree on).
fn hash(trace: &[String]) -> u64 {
    let mut h = DefaultHasher::new();
    trace.hash(&mut h);
    h.finish()
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

#[test]
fn simulation_from_seeds_is_deterministic_and_matches_the_oracle() {
    let steps = env_number("FIRN_SIM_STEPS").map_or(DEFAULT_STEPS, |n| n as usize);
    let seeds: Vec<u64> = match env_number("FIRN_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_number("FIRN_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS))
            .map(|i| 0x51A0_0000 + i)
            .collect(),
    };
    let started = std::time::Instant::now();
    let mut total = Coverage::default();
    for &seed in &seeds {
        let (first, coverage) = run_seed(seed, steps).unwrap_or_else(|e| {
            panic!(
                "simulation seed {seed} failed: {e}\nreplay: FIRN_SIM_SEED={seed} cargo test -p firn-tests --test sim"
            )
        });
        total.flushes += coverage.flushes;
        total.compactions += coverage.compactions;
        total.crashes += coverage.crashes;
        total.reopens += coverage.reopens;
        total.injected_faults += coverage.injected_faults;
        total.engine_retries += coverage.engine_retries;
        let (second, _) = run_seed(seed, steps).unwrap_or_else(|e| {
            panic!("simulation seed {seed} failed on its second run: {e}\nreplay: FIRN_SIM_SEED={seed} cargo test -p firn-tests --test sim")
        });
        if hash(&first) != hash(&second) {
            let at = first
                .iter()
                .zip(&second)
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(second.len()));
            let show = |t: &[String]| t[at.saturating_sub(5)..(at + 5).min(t.len())].join("\n    ");
            panic!(
                "seed {seed}: two runs made different sequences of store requests (the \
                 simulation is not deterministic): {} and {} requests, first difference at \
                 request {at}:\n  first run:\n    {}\n  second run:\n    {}\nreplay: \
                 FIRN_SIM_SEED={seed} cargo test -p firn-tests --test sim",
                first.len(),
                second.len(),
                show(&first),
                show(&second)
            );
        }
    }
    eprintln!(
        "simulated {} seeds x {steps} steps twice in {:.1?}: {total:?}",
        seeds.len(),
        started.elapsed()
    );
    // The runs really exercised flushes, compactions, crashes, reopens and
    // injected faults (a seed alone may miss some).
    if seeds.len() >= 20 {
        assert!(
            total.flushes > 0
                && total.compactions > 0
                && total.crashes > 0
                && total.reopens > 0
                && total.injected_faults > 0
                && total.engine_retries > 0,
            "the simulation did not cover everything: {total:?}"
        );
    }
}

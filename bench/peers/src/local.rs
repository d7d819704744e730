//! The local workloads. Every (engine, workload) pair runs in a fresh
//! database in its own folder, removed afterwards; the setup a workload
//! needs (the fill under `overwrite` and the reads) is done untimed.

use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::clients::{run, spot_check, Client, Op, Tally};
use crate::engines::{dir_bytes, io_write_bytes, open_local, Engine, Kind};
use crate::keys::{KeyFormat, Order, ValueGen};

/// A local workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    FillSeq,
    FillRandom,
    Overwrite,
    ReadRandom,
    ReadRandomMem,
    FillSync,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::FillSeq,
        Workload::FillRandom,
        Workload::Overwrite,
        Workload::ReadRandom,
        Workload::ReadRandomMem,
        Workload::FillSync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::FillSeq => "fillseq",
            Workload::FillRandom => "fillrandom",
            Workload::Overwrite => "overwrite",
            Workload::ReadRandom => "readrandom",
            Workload::ReadRandomMem => "readrandom-mem",
            Workload::FillSync => "fillsync",
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown benchmark {s:?}; known: {}", names.join(", "))
            })
    }
}

/// The settings every local workload shares.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub num: u64,
    pub value_size: usize,
    pub threads: usize,
    pub seed: u64,
    pub fmt: KeyFormat,
}

/// One line of the local results.
#[derive(Clone, Debug, Serialize)]
pub struct LocalResult {
    pub engine: &'static str,
    /// The workload, e.g. `readrandom (warm)`.
    pub workload: String,
    pub clients: usize,
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Size of all files in the database's folder after the workload.
    pub disk_bytes: u64,
    /// `/proc/self/io` `write_bytes - cancelled_write_bytes` during the
    /// timed part of the workload (the whole process; one engine runs at a time).
    pub io_write_bytes: Option<u64>,
    /// The untimed flush before `readrandom`.
    pub flush_seconds: Option<f64>,
    /// WAL fdatasyncs during the workload, where the engine counts them.
    pub wal_syncs: Option<u64>,
    /// Acknowledged writes per WAL fdatasync.
    pub writes_per_sync: Option<f64>,
    /// Sampled keys read back after the fill(s) with the values written.
    pub spot_checked: usize,
}

/// Runs workload `w` on a fresh database of `kind` under `root`.
pub async fn run_workload(
    setup: &Setup,
    kind: Kind,
    w: Workload,
    root: &Path,
) -> Result<Vec<LocalResult>> {
    let dir = root.join(format!("{}-{}", kind.name(), w.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let engine = open_local(kind, &dir, w == Workload::FillSync).await?;
    let result = workload_on(setup, &engine, w, &dir).await;
    engine.close().await?;
    std::fs::remove_dir_all(&dir)?;
    result
}

fn clients(order: &Order, total: u64, n: usize, values: &ValueGen) -> Vec<Client> {
    (0..n)
        .map(|i| Client {
            keys: order.share(total, i, n),
            values: values.fork(i),
        })
        .collect()
}

/// A result line from a tally.
fn line(
    engine: &Engine,
    workload: String,
    clients: usize,
    tally: &Tally,
    secs: f64,
) -> LocalResult {
    LocalResult {
        engine: engine.kind().name(),
        workload,
        clients,
        ops: tally.ops,
        seconds: secs,
        ops_per_sec: if secs > 0.0 {
            tally.ops as f64 / secs
        } else {
            0.0
        },
        p50_us: tally.percentile_us(50.0),
        p99_us: tally.percentile_us(99.0),
        disk_bytes: 0,
        io_write_bytes: None,
        flush_seconds: None,
        wal_syncs: None,
        writes_per_sync: None,
        spot_checked: 0,
    }
}

async fn workload_on(
    s: &Setup,
    engine: &Engine,
    w: Workload,
    dir: &Path,
) -> Result<Vec<LocalResult>> {
    let values = ValueGen::new(s.seed, 0.5, s.value_size);
    let put = Op::Put { sync: false };
    let name = engine.kind().name();
    let mut checked = 0;
    // Untimed setup: a fillrandom for the workloads that need data.
    let mut flush_seconds = None;
    if matches!(
        w,
        Workload::Overwrite | Workload::ReadRandom | Workload::ReadRandomMem
    ) {
        let order = Order::permutation(s.num, s.seed);
        let (tally, _) = run(
            engine,
            clients(&order, s.num, 1, &values),
            put,
            s.fmt,
            s.value_size,
        )
        .await?;
        checked += spot_check(engine, &tally.samples, s.fmt, "setup fillrandom").await?;
        if w == Workload::ReadRandom {
            let t = Instant::now();
            engine.flush().await?;
            flush_seconds = Some(t.elapsed().as_secs_f64());
        }
    }
    let io_before = io_write_bytes();
    // RocksDB's statistics (the sync count) are only on for fillsync.
    let syncs_before = if w == Workload::FillSync {
        engine.wal_syncs()
    } else {
        None
    };
    let mut lines = Vec::new();
    match w {
        Workload::FillSeq | Workload::FillRandom | Workload::Overwrite | Workload::FillSync => {
            let (order, n, op) = match w {
                Workload::FillSeq => (Order::Sequential, 1, put),
                Workload::FillRandom => (Order::permutation(s.num, s.seed), 1, put),
                Workload::Overwrite => (Order::permutation(s.num, s.seed.wrapping_add(1)), 1, put),
                _ => (
                    Order::permutation(s.num, s.seed),
                    s.threads.max(1),
                    Op::Put { sync: true },
                ),
            };
            let (tally, secs) = run(
                engine,
                clients(&order, s.num, n, &values),
                op,
                s.fmt,
                s.value_size,
            )
            .await?;
            if tally.ops != s.num {
                bail!(
                    "{name} {}: {} puts done, {} expected",
                    w.name(),
                    tally.ops,
                    s.num
                );
            }
            checked += spot_check(engine, &tally.samples, s.fmt, w.name()).await?;
            let mut l = line(engine, w.name().to_string(), n, &tally, secs);
            if w == Workload::FillSync {
                if let (Some(a), Some(b)) = (syncs_before, engine.wal_syncs()) {
                    let syncs = b.saturating_sub(a);
                    l.wal_syncs = Some(syncs);
                    l.writes_per_sync = (syncs > 0).then(|| tally.ops as f64 / syncs as f64);
                }
            }
            lines.push(l);
        }
        Workload::ReadRandom | Workload::ReadRandomMem => {
            let order = Order::Uniform {
                num: s.num,
                seed: s.seed.wrapping_add(2),
            };
            let passes: &[&str] = if w == Workload::ReadRandom {
                &["readrandom (1st)", "readrandom (warm)"]
            } else {
                &["readrandom-mem"]
            };
            for label in passes {
                let (tally, secs) = run(
                    engine,
                    clients(&order, s.num, 1, &values),
                    Op::Get,
                    s.fmt,
                    s.value_size,
                )
                .await?;
                tally.check_reads(&format!("{name} {label}"), s.fmt)?;
                let mut l = line(engine, label.to_string(), 1, &tally, secs);
                l.flush_seconds = flush_seconds;
                lines.push(l);
            }
        }
    }
    let io = match (io_before, io_write_bytes()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let disk = dir_bytes(dir);
    for l in &mut lines {
        l.io_write_bytes = io;
        l.disk_bytes = disk;
        l.spot_checked = checked;
    }
    Ok(lines)
}

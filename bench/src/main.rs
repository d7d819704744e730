//! `firn-bench`: db_bench-style benchmarks for the Firn key-value engine.
//!
//! ```text
//! firn-bench --num 1000000 fillrandom,readrandom,readrandom
//! firn-bench --durability sync --threads 32 fillrandom
//! firn-bench fsync-probe --db /mnt/disk/bench
//! ```
//!
//! Each workload prints one line (micros/op, ops/sec, MB/s, p50/p95/p99
//! latency, object-store requests) plus detail lines; `--json` prints the
//! whole run as one JSON document. See `bench/README.md`.

mod args;
mod clients;
mod cold;
mod keys;
mod machine;
mod memory;
mod probe;
mod report;
mod target;
mod units;
mod workloads;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, DurabilityArg};
use crate::keys::KeyFormat;
use crate::machine::{Disk, Machine};
use crate::report::{Config, Printer, WorkloadResult};
use crate::target::{Failure, Target};
use crate::workloads::{Bench, Workload};

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firn-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Failure> {
    args.validate()?;
    let keys = KeyFormat::new(args.key_size, args.num)?;
    let target = Target::from_args(&args)?;
    let machine = Machine::detect();
    let runtime_threads = args.runtime_threads.unwrap_or(machine.cores).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(runtime_threads)
        .thread_name("firn-bench")
        .enable_all()
        .build()
        .map_err(|e| format!("starting the tokio runtime: {e}"))?;

    let mut workloads = args.workloads();
    let syncing = args.durability == DurabilityArg::Sync;
    if syncing
        && workloads.iter().any(|w| w.is_write())
        && !workloads.contains(&Workload::FsyncProbe)
    {
        // Sync results are read beside what the disk itself can do.
        workloads.insert(0, Workload::FsyncProbe);
    }

    target.prepare()?;
    let opts = target.options();
    let config = Config {
        version: env!("CARGO_PKG_VERSION"),
        disk: Disk::for_path(target.local_dir()),
        machine,
        store_url: target.url().to_string(),
        local_dir: target.local_dir().display().to_string(),
        num: args.num,
        reads: args.reads(),
        scans: args.scans(),
        scan_length: args.scan_length,
        key_size: args.key_size,
        value_size: args.value_size,
        compression_ratio: args.compression_ratio,
        batch_size: args.batch_size,
        threads: args.threads,
        runtime_threads,
        durability: args.durability.name(),
        memtable_size: opts.memtable_size,
        block_cache_size: opts.block_cache_bytes,
        disk_cache_size: opts.disk_cache_bytes,
        preload_indexes: opts.preload_indexes,
        scan_readahead: opts.scan_readahead,
        flush_after_fill: !args.no_flush,
        seed: args.seed,
    };
    let printer = Printer::new(args.json);
    printer.header(&config);
    if config.disk.is_memory() && syncing {
        printer.line("WARNING: the WAL is on a memory file system: fdatasync costs nothing there");
    }

    let json = args.json;
    let mut results: Vec<WorkloadResult> = Vec::new();
    runtime.block_on(async {
        let mut bench = Bench::new(args, target, keys);
        let mut outcome = Ok(());
        for w in workloads {
            match bench.run(w).await {
                Ok(r) => {
                    printer.result(&r);
                    let missing = bench.missing_keys(&r);
                    results.push(r);
                    if let Some(e) = missing {
                        outcome = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    outcome = Err(format!("{}: {e}", w.name()));
                    break;
                }
            }
        }
        let finished = bench.finish().await;
        outcome.and(finished)
    })?;
    if json {
        printer.json(&config, &results)?;
    }
    Ok(())
}

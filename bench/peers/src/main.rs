//! firn-peers: Firn against RocksDB and fjall on local disk, and against
//! SlateDB on an S3 server, with the same keys and values for every engine
//! (firn-bench's key and value scheme). See bench/README.md.

mod clients;
mod counting;
mod engines;
mod keys;
mod local;
mod report;
mod s3;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Serialize;

use crate::engines::Kind;
use crate::keys::KeyFormat;
use crate::local::{LocalResult, Setup, Workload};
use crate::s3::{S3Env, S3Result, S3Setup};

/// Key size in bytes (zero-padded decimal key numbers, as in firn-bench).
const KEY_SIZE: usize = 16;

/// Firn against RocksDB, fjall and SlateDB on the same keys and values.
#[derive(Parser, Debug)]
#[command(name = "firn-peers", version)]
struct Args {
    /// Entries each local workload writes and reads.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,

    /// Value size in bytes (keys are 16 bytes).
    #[arg(long, default_value_t = 100)]
    value_size: usize,

    /// Local engines: firn, rocksdb, fjall (and slatedb, over a local folder).
    #[arg(long, value_delimiter = ',', default_value = "firn,rocksdb,fjall")]
    engines: Vec<String>,

    /// Local workloads, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fillseq,fillrandom,overwrite,readrandom,readrandom-mem,fillsync"
    )]
    benchmarks: Vec<Workload>,

    /// Concurrent writers of fillsync.
    #[arg(long, default_value_t = 32)]
    threads: usize,

    /// Folder for the databases (default: a fresh folder in the current
    /// directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,

    /// Seed of key orders and values (firn-bench's default).
    #[arg(long, default_value_t = 301)]
    seed: u64,

    /// Print the results as JSON on stdout (tables go to stderr).
    #[arg(long)]
    json: bool,

    /// Run the S3 section (Firn vs SlateDB) on the server named by
    /// FIRN_TEST_S3_ENDPOINT / FIRN_TEST_S3_BUCKET and AWS_* credentials.
    #[arg(long)]
    s3: bool,

    /// Only the S3 section (no local workloads).
    #[arg(long)]
    s3_only: bool,

    /// Entries of the S3 loads.
    #[arg(long, default_value_t = 20_000)]
    s3_num: u64,

    /// Entries of the buffered S3 load (the database the cold reads use);
    /// default: --s3-num.
    #[arg(long)]
    s3_buffered_num: Option<u64>,

    /// Concurrent writers of the durable S3 load.
    #[arg(long, default_value_t = 32)]
    s3_writers: usize,

    /// Point reads after a reopen with an empty cache.
    #[arg(long, default_value_t = 500)]
    cold_reads: u64,

    /// 10-row scans, each after its own reopen with an empty cache.
    #[arg(long, default_value_t = 20)]
    cold_scans: u64,
}

#[derive(Serialize)]
struct Output {
    num: u64,
    key_size: usize,
    value_size: usize,
    threads: usize,
    seed: u64,
    local: Vec<LocalResult>,
    s3: Option<S3Json>,
}

#[derive(Serialize)]
struct S3Json {
    num: u64,
    writers: usize,
    cold_reads: u64,
    cold_scans: u64,
    results: Vec<S3Result>,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("firn-peers: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let (root, temporary) = match &args.dir {
        Some(d) => (absolute(d)?, false),
        None => {
            let nanos = firn_store::clock::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_nanos());
            (
                absolute(Path::new(&format!(
                    "firn-peers-{}-{nanos}",
                    std::process::id()
                )))?,
                true,
            )
        }
    };
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let outcome = rt.block_on(run_all(&args, &root));
    if temporary {
        if let Err(e) = std::fs::remove_dir_all(&root) {
            eprintln!("firn-peers: removing {}: {e}", root.display());
        }
    }
    let output = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    }
    Ok(())
}

/// Prints to stdout, or to stderr when stdout carries the JSON.
fn say(json: bool, text: &str) {
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

async fn run_all(args: &Args, root: &Path) -> Result<Output> {
    let kinds: Vec<Kind> = args
        .engines
        .iter()
        .map(|e| Kind::parse(e))
        .collect::<Result<_>>()?;
    let fmt = KeyFormat::new(
        KEY_SIZE,
        args.num
            .max(args.s3_num)
            .max(args.s3_buffered_num.unwrap_or(0)),
    )
    .map_err(anyhow::Error::msg)?;
    let setup = Setup {
        num: args.num,
        value_size: args.value_size,
        threads: args.threads,
        seed: args.seed,
        fmt,
    };
    let mut local = Vec::new();
    if !args.s3_only {
        say(
            args.json,
            &format!(
                "firn-peers: {} entries, {KEY_SIZE}-byte keys, {}-byte values (half random), \
                 fillsync {} writers, databases in {}",
                args.num,
                args.value_size,
                args.threads,
                root.display()
            ),
        );
        for w in &args.benchmarks {
            for kind in &kinds {
                let lines = local::run_workload(&setup, *kind, *w, root)
                    .await
                    .with_context(|| format!("{} {}", kind.name(), w.name()))?;
                for l in &lines {
                    say(
                        args.json,
                        &format!(
                            "  {:<8} {:<18} {:>12.0} ops/s  p50 {:>8.1} µs  p99 {:>8.1} µs  ({} checked)",
                            l.engine, l.workload, l.ops_per_sec, l.p50_us, l.p99_us, l.spot_checked
                        ),
                    );
                }
                local.extend(lines);
            }
        }
        let names: Vec<&'static str> = kinds.iter().map(|k| k.name()).collect();
        say(
            args.json,
            &format!("\n{}", report::local_tables(&local, &names)),
        );
    }
    let s3 = if args.s3 || args.s3_only {
        Some(run_s3(args, root, fmt).await?)
    } else {
        None
    };
    Ok(Output {
        num: args.num,
        key_size: KEY_SIZE,
        value_size: args.value_size,
        threads: args.threads,
        seed: args.seed,
        local,
        s3,
    })
}

async fn run_s3(args: &Args, root: &Path, fmt: KeyFormat) -> Result<S3Json> {
    let env = S3Env::from_env()?;
    if args.s3_num == 0 {
        bail!("--s3-num must be at least 1");
    }
    let nanos = firn_store::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos());
    let setup = S3Setup {
        num: args.s3_num,
        buffered_num: args.s3_buffered_num.unwrap_or(args.s3_num).max(10),
        writers: args.s3_writers,
        cold_reads: args.cold_reads,
        cold_scans: args.cold_scans,
        value_size: args.value_size,
        seed: args.seed,
        fmt,
        run_prefix: format!("firn-peers-{}-{nanos}", std::process::id()),
        local_root: root.join("s3-local"),
    };
    say(
        args.json,
        &format!(
            "\nS3, firn vs slatedb: {} at {}, bucket {}, prefix {}/ ({} entries of \
             {KEY_SIZE} + {} bytes)",
            "server", env.endpoint, env.bucket, setup.run_prefix, args.s3_num, args.value_size
        ),
    );
    let mut results = Vec::new();
    for kind in [Kind::Firn, Kind::SlateDb] {
        let r = s3::run_engine(&env, &setup, kind)
            .await
            .with_context(|| format!("S3 section, {}", kind.name()))?;
        results.push(r);
    }
    say(args.json, &report::s3_table(&results));
    Ok(S3Json {
        num: args.s3_num,
        writers: args.s3_writers,
        cold_reads: args.cold_reads,
        cold_scans: args.cold_scans,
        results,
    })
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("current directory")?
        .join(path))
}

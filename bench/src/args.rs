//! Command-line options (db_bench-style names, in `--kebab-case`).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::workloads::Workload;

/// The workloads run when none are named.
pub const DEFAULT_BENCHMARKS: &str = "fillseq,fillrandom,overwrite,readrandom,readseq,scan";

/// db_bench-style benchmarks for Firn.
///
/// Workloads run in the order given, on one database. `fillseq` and
/// `fillrandom` start from an empty database (unless `--use-existing`);
/// the other workloads use whatever the previous ones left.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "firn-bench",
    version,
    after_help = "Workloads: fillseq, fillrandom, overwrite, readrandom, readseq, scan, fsync-probe, ingest.\n\
                  Example: firn-bench --num 1000000 fillrandom,readrandom,readrandom"
)]
pub struct Args {
    /// Workloads to run, comma-separated (e.g. `fillseq,readrandom`).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub benchmarks: Vec<Workload>,

    /// Workloads given as positional arguments (same names; commas allowed).
    #[arg(value_name = "WORKLOAD", value_delimiter = ',')]
    pub positional: Vec<Workload>,

    /// Number of entries the fills write (keys 0..num).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,

    /// Point reads done by `readrandom` (default: `--num`).
    #[arg(long)]
    pub reads: Option<u64>,

    /// Range scans done by `scan` (default: `--reads` / 10).
    #[arg(long)]
    pub scans: Option<u64>,

    /// Entries read by each range scan of `scan`.
    #[arg(long, default_value_t = 100)]
    pub scan_length: u64,

    /// Key size in bytes: keys are the zero-padded decimal key number.
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,

    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,

    /// Fraction of each value that is random; the rest repeats it, so
    /// values compress to about this fraction (0.5 = ~2x, like db_bench).
    #[arg(long, default_value_t = 0.5)]
    pub compression_ratio: f64,

    /// Puts per write batch (each batch is one commit).
    #[arg(long, default_value_t = 1)]
    pub batch_size: u64,

    /// Concurrent client tasks; each does its share of the operations.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,

    /// Worker threads of the tokio runtime (default: the number of cores).
    #[arg(long)]
    pub runtime_threads: Option<usize>,

    /// Durability of every write.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Buffered)]
    pub durability: DurabilityArg,

    /// Database location: a plain folder (the embedded default: objects in
    /// `PATH/objects`, local state in `PATH/local`) or an object-store URL
    /// (`file:///abs/path`, `memory://NAME`; needs `--local`). Default: a
    /// fresh folder under the current directory, removed at the end unless
    /// `--keep`.
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,

    /// Local directory (WAL) when `--db` is a URL.
    #[arg(long, value_name = "DIR")]
    pub local: Option<PathBuf>,

    /// Keep the database folder at the end (it is flushed before closing).
    #[arg(long)]
    pub keep: bool,

    /// Use the database as found: never wipe it. Reads assume it holds keys
    /// 0..num (written by an earlier run with the same `--num`).
    #[arg(long)]
    pub use_existing: bool,

    /// Memtable size (flush trigger), e.g. `64MiB` (default: the engine's).
    #[arg(long, value_parser = parse_size, value_name = "BYTES")]
    pub memtable_size: Option<u64>,

    /// Block cache budget, e.g. `256MiB` (default: the engine's).
    #[arg(long, value_parser = parse_size, value_name = "BYTES")]
    pub block_cache_size: Option<u64>,

    /// Budget of the on-disk raw block cache in `LOCAL/cache`, e.g. `4GiB`;
    /// `0` turns it off (default: the engine's).
    #[arg(long, value_parser = parse_size, value_name = "BYTES")]
    pub disk_cache_size: Option<u64>,

    /// Load every chunk's index when the database opens (default: on the
    /// first read that needs it).
    #[arg(long)]
    pub preload_indexes: bool,

    /// Read-ahead of one scan, shared by the chunk lists it merges, e.g.
    /// `2MiB` (default: the engine's).
    #[arg(long, value_parser = parse_size, value_name = "BYTES")]
    pub scan_readahead: Option<u64>,

    /// Turn WAL shipping off (on by default, as in the engine).
    #[arg(long)]
    pub no_wal_shipping: bool,

    /// Ship the WAL once the oldest unshipped write is this many
    /// milliseconds old (default: the engine's, 1000).
    #[arg(long, value_name = "MS")]
    pub wal_ship_interval_ms: Option<u64>,

    /// Do not flush after fills: leave the tail of the data in the memtable
    /// (so reads span memtable and chunks).
    #[arg(long)]
    pub no_flush: bool,

    /// Print the results as one JSON document on stdout (the human-readable
    /// report then goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// Seed of every random choice (key order, values, read keys).
    #[arg(long, default_value_t = 301)]
    pub seed: u64,

    /// `fsync-probe`: number of 4 KiB write + fdatasync rounds.
    #[arg(long, default_value_t = 200)]
    pub probe_count: usize,

    /// `fsync-probe`: bytes written before each fdatasync.
    #[arg(long, default_value_t = 4096)]
    pub probe_size: usize,
}

/// `--durability` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// fdatasync before each write is acknowledged (group commit).
    Sync,
    /// Writes are handed to the OS and synced periodically.
    Buffered,
    /// Each write waits until the shipped WAL object holding it is in the
    /// bucket (concurrent writers share one PUT).
    Remote,
    /// Writes wait in the writer's WAL buffer (64 KiB, or the periodic
    /// sync): no write(2) per commit; a crash may lose the newest.
    Deferred,
}

impl DurabilityArg {
    /// The engine's durability setting.
    pub fn to_engine(self) -> firn::Durability {
        match self {
            DurabilityArg::Sync => firn::Durability::Sync,
            DurabilityArg::Buffered => firn::Durability::Buffered,
            DurabilityArg::Remote => firn::Durability::Remote,
            DurabilityArg::Deferred => firn::Durability::Deferred,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            DurabilityArg::Sync => "sync",
            DurabilityArg::Buffered => "buffered",
            DurabilityArg::Remote => "remote",
            DurabilityArg::Deferred => "deferred",
        }
    }
}

impl Args {
    /// The workloads to run, in order: `--benchmarks`, then the positional
    /// ones, else [`DEFAULT_BENCHMARKS`].
    pub fn workloads(&self) -> Vec<Workload> {
        let mut list: Vec<Workload> = self
            .benchmarks
            .iter()
            .chain(&self.positional)
            .copied()
            .collect();
        if list.is_empty() {
            list = DEFAULT_BENCHMARKS
                .split(',')
                .filter_map(|name| name.parse().ok())
                .collect();
        }
        list
    }

    /// Point reads of `readrandom`.
    pub fn reads(&self) -> u64 {
        self.reads.unwrap_or(self.num)
    }

    /// Range scans of `scan`.
    pub fn scans(&self) -> u64 {
        self.scans.unwrap_or((self.reads() / 10).max(1))
    }

    /// Checks combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.num == 0 {
            return Err("--num must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if self.runtime_threads == Some(0) {
            return Err("--runtime-threads must be at least 1".into());
        }
        if self.scan_length == 0 {
            return Err("--scan-length must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.compression_ratio) {
            return Err("--compression-ratio must be between 0 and 1".into());
        }
        if self.probe_count == 0 || self.probe_size == 0 {
            return Err("--probe-count and --probe-size must be at least 1".into());
        }
        Ok(())
    }
}

/// Parses a byte size: a plain number or one with a suffix `K`, `M`, `G`
/// (powers of 1024; `KiB`, `KB`, `k` are accepted too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 4096, 64MiB, 1G)"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown size suffix {other:?} in {text:?} (use K, M or G)"
            ))
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("8k"), Ok(8 << 10));
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn workload_lists() {
        let args = Args::parse_from(["firn-bench", "--benchmarks", "fillseq,readrandom", "scan"]);
        assert_eq!(
            args.workloads(),
            vec![Workload::FillSeq, Workload::ReadRandom, Workload::Scan]
        );
        let args = Args::parse_from(["firn-bench", "fillrandom,readseq"]);
        assert_eq!(
            args.workloads(),
            vec![Workload::FillRandom, Workload::ReadSeq]
        );
        let args = Args::parse_from(["firn-bench"]);
        assert_eq!(args.workloads().len(), 6);
        assert!(Args::try_parse_from(["firn-bench", "nosuch"]).is_err());
    }

    #[test]
    fn defaults() {
        let args = Args::parse_from(["firn-bench", "--num", "1000"]);
        assert_eq!(args.reads(), 1000);
        assert_eq!(args.scans(), 100);
        assert_eq!(args.key_size, 16);
        assert_eq!(args.value_size, 100);
        assert_eq!(args.durability, DurabilityArg::Buffered);
        assert!(args.validate().is_ok());
    }
}

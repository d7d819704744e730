//! Point reads under many range deletes, against the same reads with none.
//!
//! ```sh
//! firn-range-deletes --db file:///tmp/firn-rd --keys 200000 --tombstones 10000 --runs 5
//! ```
//!
//! Builds a database of `--keys` keys (100-byte values), flushed and
//! compacted into one sorted run, and reads `--reads` random keys (a warm
//! pass, then `--runs` timed passes) in three states:
//!
//! * `none`: no range delete;
//! * `memtable`: after `--tombstones` range deletes of 2 keys each, spread
//!   over the key space (every `keys / tombstones` keys), still in the
//!   memtable;
//! * `chunk`: the same range deletes flushed into an L0 chunk.
//!
//! Reads are checked against what the deletes removed (a deleted key must
//! read absent, any other present). Prints one JSON object: per state the
//! run times (ns per read) and the ratio of each state's median to `none`.

use std::time::Instant;

use firn::{Db, Options, WriteBatch};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(arg(name).map(|v| v.parse()).transpose()?.unwrap_or(default))
}

fn key(i: u64) -> String {
    format!("key{i:012}")
}

/// splitmix64: the same read keys for every state.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Times `runs` passes of point reads of `reads` (after one warm pass);
/// checks each answer against `deleted`.
async fn passes(
    db: &Db,
    reads: &[u64],
    runs: u64,
    deleted: &dyn Fn(u64) -> bool,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for pass in 0..=runs {
        let started = Instant::now();
        for &i in reads {
            let got = db.get(key(i)).await?;
            if got.is_some() == deleted(i) {
                return Err(format!("{}: read {:?}, deleted {}", key(i), got, deleted(i)).into());
            }
        }
        let ns = started.elapsed().as_nanos() as f64 / reads.len() as f64;
        if pass > 0 {
            out.push(ns);
        }
    }
    Ok(out)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg("--db").ok_or(
        "usage: firn-range-deletes --db URL [--keys N] [--tombstones N] [--reads N] [--runs N]",
    )?;
    let keys = num("--keys", 200_000)?;
    let tombstones = num("--tombstones", 10_000)?.max(1);
    let reads_n = num("--reads", 200_000)?;
    let runs = num("--runs", 5)?.max(1);
    let local = tempfile::tempdir()?;
    let mut opts = Options::new(&url, local.path().join("local"));
    // Every block in memory: the figure is the range-delete work, not I/O.
    opts.block_cache_bytes = 1 << 30;
    let db = Db::open(opts).await?;
    let value = vec![b'v'; 100];
    for start in (0..keys).step_by(1000) {
        let mut batch = WriteBatch::new();
        for i in start..(start + 1000).min(keys) {
            batch.put(key(i), value.clone());
        }
        db.write(batch).await?;
    }
    db.flush().await?;
    db.compact().await?;

    let mut rng = Rng(42);
    let reads: Vec<u64> = (0..reads_n).map(|_| rng.next() % keys).collect();
    let none = passes(&db, &reads, runs, &|_| false).await?;

    // Range deletes of 2 keys each, every `stride` keys.
    let stride = (keys / tombstones).max(3);
    let deleted = move |i: u64| i % stride < 2 && i / stride < tombstones;
    for t in 0..tombstones {
        let lo = t * stride;
        db.delete_range(key(lo), key(lo + 2)).await?;
    }
    let memtable = passes(&db, &reads, runs, &deleted).await?;
    db.flush().await?;
    let chunk = passes(&db, &reads, runs, &deleted).await?;
    let m = db.manifest();
    let l0 = m.l0.len();
    db.close().await?;

    let (base, mem, ch) = (median(&none), median(&memtable), median(&chunk));
    let report = serde_json::json!({
        "keys": keys,
        "range_deletes": tombstones,
        "reads_per_pass": reads_n,
        "l0_chunks_after_flush": l0,
        "none_ns_per_read": none,
        "memtable_ns_per_read": memtable,
        "chunk_ns_per_read": chunk,
        "median_ns": { "none": base, "memtable": mem, "chunk": ch },
        "ratio_to_none": { "memtable": mem / base, "chunk": ch / base },
    });
    println!("{report}");
    Ok(())
}

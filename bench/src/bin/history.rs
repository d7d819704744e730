//! Clones and point-in-time restores of a large database: how long they
//! take and how many bytes they write and read, against the database size.
//!
//! ```sh
//! firn-history --db file:///tmp/firn-history --gib 1 --runs 5
//! firn-history --db s3://bucket/prefix --gib 1      # AWS_* name the server
//! ```
//!
//! Builds a database of `--gib` GiB (1 KiB incompressible values, flushed
//! into chunks; reused when `--db` already holds one that large), sets a
//! one-hour retention window, then `--runs` times each:
//!
//! * clones its current state into a fresh location (`clone_database`);
//! * after writing `--tail-mib` MiB more that stay unflushed (in the
//!   shipped WAL only) and some writes after the point, restores the
//!   database to the point between flushes (`restore_database`, by seq)
//!   and checks a write from the tail is there.
//!
//! Every clone and restore is dropped again (untimed). Prints one JSON
//! object: the database's chunk bytes, and per operation the run times
//! (ms) and the bytes written and read.

use std::time::{Duration, Instant};

use firn::{
    clone_database, drop_database, restore_database, Db, Durability, Options, RestorePoint,
    WriteBatch, WriteOptions,
};
use firn_store::ObjectStore;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(arg(name).map(|v| v.parse()).transpose()?.unwrap_or(default))
}

/// Incompressible value bytes (splitmix64), so chunks are as large as the data.
struct Noise(u64);

impl Noise {
    fn value(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VALUE);
        while out.len() < VALUE {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out
    }
}

const VALUE: usize = 1024;
const BATCH: usize = 64;

fn key(i: u64) -> String {
    format!("key{i:012}")
}

fn stats(ms: &[f64]) -> serde_json::Value {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    serde_json::json!({
        "runs_ms": ms,
        "min_ms": sorted.first(),
        "median_ms": sorted.get(sorted.len() / 2),
        "max_ms": sorted.last(),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg("--db").ok_or("usage: firn-history --db URL [--gib N] [--runs N]")?;
    let gib = num("--gib", 1)?;
    let runs = num("--runs", 5)?.max(1);
    let tail_mib = num("--tail-mib", 8)?;
    let root = tempfile::tempdir()?;
    let mut opts = Options::new(url.clone(), root.path().join("writer"));
    opts.flush_on_close = false;
    let db = Db::open(opts).await?;
    let src = db.object_store().clone();
    let keys = gib * (1 << 30) / VALUE as u64;
    let mut rng = Noise(7);
    let have: u64 = db.manifest().all_chunks().map(|c| c.entries).sum();
    if have < keys {
        let started = Instant::now();
        let mut i = 0;
        while i < keys {
            let mut batch = WriteBatch::new();
            for _ in 0..BATCH {
                batch.put(key(i), rng.value());
                i += 1;
            }
            db.write(batch).await?;
        }
        db.flush().await?;
        eprintln!(
            "loaded {keys} keys in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    db.set_history_retention(Duration::from_secs(3600)).await?;
    let chunk_bytes: u64 = db.manifest().all_chunks().map(|c| c.size).sum();
    let dest_url = |what: &str, run: u64| format!("{}-{what}-{run}", url.trim_end_matches('/'));
    let open_dest = |u: &str| ObjectStore::from_url_with(u, src.options());

    let (mut clone_ms, mut clone_written) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dest = open_dest(&dest_url("clone", run))?;
        let started = Instant::now();
        let report = clone_database(&src, &dest, None).await?;
        clone_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        clone_written.push(report.bytes_written);
        drop_database(&dest, false).await?;
    }

    // The tail: unflushed writes, in the shipped WAL only; the point is
    // its last write; then later writes the restore must leave out.
    let remote = WriteOptions {
        durability: Some(Durability::Remote),
    };
    let tail_keys = tail_mib * (1 << 20) / VALUE as u64;
    let mut point = 0;
    let mut i = 0;
    while i < tail_keys {
        let mut batch = WriteBatch::new();
        for _ in 0..BATCH {
            batch.put(format!("tail{i:09}"), rng.value());
            i += 1;
        }
        point = db.write_with(batch, remote).await?;
    }
    let mut after = WriteBatch::new();
    after.put("after-the-point", "x");
    db.write_with(after, remote).await?;

    let (mut restore_ms, mut restore_written, mut wal_read, mut batches) =
        (Vec::new(), Vec::new(), 0, 0);
    for run in 0..runs {
        let dest_name = dest_url("restore", run);
        let dest = open_dest(&dest_name)?;
        let started = Instant::now();
        let report = restore_database(&src, &dest, RestorePoint::Seq(point)).await?;
        restore_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        restore_written.push(report.bytes_written);
        wal_read = report.wal_bytes_read;
        batches = report.batches_replayed;
        let mut check = Options::new(dest_name, root.path().join(format!("check-{run}")));
        check.read_only = true;
        let restored = Db::open(check).await?;
        let last_tail = format!("tail{:09}", tail_keys - 1);
        if restored.get(&last_tail).await?.is_none()
            || restored.get("after-the-point").await?.is_some()
        {
            return Err("the restored database does not hold exactly the point".into());
        }
        restored.close().await?;
        drop_database(&dest, false).await?;
    }
    db.close().await?;
    let out = serde_json::json!({
        "db": url,
        "logical_gib": gib,
        "chunk_bytes": chunk_bytes,
        "clone": {
            "time": stats(&clone_ms),
            "bytes_written": clone_written,
        },
        "restore": {
            "tail_mib_unflushed": tail_mib,
            "time": stats(&restore_ms),
            "bytes_written": restore_written,
            "wal_bytes_read": wal_read,
            "batches_replayed": batches,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

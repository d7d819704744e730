//! Takeover time: how long a writer on a fresh machine (an empty local
//! directory) takes to open a database whose previous writer died with
//! `--mib` MiB of unflushed, shipped WAL, to acknowledge its first write,
//! and to read the previous writer's last `Remote` write.
//!
//! ```sh
//! firn-takeover --db s3://bucket/prefix --mib 64        # AWS_* variables name the server
//! firn-takeover --db file:///tmp/firn-takeover --mib 64
//! ```
//!
//! Prints one JSON object: the load (entries, bytes, shipped objects), then
//! `open_ms`, `first_write_ms`, `last_remote_read_ms` (each from the start
//! of the open) and the open's requests.

use std::time::{Duration, Instant};

use firn::{Db, Durability, Options, WriteBatch, WriteOptions};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg("--db").ok_or("usage: firn-takeover --db URL [--mib N]")?;
    let mib: u64 = arg("--mib").map(|m| m.parse()).transpose()?.unwrap_or(64);
    let root = tempfile::tempdir()?;
    let options = |local: &str| {
        let mut o = Options::new(url.clone(), root.path().join(local));
        // Nothing is flushed: the whole load stays in the WAL.
        o.memtable_size = ((mib + 16) << 20) as usize;
        o.flush_on_close = false;
        o
    };

    // The old writer: fills, ends with a Remote write, then dies.
    let db = Db::open(options("old")).await?;
    // Values compress about 2:1, as `firn-bench`'s default values do:
    // 500 pseudo-random bytes, then 500 zero bytes.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut value = move || {
        let mut v = vec![0u8; 1000];
        for b in v.iter_mut().take(500) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        v
    };
    let mut written = 0u64;
    let mut entries = 0u64;
    while written < mib << 20 {
        let mut batch = WriteBatch::new();
        for _ in 0..100 {
            batch.put(format!("key{entries:012}"), value());
            entries += 1;
            written += 1015;
        }
        db.write(batch).await?;
    }
    let mut last = WriteBatch::new();
    last.put("last-remote-write", "here");
    let remote = WriteOptions {
        durability: Some(Durability::Remote),
    };
    db.write_with(last, remote).await?;
    let shipped = db.metrics().wal_objects_shipped;
    let shipped_bytes = db.metrics().wal_bytes_shipped;
    assert_eq!(db.metrics().flushes, 0, "the load must stay unflushed");
    drop(db);
    std::fs::remove_dir_all(root.path().join("old"))?;

    // The new writer, on a fresh machine.
    let started = Instant::now();
    let db = Db::open(options("new")).await?;
    let open_ms = started.elapsed().as_secs_f64() * 1000.0;
    let opened = db.metrics().requests;
    db.put("first-write-after-takeover", "x").await?;
    let first_write_ms = started.elapsed().as_secs_f64() * 1000.0;
    let got = db.get("last-remote-write").await?;
    let last_remote_read_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(got.as_deref(), Some(&b"here"[..]));
    let replayed = db.metrics().wal_objects_replayed;
    tokio::time::timeout(Duration::from_secs(120), db.close()).await??;
    println!(
        "{{\"mib\":{mib},\"entries\":{entries},\"shipped_objects\":{shipped},\
         \"shipped_bytes\":{shipped_bytes},\"replayed_objects\":{replayed},\
         \"open_ms\":{open_ms:.1},\"first_write_ms\":{first_write_ms:.1},\
         \"last_remote_read_ms\":{last_remote_read_ms:.1},\"open_requests\":\"{opened}\"}}"
    );
    Ok(())
}

//! Follower lag and cost: a writer writes at a steady rate while a follower
//! (another handle on an empty local directory, as on another machine)
//! reads each write as soon as it can. Reports, per write, the time from
//! the writer's acknowledgement to the follower first seeing it (p50, p99,
//! max), and the follower's requests per second while the writer is busy
//! and while it is idle.
//!
//! ```sh
//! firn-follow --db s3://bucket/prefix --seconds 20 --rate 100   # AWS_* name the server
//! firn-follow --db file:///tmp/firn-follow --durability remote
//! ```
//!
//! Options: `--rate` writes per second (100), `--seconds` of load (20),
//! `--idle-seconds` (10), `--durability buffered|remote` (buffered),
//! `--ship-interval-ms` (1000, the writer's), `--follow-interval-ms` (1000).
//! Prints one JSON object.

use std::sync::Arc;
use std::time::{Duration, Instant};

use firn::{Db, Durability, Options, WriteBatch, WriteOptions};
use tokio::sync::Mutex;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(arg(name).map(|v| v.parse()).transpose()?.unwrap_or(default))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg("--db").ok_or("usage: firn-follow --db URL [--rate N] [--seconds N]")?;
    let rate = num("--rate", 100)?.max(1);
    let seconds = num("--seconds", 20)?;
    let idle_seconds = num("--idle-seconds", 10)?;
    let ship_ms = num("--ship-interval-ms", 1000)?;
    let follow_ms = num("--follow-interval-ms", 1000)?;
    let durability = match arg("--durability").as_deref() {
        None | Some("buffered") => Durability::Buffered,
        Some("remote") => Durability::Remote,
        Some(other) => return Err(format!("--durability {other}: buffered or remote").into()),
    };
    let root = tempfile::tempdir()?;
    let mut wopts = Options::new(url.clone(), root.path().join("writer"));
    wopts.wal_ship_interval = Duration::from_millis(ship_ms);
    wopts.flush_on_close = false;
    let writer = Db::open(wopts).await?;
    writer.put("start", "1").await?;
    writer.flush().await?;
    let mut fopts = Options::new(url, root.path().join("follower"));
    fopts.follow = true;
    fopts.follow_interval = Duration::from_millis(follow_ms);
    let follower = Db::open(fopts).await?;

    // Acknowledgement times, by write number; the follower fills in when it
    // first saw each.
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let total = rate * seconds;
    let watcher = {
        let (follower, acks) = (follower.clone(), acks.clone());
        tokio::spawn(async move {
            let mut lags = Vec::new();
            let mut next = 0u64;
            while next < total {
                // The newest write the follower sees, by its counter key.
                let seen = match follower.get("counter").await {
                    Ok(Some(v)) => std::str::from_utf8(&v)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                        .map(|n| n + 1),
                    _ => None,
                }
                .unwrap_or(0);
                let now = Instant::now();
                let acked = acks.lock().await;
                while next < seen && (next as usize) < acked.len() {
                    lags.push(now.duration_since(acked[next as usize]).as_secs_f64() * 1000.0);
                    next += 1;
                }
                drop(acked);
                firn_store::clock::sleep(Duration::from_millis(2)).await;
            }
            lags
        })
    };
    let before = follower.metrics().requests;
    let started = Instant::now();
    let opts = WriteOptions {
        durability: Some(durability),
    };
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        firn_store::clock::sleep(due.saturating_duration_since(Instant::now())).await;
        let mut batch = WriteBatch::new();
        batch.put("counter", i.to_string());
        batch.put(format!("key{i:09}"), vec![7u8; 100]);
        writer.write_with(batch, opts).await?;
        acks.lock().await.push(Instant::now());
    }
    let mut lags = watcher.await?;
    let busy_secs = started.elapsed().as_secs_f64();
    let busy = follower.metrics().requests.since(&before);
    let idle_from = follower.metrics().requests;
    firn_store::clock::sleep(Duration::from_secs(idle_seconds)).await;
    let idle = follower.metrics().requests.since(&idle_from);
    lags.sort_by(|a, b| a.total_cmp(b));
    let doc = serde_json::json!({
        "writes": total,
        "rate": rate,
        "durability": format!("{durability:?}"),
        "ship_interval_ms": ship_ms,
        "follow_interval_ms": follow_ms,
        "lag_ms_p50": percentile(&lags, 0.50),
        "lag_ms_p99": percentile(&lags, 0.99),
        "lag_ms_max": percentile(&lags, 1.0),
        "follower_requests_per_s_busy": busy.total_requests() as f64 / busy_secs,
        "follower_gets_per_s_busy": busy.get as f64 / busy_secs,
        "follower_requests_per_s_idle": idle.total_requests() as f64 / idle_seconds.max(1) as f64,
        "follower_lists_idle": idle.list,
    });
    println!("{doc}");
    drop(follower);
    writer.close().await?;
    Ok(())
}

//! Side-by-side tables of the results.

use std::fmt::Write as _;

use crate::local::LocalResult;
use crate::s3::S3Result;

/// Renders rows as an aligned text table (first row: header).
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let w = widths.get(c).copied().unwrap_or(0);
                if c == 0 {
                    format!("{s:<w$}")
                } else {
                    format!("{s:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
            let _ = writeln!(out, "{}", "-".repeat(total));
        }
    }
    out
}

fn ops(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn us(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1u64 << 20) as f64)
}

/// The local results: one row per workload line, one column group per engine.
pub fn local_tables(results: &[LocalResult], engines: &[&'static str]) -> String {
    let mut labels: Vec<String> = Vec::new();
    for r in results {
        if !labels.contains(&r.workload) {
            labels.push(r.workload.clone());
        }
    }
    let find = |label: &str, engine: &str| {
        results
            .iter()
            .find(|r| r.workload == label && r.engine == engine)
    };
    let mut speed = vec![{
        let mut h = vec!["workload".to_string()];
        for e in engines {
            h.push(format!("{e} ops/s"));
            h.push("p50 µs".into());
            h.push("p99 µs".into());
        }
        h.push("firn ÷ best peer".into());
        h
    }];
    let mut bytes = vec![{
        let mut h = vec!["workload".to_string()];
        for e in engines {
            h.push(format!("{e} disk MiB"));
            h.push("io MiB".into());
        }
        h.push("syncs (writes/sync)".into());
        h
    }];
    for label in &labels {
        let mut row = vec![label.clone()];
        let mut brow = vec![label.clone()];
        let mut syncs = Vec::new();
        for e in engines {
            match find(label, e) {
                Some(r) => {
                    row.extend([ops(r.ops_per_sec), us(r.p50_us), us(r.p99_us)]);
                    brow.extend([
                        mib(r.disk_bytes),
                        r.io_write_bytes.map_or("n/a".into(), mib),
                    ]);
                    if let (Some(s), Some(w)) = (r.wal_syncs, r.writes_per_sync) {
                        syncs.push(format!("{e} {s} ({w:.1})"));
                    }
                }
                None => {
                    row.extend(["-".into(), "-".into(), "-".into()]);
                    brow.extend(["-".into(), "-".into()]);
                }
            }
        }
        let firn = find(label, "firn").map(|r| r.ops_per_sec);
        let best = engines
            .iter()
            .filter(|e| !e.starts_with("firn"))
            .filter_map(|e| find(label, e))
            .map(|r| r.ops_per_sec)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        row.push(match (firn, best) {
            (Some(f), Some(b)) if b > 0.0 => format!("{:.2}x", f / b),
            _ => "-".into(),
        });
        brow.push(if syncs.is_empty() {
            "-".into()
        } else {
            syncs.join(", ")
        });
        speed.push(row);
        bytes.push(brow);
    }
    let mut out = String::new();
    out.push_str(&table(&speed));
    out.push('\n');
    out.push_str(&table(&bytes));
    out.push_str(
        "disk MiB: size of all files in the database folder after the workload;\n\
         io MiB: /proc/self/io write_bytes - cancelled_write_bytes during the timed part.\n",
    );
    out
}

/// The S3 results: one row per figure, one column per engine.
pub fn s3_table(results: &[S3Result]) -> String {
    let mut rows = vec![{
        let mut h = vec!["S3".to_string()];
        h.extend(results.iter().map(|r| r.engine.to_string()));
        h
    }];
    let mut add = |name: &str, f: &dyn Fn(&S3Result) -> String| {
        let mut row = vec![name.to_string()];
        row.extend(results.iter().map(f));
        rows.push(row);
    };
    add("durable puts/s", &|r| {
        format!(
            "{} ({} writers)",
            ops(r.durable_ops_per_sec),
            r.durable_writers
        )
    });
    add("durable ack p50 / p99 µs", &|r| {
        format!(
            "{} / {}",
            us(r.durable_ack_p50_us),
            us(r.durable_ack_p99_us)
        )
    });
    add("durable load requests", &|r| r.durable_requests.to_string());
    add("PUTs per GB (durable)", &|r| ops(r.durable_puts_per_gb));
    add("buffered load puts/s (1 client)", &|r| {
        ops(r.buffered_ops_per_sec)
    });
    add("buffered load requests", &|r| {
        r.buffered_requests.to_string()
    });
    add("PUTs per GB (buffered)", &|r| ops(r.buffered_puts_per_gb));
    add("cold open requests", &|r| r.cold_open_requests.to_string());
    add("cold open seconds", &|r| {
        format!("{:.3}", r.cold_open_seconds)
    });
    add("cold reads: GETs/read", &|r| {
        format!(
            "{:.3} ({} GETs / {} reads)",
            r.cold_gets_per_read, r.cold_read_gets, r.cold_reads
        )
    });
    add("cold reads that made a GET", &|r| {
        r.cold_reads_with_get.to_string()
    });
    add("cold read p50 / p99 µs", &|r| {
        format!("{} / {}", us(r.cold_read_p50_us), us(r.cold_read_p99_us))
    });
    add("cold 10-row scan: GETs (mean)", &|r| {
        format!("{:.2} over {} scans", r.cold_scan_gets_mean, r.cold_scans)
    });
    add("cold scan p50 / p99 µs", &|r| {
        format!("{} / {}", us(r.cold_scan_p50_us), us(r.cold_scan_p99_us))
    });
    add("GETs of each scan's open (mean)", &|r| {
        format!("{:.1}", r.cold_scan_open_gets_mean)
    });
    table(&rows)
}

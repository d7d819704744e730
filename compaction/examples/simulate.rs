//! Replays a stream of equal flushes through the compaction planner and reports write
//! amplification and the number of sorted runs over time.
//!
//! ```text
//! cargo run -p firn-compaction --example simulate -- --flushes 1000 --policy tiered
//! ```
//!
//! Options (all optional): `--flushes N` (1000), `--policy tiered|leveled|both` (both),
//! `--flush-mib N` (64), `--l0-trigger N`, `--size-ratio N`, `--max-runs N`,
//! `--target-chunk-mib N`, `--level-base-mib N` (defaults from `CompactionConfig::default()`),
//! `--every N` (print the runs every N flushes; 0 for none, default flushes / 10).

use std::process::ExitCode;

use firn_compaction::simulate::{simulate, SimConfig, SimReport};
use firn_compaction::{CompactionConfig, Policy};

/// Parsed command line.
struct Args {
    sim: SimConfig,
    config: CompactionConfig,
    policies: Vec<Policy>,
}

fn parse_args() -> Result<Args, String> {
    let mut sim = SimConfig::default();
    let mut config = CompactionConfig::default();
    let mut policies = vec![Policy::Tiered, Policy::Leveled];
    let mut every = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--flushes" => sim.flushes = number()?,
            "--flush-mib" => sim.flush_bytes = number()? << 20,
            "--every" => every = Some(number()?),
            "--l0-trigger" => config.l0_trigger = number()? as usize,
            "--size-ratio" => config.size_ratio = number()?,
            "--max-runs" => config.max_runs = number()? as usize,
            "--target-chunk-mib" => config.target_chunk_size = number()? << 20,
            "--level-base-mib" => config.level_base_bytes = number()? << 20,
            "--policy" => {
                policies = match value.as_str() {
                    "both" | "all" => vec![Policy::Tiered, Policy::Leveled],
                    name => vec![Policy::from_name(name)
                        .ok_or_else(|| format!("unknown policy {name:?}"))?],
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    sim.sample_every = every.unwrap_or((sim.flushes / 10).max(1));
    Ok(Args {
        sim,
        config,
        policies,
    })
}

fn print_report(policy: Policy, config: &CompactionConfig, report: &SimReport) {
    let flush_bytes = report.bytes_flushed / report.flushes.max(1);
    println!(
        "policy {}: l0_trigger {}, size_ratio {}, max_runs {}, flushes {} x {} MiB",
        policy.name(),
        config.l0_trigger,
        config.size_ratio,
        config.max_runs,
        report.flushes,
        flush_bytes >> 20,
    );
    if !report.samples.is_empty() {
        println!(
            "  {:>8} {:>12} {:>12} {:>8}",
            "flushes", "runs@flush", "runs@rest", "WA"
        );
        for s in &report.samples {
            let flushed = (s.flushes * flush_bytes) as f64;
            let wa = (flushed + s.bytes_compacted as f64) / flushed;
            println!(
                "  {:>8} {:>12} {:>12} {:>8.2}",
                s.flushes, s.runs_after_flush, s.runs_settled, wa
            );
        }
    }
    println!(
        "  write amplification {:.3}; max sorted runs {}; final sorted runs {}; compactions {}; largest compaction {} MiB; most steps after one flush {}",
        report.write_amplification(),
        report.max_sorted_runs,
        report.final_sorted_runs,
        report.compactions,
        report.largest_compaction >> 20,
        report.max_steps_per_flush,
    );
    match report.check(6.0, 16) {
        Ok(()) => println!("  bounds (WA <= 6, sorted runs <= 16): met"),
        Err(e) => println!("  bounds (WA <= 6, sorted runs <= 16): NOT met: {e}"),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("usage: simulate [--flushes N] [--policy tiered|leveled|both] [--flush-mib N] [--l0-trigger N] [--size-ratio N] [--max-runs N] [--target-chunk-mib N] [--level-base-mib N] [--every N]");
            return ExitCode::from(2);
        }
    };
    for policy in &args.policies {
        let config = CompactionConfig {
            policy: *policy,
            ..args.config.clone()
        };
        match simulate(&args.sim, &config) {
            Ok(report) => print_report(*policy, &config, &report),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

//! The write-amplification simulator as a test: 1,000 equal flushes through the planner must
//! stay within bounds fixed in advance, and a planner that never compacts must fail them.

use firn_compaction::simulate::{simulate, simulate_with, SimConfig, SimReport};
use firn_compaction::{plan, CompactionConfig, Policy};

/// Bounds fixed in advance: write amplification at most 6 ...
const MAX_WRITE_AMPLIFICATION: f64 = 6.0;
/// ... and never more than 16 sorted runs (each level-0 chunk counting as one).
const MAX_SORTED_RUNS: usize = 16;

fn thousand_flushes() -> SimConfig {
    SimConfig {
        flushes: 1000,
        sample_every: 100,
        ..SimConfig::default()
    }
}

fn describe(name: &str, r: &SimReport) -> String {
    format!(
        "{name}: write amplification {:.3}, max sorted runs {}, final sorted runs {}, {} compactions, largest {} MiB",
        r.write_amplification(),
        r.max_sorted_runs,
        r.final_sorted_runs,
        r.compactions,
        r.largest_compaction >> 20
    )
}

#[test]
fn default_policy_meets_both_bounds_over_1000_flushes() {
    let config = CompactionConfig::default();
    let report = simulate(&thousand_flushes(), &config).expect("replay");
    println!("{}", describe("default (tiered)", &report));
    assert_eq!(report.flushes, 1000);
    assert_eq!(report.bytes_flushed, 1000 * (64 << 20));
    report
        .check(MAX_WRITE_AMPLIFICATION, MAX_SORTED_RUNS)
        .expect("default policy within bounds");
    // The soft bound keeps a margin under the hard one.
    assert!(report.max_sorted_runs <= config.max_runs + 1);
    assert!(report
        .samples
        .iter()
        .all(|s| s.runs_settled <= config.max_runs));
}

#[test]
fn a_planner_that_never_compacts_fails_the_check() {
    let report = simulate_with(&thousand_flushes(), |_| None).expect("replay");
    println!("{}", describe("never compacts", &report));
    assert_eq!(report.write_amplification(), 1.0);
    assert_eq!(report.max_sorted_runs, 1000);
    let err = report
        .check(MAX_WRITE_AMPLIFICATION, MAX_SORTED_RUNS)
        .expect_err("the check must reject a planner that never compacts");
    assert!(err.contains("1000 sorted runs"), "{err}");

    // Likewise with automatic compaction switched off in the configuration.
    let off = CompactionConfig {
        auto_compaction: false,
        ..CompactionConfig::default()
    };
    let report = simulate(&thousand_flushes(), &off).expect("replay");
    assert!(report
        .check(MAX_WRITE_AMPLIFICATION, MAX_SORTED_RUNS)
        .is_err());
}

#[test]
fn a_planner_that_rewrites_everything_fails_the_check() {
    // The other way to fail: few runs, but every flush rewrites the whole database.
    let config = CompactionConfig {
        l0_trigger: 2,
        max_runs: 1,
        ..CompactionConfig::default()
    };
    let report = simulate(&thousand_flushes(), &config).expect("replay");
    println!("{}", describe("max_runs 1", &report));
    assert!(report.max_sorted_runs <= 2);
    let err = report
        .check(MAX_WRITE_AMPLIFICATION, MAX_SORTED_RUNS)
        .expect_err("quadratic rewriting must fail");
    assert!(err.contains("write amplification"), "{err}");
}

#[test]
fn leveled_is_measured_and_writes_more_than_tiered() {
    let tiered = simulate(&thousand_flushes(), &CompactionConfig::default()).expect("replay");
    let leveled = simulate(
        &thousand_flushes(),
        &CompactionConfig::with_policy(Policy::Leveled),
    )
    .expect("replay");
    println!("{}", describe("tiered", &tiered));
    println!("{}", describe("leveled", &leveled));
    assert!(leveled.max_sorted_runs <= MAX_SORTED_RUNS);
    assert!(leveled.write_amplification() > tiered.write_amplification());
    assert!(leveled.max_sorted_runs < tiered.max_sorted_runs);
}

#[test]
fn output_split_and_odd_sizes_keep_the_bounds() {
    // Output cut into quarter-flush chunks, and a flush size that is no power of two.
    for policy in [Policy::Tiered, Policy::Leveled] {
        let config = CompactionConfig {
            target_chunk_size: 10 << 20,
            ..CompactionConfig::with_policy(policy)
        };
        let sim = SimConfig {
            flush_bytes: 37 << 20,
            ..thousand_flushes()
        };
        let report = simulate(&sim, &config).expect("replay");
        println!("{}", describe(policy.name(), &report));
        assert!(report.max_sorted_runs <= MAX_SORTED_RUNS);
        if policy == Policy::Tiered {
            report
                .check(MAX_WRITE_AMPLIFICATION, MAX_SORTED_RUNS)
                .expect("tiered within bounds");
        }
    }
}

#[test]
fn the_planner_is_deterministic_over_a_replay() {
    let config = CompactionConfig::default();
    let sim = SimConfig {
        flushes: 300,
        sample_every: 1,
        ..SimConfig::default()
    };
    let a = simulate(&sim, &config).expect("replay");
    let b = simulate_with(&sim, |m| plan(m, &config)).expect("replay");
    assert_eq!(a, b);
}

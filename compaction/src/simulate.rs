//! A write-amplification simulator: replays a stream of equal flushes through a planner on a
//! real [`Manifest`] (edits applied with [`ManifestEdit::apply`]), with sizes only, no data.
//!
//! Each flush adds one level-0 chunk of `flush_bytes`. After each flush the planner runs until
//! it returns `None`; each plan is "executed" by replacing its inputs with output chunks whose
//! total size is the inputs' (no overwrites, nothing dropped), split at the plan's
//! `target_chunk_size`. The report gives write amplification,
//! `(bytes flushed + bytes written by compaction) / bytes flushed`, and the number of sorted
//! runs over time (each level-0 chunk counting as one), counted after every flush and after
//! every compaction step.
//!
//! Every step also checks the read-order invariant: the sources in read order (level 0, then
//! runs) hold strictly decreasing, non-overlapping sequence ranges, so a read that stops at
//! the first source holding a key sees its newest version.

use std::collections::HashSet;

use firn_manifest::{ChunkId, ChunkMeta, Manifest, ManifestEdit, ManifestError};

use crate::config::CompactionConfig;
use crate::plan::{plan, CompactionPlan};

/// What to replay.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of flushes.
    pub flushes: u64,
    /// Bytes per flushed chunk.
    pub flush_bytes: u64,
    /// Record a [`Sample`] every this many flushes (0: none).
    pub sample_every: u64,
    /// Give up when the planner keeps planning after one flush more than this many times.
    pub max_steps_per_flush: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            flushes: 1000,
            flush_bytes: 64 << 20,
            sample_every: 0,
            max_steps_per_flush: 64,
        }
    }
}

/// The state after some flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Flushes so far.
    pub flushes: u64,
    /// Sorted runs right after the flush, before compaction.
    pub runs_after_flush: usize,
    /// Sorted runs once the planner had nothing more to do.
    pub runs_settled: usize,
    /// Bytes written by compaction so far.
    pub bytes_compacted: u64,
}

/// What a replay measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// Flushes replayed.
    pub flushes: u64,
    /// Bytes written by flushes.
    pub bytes_flushed: u64,
    /// Bytes written by compactions (their outputs).
    pub bytes_compacted: u64,
    /// Compactions run.
    pub compactions: u64,
    /// The most sorted runs (level-0 chunks counted one each) seen after any flush or step.
    pub max_sorted_runs: usize,
    /// Sorted runs at the end.
    pub final_sorted_runs: usize,
    /// The largest single compaction's input, in bytes.
    pub largest_compaction: u64,
    /// The most compaction steps one flush set off.
    pub max_steps_per_flush: usize,
    /// Samples every `sample_every` flushes.
    pub samples: Vec<Sample>,
}

impl SimReport {
    /// `(bytes flushed + bytes written by compaction) / bytes flushed` (1.0 with no flushes).
    pub fn write_amplification(&self) -> f64 {
        if self.bytes_flushed == 0 {
            return 1.0;
        }
        (self.bytes_flushed + self.bytes_compacted) as f64 / self.bytes_flushed as f64
    }

    /// Checks the two bounds: write amplification at most `max_wa` and never more than
    /// `max_runs` sorted runs. The error says which bound broke and by how much.
    pub fn check(&self, max_wa: f64, max_runs: usize) -> Result<(), String> {
        let wa = self.write_amplification();
        let mut broken = Vec::new();
        if wa > max_wa {
            broken.push(format!("write amplification {wa:.2} > {max_wa}"));
        }
        if self.max_sorted_runs > max_runs {
            broken.push(format!(
                "{} sorted runs seen > {max_runs}",
                self.max_sorted_runs
            ));
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken.join("; "))
        }
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A plan's edit did not apply to the manifest it was planned on.
    #[error("flush {flush}: the edit of plan {plan:?} failed: {source}")]
    Edit {
        /// Flushes so far.
        flush: u64,
        /// The plan.
        plan: Box<CompactionPlan>,
        /// The manifest's refusal.
        source: ManifestError,
    },
    /// A flush's edit did not apply.
    #[error("flush {flush} failed: {source}")]
    Flush {
        /// Flushes so far.
        flush: u64,
        /// The manifest's refusal.
        source: ManifestError,
    },
    /// After a step, some source was not entirely newer than the one behind it.
    #[error("flush {flush}: read order broken after {after}: {detail}")]
    Order {
        /// Flushes so far.
        flush: u64,
        /// What had just happened.
        after: String,
        /// Which sources overlap.
        detail: String,
    },
    /// The planner kept planning after one flush.
    #[error("flush {flush}: the planner did not settle after {steps} steps")]
    Runaway {
        /// Flushes so far.
        flush: u64,
        /// Steps run.
        steps: usize,
    },
}

/// Replays `sim` through [`plan`] with `config`.
pub fn simulate(sim: &SimConfig, config: &CompactionConfig) -> Result<SimReport, SimError> {
    simulate_with(sim, |m: &Manifest| plan(m, config))
}

/// Replays `sim` through any planner (for comparing policies, or proving that a bad one fails
/// [`SimReport::check`]).
pub fn simulate_with<F>(sim: &SimConfig, mut planner: F) -> Result<SimReport, SimError>
where
    F: FnMut(&Manifest) -> Option<CompactionPlan>,
{
    let mut m = Manifest::new([0; 16]);
    let mut report = SimReport {
        flushes: 0,
        bytes_flushed: 0,
        bytes_compacted: 0,
        compactions: 0,
        max_sorted_runs: 0,
        final_sorted_runs: 0,
        largest_compaction: 0,
        max_steps_per_flush: 0,
        samples: Vec::new(),
    };
    let seqs_per_flush = 1000;
    for flush in 1..=sim.flushes {
        let chunk = ChunkMeta {
            id: ChunkId {
                epoch: 1,
                id: m.next_chunk_id,
            },
            size: sim.flush_bytes,
            meta_offset: 0,
            meta_len: 0,
            entries: seqs_per_flush,
            tombstones: 0,
            min_key: b"a".to_vec(),
            max_key: b"z".to_vec(),
            min_seq: (flush - 1) * seqs_per_flush + 1,
            max_seq: flush * seqs_per_flush,
        };
        let edit = ManifestEdit {
            add_l0: vec![chunk],
            ..ManifestEdit::default()
        };
        edit.apply(&mut m)
            .map_err(|source| SimError::Flush { flush, source })?;
        report.flushes = flush;
        report.bytes_flushed += sim.flush_bytes;
        let runs_after_flush = sorted_runs(&m);
        report.max_sorted_runs = report.max_sorted_runs.max(runs_after_flush);
        check_order(&m).map_err(|detail| SimError::Order {
            flush,
            after: "flush".into(),
            detail,
        })?;

        let mut steps = 0;
        while let Some(p) = planner(&m) {
            steps += 1;
            if steps > sim.max_steps_per_flush {
                return Err(SimError::Runaway { flush, steps });
            }
            let outputs = outputs_for(&m, &p);
            let written: u64 = outputs.iter().map(|c| c.size).sum();
            p.to_edit(outputs)
                .apply(&mut m)
                .map_err(|source| SimError::Edit {
                    flush,
                    plan: Box::new(p.clone()),
                    source,
                })?;
            report.bytes_compacted += written;
            report.compactions += 1;
            report.largest_compaction = report.largest_compaction.max(p.input_bytes);
            report.max_sorted_runs = report.max_sorted_runs.max(sorted_runs(&m));
            check_order(&m).map_err(|detail| SimError::Order {
                flush,
                after: p.reason.clone(),
                detail,
            })?;
        }
        report.max_steps_per_flush = report.max_steps_per_flush.max(steps);
        if sim.sample_every > 0 && flush % sim.sample_every == 0 {
            report.samples.push(Sample {
                flushes: flush,
                runs_after_flush,
                runs_settled: sorted_runs(&m),
                bytes_compacted: report.bytes_compacted,
            });
        }
    }
    report.final_sorted_runs = sorted_runs(&m);
    Ok(report)
}

/// Sorted runs in `m`, each level-0 chunk counting as one.
pub fn sorted_runs(m: &Manifest) -> usize {
    m.l0.len() + m.runs.len()
}

/// The output chunks of `p` on `m`: the inputs' bytes, entries and sequence range, cut at the
/// target size, with fresh ids and disjoint synthetic key ranges in key order.
fn outputs_for(m: &Manifest, p: &CompactionPlan) -> Vec<ChunkMeta> {
    let wanted: HashSet<ChunkId> = p.input_chunk_ids().collect();
    let inputs: Vec<&ChunkMeta> = m.all_chunks().filter(|c| wanted.contains(&c.id)).collect();
    let total: u64 = inputs.iter().map(|c| c.size).sum();
    let entries: u64 = inputs.iter().map(|c| c.entries).sum();
    let min_seq = inputs.iter().map(|c| c.min_seq).min().unwrap_or(0);
    let max_seq = inputs.iter().map(|c| c.max_seq).max().unwrap_or(0);
    let target = p.target_chunk_size.max(1);
    let count = total.div_ceil(target).max(1);
    (0..count)
        .map(|i| {
            let size = if i + 1 == count {
                total - target * (count - 1)
            } else {
                target
            };
            ChunkMeta {
                id: ChunkId {
                    epoch: 1,
                    id: m.next_chunk_id + i,
                },
                size,
                meta_offset: 0,
                meta_len: 0,
                entries: entries / count,
                tombstones: 0,
                min_key: (2 * i).to_be_bytes().to_vec(),
                max_key: (2 * i + 1).to_be_bytes().to_vec(),
                min_seq,
                max_seq,
            }
        })
        .collect()
}

/// Checks that every source in read order holds only sequence numbers above those of every
/// source behind it.
pub fn check_order(m: &Manifest) -> Result<(), String> {
    let ranges =
        m.l0.iter()
            .map(|c| (format!("level-0 chunk {}", c.id), c.min_seq, c.max_seq))
            .chain(m.runs.iter().map(|r| {
                let min = r.chunks.iter().map(|c| c.min_seq).min().unwrap_or(0);
                let max = r.chunks.iter().map(|c| c.max_seq).max().unwrap_or(0);
                (format!("run {}", r.id), min, max)
            }));
    let mut newer: Option<(String, u64, u64)> = None;
    for (name, min, max) in ranges {
        if let Some((newer_name, newer_min, _)) = &newer {
            if *newer_min <= max {
                return Err(format!(
                    "{newer_name} (seqs from {newer_min}) is read before {name} (seqs {min}..={max})"
                ));
            }
        }
        newer = Some((name, min, max));
    }
    Ok(())
}

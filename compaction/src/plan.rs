//! [`CompactionPlan`] and the planner entry points: [`plan`], [`plan_alongside`] and
//! [`plan_full`].

use std::ops::Range;

use firn_manifest::{ChunkId, ChunkMeta, Manifest, ManifestEdit, SortedRun};

use crate::config::CompactionConfig;
use crate::layout::{Layout, Source};
use crate::policy;

/// One compaction to run: which sources merge, where the output goes and how it is cut.
///
/// The inputs are always contiguous in recency order (the oldest level-0 chunks or all of
/// them; adjacent whole runs; runs only together with all of level 0, and then the newest
/// runs), so the edit from [`CompactionPlan::to_edit`] keeps newer data in front of older data
/// for every key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionPlan {
    /// Level-0 chunks merged, newest first (as in the manifest).
    pub inputs_l0: Vec<ChunkId>,
    /// Whole sorted runs merged (ids), newest first, adjacent in the manifest.
    pub input_runs: Vec<u64>,
    /// Every chunk of `input_runs`, run by run: the run chunks the edit removes.
    pub input_run_chunks: Vec<ChunkId>,
    /// Id of the run the outputs form (the manifest's `next_run_id`, or past the runs that
    /// running compactions will add).
    pub output_run_id: u64,
    /// Split the output into chunks of about this many bytes.
    pub target_chunk_size: u64,
    /// No data older than the inputs exists for any key (the inputs include the oldest run, or
    /// there are no runs older than them): tombstones at or below the oldest live snapshot may
    /// be dropped together with the versions they shadow.
    pub bottommost: bool,
    /// Why this compaction was chosen (for logs and `firn stats`).
    pub reason: String,
    /// Total bytes of the input chunks.
    pub input_bytes: u64,
    /// Total tombstones in the input chunks.
    pub input_tombstones: u64,
}

impl CompactionPlan {
    /// Every input chunk: level-0 chunks first, then the runs' chunks.
    pub fn input_chunk_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.inputs_l0
            .iter()
            .chain(self.input_run_chunks.iter())
            .copied()
    }

    /// Number of sorted runs merged, each level-0 chunk counting as one.
    pub fn source_count(&self) -> usize {
        self.inputs_l0.len() + self.input_runs.len()
    }

    /// The manifest edit that publishes this compaction: remove every input chunk and add one
    /// run `output_run_id` made of `outputs` (key order, non-overlapping). The run takes the
    /// place of the oldest input run, or goes in front of all runs when only level-0 chunks
    /// merged (see [`ManifestEdit::apply`]); empty `outputs` (everything was dropped) add no
    /// run. The edit can be re-applied to a newer manifest version after a lost publish race:
    /// flushes published meanwhile only add level-0 chunks, which stay in front.
    pub fn to_edit(&self, outputs: Vec<ChunkMeta>) -> ManifestEdit {
        ManifestEdit {
            remove: self.input_chunk_ids().collect(),
            add_runs: vec![SortedRun {
                id: self.output_run_id,
                chunks: outputs,
            }],
            ..ManifestEdit::default()
        }
    }

    /// Builds the plan merging window `w` of `layout`.
    fn from_window(
        layout: &Layout<'_>,
        w: Range<usize>,
        config: &CompactionConfig,
        reason: String,
    ) -> CompactionPlan {
        let mut plan = CompactionPlan {
            inputs_l0: Vec::new(),
            input_runs: Vec::new(),
            input_run_chunks: Vec::new(),
            output_run_id: layout.next_run_id,
            target_chunk_size: config.target_chunk_size.max(1),
            bottommost: layout.is_bottommost(&w),
            reason,
            input_bytes: layout.total(&w),
            input_tombstones: 0,
        };
        for source in &layout.sources[w] {
            plan.input_tombstones += source.tombstones();
            match source {
                Source::L0(chunk) => plan.inputs_l0.push(chunk.id),
                Source::Run(run) => {
                    plan.input_runs.push(run.id);
                    plan.input_run_chunks
                        .extend(run.chunks.iter().map(|c| c.id));
                }
            }
        }
        plan
    }
}

/// The next compaction for `manifest` under `config`, or `None` when nothing is to be gained
/// (or `config.auto_compaction` is off).
///
/// A pure, deterministic function of its arguments: the same manifest and configuration
/// always give the same plan. Call it again after publishing the plan's edit (a cascade of
/// merges settles in a few steps) and after each flush.
pub fn plan(manifest: &Manifest, config: &CompactionConfig) -> Option<CompactionPlan> {
    plan_alongside(manifest, config, &[])
}

/// Like [`plan`], for a compaction that runs at the same time as the compactions in `running`
/// (planned earlier and not yet published). The plan shares no input with them and keeps the
/// order of the sources whichever publishes first: while one of them merges level-0 chunks,
/// no other plan touches level 0. Its `output_run_id` is past theirs, and their merges count
/// as done for the `max_runs` bound. Plans in `running` whose inputs are gone from `manifest`
/// (already published) are ignored.
pub fn plan_alongside(
    manifest: &Manifest,
    config: &CompactionConfig,
    running: &[CompactionPlan],
) -> Option<CompactionPlan> {
    if !config.auto_compaction {
        return None;
    }
    let layout = Layout::new(manifest, running);
    let (w, reason) = policy::choose(&layout, config)?;
    debug_assert!(w.len() >= 2 && layout.is_allowed(&w), "policy chose {w:?}");
    if w.len() < 2 || !layout.is_allowed(&w) {
        return None;
    }
    Some(CompactionPlan::from_window(&layout, w, config, reason))
}

/// A full compaction: every level-0 chunk and every run into one bottommost run (for
/// `Db::compact` and `firn compact`). `None` when the database is empty, or already one run
/// without level-0 chunks and without tombstones; a single run that holds tombstones is still
/// planned, so they are dropped. Ignores `config.auto_compaction`. It takes every source, so
/// run it when no other compaction is running (wait for those first).
pub fn plan_full(manifest: &Manifest, config: &CompactionConfig) -> Option<CompactionPlan> {
    let layout = Layout::new(manifest, &[]);
    let single_clean_run = manifest.l0.is_empty()
        && manifest.runs.len() == 1
        && manifest
            .runs
            .iter()
            .all(|r| Source::Run(r).tombstones() == 0);
    if layout.len() == 0 || single_clean_run {
        return None;
    }
    let reason = format!(
        "full compaction: {} level-0 chunks and {} runs into one run",
        manifest.l0.len(),
        manifest.runs.len()
    );
    let w = 0..layout.len();
    Some(CompactionPlan::from_window(&layout, w, config, reason))
}

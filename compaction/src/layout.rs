//! [`Layout`]: the manifest seen as one list of sources in read order, and the rules for which
//! windows of it may be merged.

use std::collections::HashSet;
use std::ops::Range;

use firn_manifest::{ChunkId, ChunkMeta, Manifest, SortedRun};

use crate::plan::CompactionPlan;

/// One source a read consults: a level-0 chunk or a whole sorted run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    /// A level-0 chunk.
    L0(&'a ChunkMeta),
    /// A sorted run.
    Run(&'a SortedRun),
}

impl Source<'_> {
    /// Bytes in the source.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Source::L0(c) => c.size,
            Source::Run(r) => r.chunks.iter().map(|c| c.size).sum(),
        }
    }

    /// Tombstones in the source.
    pub(crate) fn tombstones(&self) -> u64 {
        match self {
            Source::L0(c) => c.tombstones,
            Source::Run(r) => r.chunks.iter().map(|c| c.tombstones).sum(),
        }
    }
}

/// The manifest as a list of sources in read order (newest data first): level-0 chunks newest
/// first, then runs newest first. A compaction merges a *window* (a range of indices) of it.
///
/// A window is legal when its output, put where [`firn_manifest::ManifestEdit::apply`] puts
/// it, keeps every source newer than everything behind it:
///
/// - level-0 chunks only: it must end at the oldest chunk (the oldest `k`, or all of them): the
///   output run goes in front of all runs, behind the newer level-0 chunks that remain;
/// - level-0 chunks and runs: it must hold all level-0 chunks (so the runs are the newest);
/// - runs only: any adjacent runs; the output takes the oldest one's place.
pub(crate) struct Layout<'a> {
    /// The sources in read order.
    pub(crate) sources: Vec<Source<'a>>,
    /// Bytes of each source.
    sizes: Vec<u64>,
    /// How many of `sources` are level-0 chunks (they come first).
    pub(crate) n_l0: usize,
    /// Sources that belong to a compaction already running.
    busy: Vec<bool>,
    /// A running compaction takes level-0 chunks: no other may touch level 0 until it is done,
    /// or two outputs could land in the wrong order.
    l0_locked: bool,
    /// How many sources the running compactions will remove (inputs minus one output each).
    pending_reduction: usize,
    /// Lowest run id free for a new output (past the manifest's and the running plans').
    pub(crate) next_run_id: u64,
}

impl<'a> Layout<'a> {
    /// The layout of `manifest` with the inputs of `running` compactions marked busy. Plans in
    /// `running` whose inputs are no longer all in the manifest are ignored (already applied).
    pub(crate) fn new(manifest: &'a Manifest, running: &[CompactionPlan]) -> Layout<'a> {
        let sources: Vec<Source<'a>> = manifest
            .l0
            .iter()
            .map(Source::L0)
            .chain(manifest.runs.iter().map(Source::Run))
            .collect();
        let present: HashSet<ChunkId> = manifest.all_chunks().map(|c| c.id).collect();
        let mut busy_chunks = HashSet::new();
        let mut busy_runs = HashSet::new();
        let mut l0_locked = false;
        let mut pending_reduction = 0;
        let mut next_run_id = manifest.next_run_id;
        for p in running {
            if !p.input_chunk_ids().all(|id| present.contains(&id)) {
                continue;
            }
            busy_chunks.extend(p.inputs_l0.iter().copied());
            busy_runs.extend(p.input_runs.iter().copied());
            l0_locked |= !p.inputs_l0.is_empty();
            pending_reduction += (p.inputs_l0.len() + p.input_runs.len()).saturating_sub(1);
            next_run_id = next_run_id.max(p.output_run_id.saturating_add(1));
        }
        let busy = sources
            .iter()
            .map(|s| match s {
                Source::L0(c) => busy_chunks.contains(&c.id),
                Source::Run(r) => busy_runs.contains(&r.id),
            })
            .collect();
        Layout {
            n_l0: manifest.l0.len(),
            sizes: sources.iter().map(Source::size).collect(),
            sources,
            busy,
            l0_locked,
            pending_reduction,
            next_run_id,
        }
    }

    /// Number of sources.
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// Size of source `i` in bytes.
    pub(crate) fn size(&self, i: usize) -> u64 {
        self.sizes[i]
    }

    /// Total bytes of a window.
    pub(crate) fn total(&self, w: &Range<usize>) -> u64 {
        self.sizes[w.clone()].iter().sum()
    }

    /// Whether source `i` is an input of a running compaction.
    pub(crate) fn is_busy(&self, i: usize) -> bool {
        self.busy[i]
    }

    /// The number of sorted runs once the running compactions are done.
    pub(crate) fn effective_count(&self) -> usize {
        self.len().saturating_sub(self.pending_reduction)
    }

    /// Whether merging window `w` keeps newer data in front of older data (see the type's
    /// documentation).
    pub(crate) fn is_legal(&self, w: &Range<usize>) -> bool {
        if w.start >= w.end || w.end > self.len() {
            return false;
        }
        if w.start < self.n_l0 {
            // Touches level 0: the oldest k chunks, or all of them plus the newest runs.
            w.end == self.n_l0 || (w.end > self.n_l0 && w.start == 0)
        } else {
            true
        }
    }

    /// Whether window `w` is legal and free of running compactions' inputs.
    pub(crate) fn is_allowed(&self, w: &Range<usize>) -> bool {
        self.is_legal(w)
            && !self.busy[w.clone()].iter().any(|&b| b)
            && !(self.l0_locked && w.start < self.n_l0)
    }

    /// Whether level 0 is free for a new compaction.
    pub(crate) fn l0_free(&self) -> bool {
        !self.l0_locked && !self.busy[..self.n_l0].iter().any(|&b| b)
    }

    /// Whether the window includes the oldest source: nothing older lies below it.
    pub(crate) fn is_bottommost(&self, w: &Range<usize>) -> bool {
        w.end == self.len()
    }
}

/// Whether two sizes belong to one tier: the larger is at most `√ratio` times the smaller
/// (the geometric midpoint between tiers `ratio` apart). Exact integer arithmetic.
pub(crate) fn similar(a: u64, b: u64, ratio: u64) -> bool {
    let (lo, hi) = (u128::from(a.min(b)), u128::from(a.max(b)));
    // `hi²` fits in a u128; if `lo² × ratio` does not, it is larger.
    (lo * lo)
        .checked_mul(u128::from(ratio))
        .is_none_or(|bound| hi * hi <= bound)
}

/// Converts a fanout to a count of sources, saturating.
pub(crate) fn as_count(ratio: u64) -> usize {
    usize::try_from(ratio).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_the_geometric_midpoint() {
        assert!(similar(4, 4, 4));
        assert!(similar(4, 8, 4));
        assert!(similar(8, 4, 4));
        assert!(!similar(4, 9, 4));
        assert!(!similar(4, 16, 4));
        assert!(similar(0, 0, 4));
        assert!(!similar(0, 1, 4));
        assert!(similar(u64::MAX, u64::MAX, u64::MAX));
    }
}

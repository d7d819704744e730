//! [`ManifestEdit`]: a change to the manifest described as data, so it can be re-applied to a
//! newer version after losing a publish race.

use std::collections::HashSet;

use super::model::{ChunkId, ChunkMeta, Manifest, SortedRun, Totals};
use crate::error::ManifestError;

/// A change to a manifest, described as data so that it can be re-applied to a newer version
/// after a lost publish race (see [`crate::manifest::ManifestStore::publish`]).
///
/// [`ManifestEdit::apply`] performs, in this order:
///
/// 1. `remove`: every listed chunk must be present (in level 0 or a run), else
///    [`ManifestError::Conflict`]; runs left without chunks disappear;
/// 2. `add_l0`: given oldest first, each is put in front, so level 0 stays newest first;
/// 3. `add_runs`: given newest first, they take the place of the oldest run the edit removed
///    chunks from (in front of what is left of it), or go in front of all runs when the edit
///    removes no run chunks; runs without chunks are skipped;
/// 4. `release_sources`: the listed sources (by database id) leave [`Manifest::sources`];
///    `history_retention_ms` sets the retention window;
/// 5. `new_epoch` sets the epoch; `writer_clean` sets [`Manifest::writer_clean`];
///    `wal_watermark` and `next_chunk_id` only ever grow
///    (`max(current, given)`); `next_chunk_id` and `next_run_id` are also raised past every
///    added chunk and run.
///
/// Adding a chunk that is already present (after the removals), or a run whose id is in use,
/// is a conflict too: it means the edit was applied already. On error the manifest is unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManifestEdit {
    /// Set the writer epoch (claiming the database as writer).
    pub new_epoch: Option<u64>,
    /// Level-0 chunks to add, oldest first.
    pub add_l0: Vec<ChunkMeta>,
    /// Chunks to remove; all must be present.
    pub remove: Vec<ChunkId>,
    /// Sorted runs to add, newest first.
    pub add_runs: Vec<SortedRun>,
    /// Raise the WAL watermark to at least this.
    pub wal_watermark: Option<u64>,
    /// Raise the next chunk number to at least this.
    pub next_chunk_id: Option<u64>,
    /// Add these to the manifest's running totals.
    pub add_totals: Totals,
    /// Mark the writer as closed cleanly ([`Manifest::writer_clean`]): every write it
    /// acknowledged is at or below the watermark. Only a closing writer that has flushed
    /// everything and accepts no more writes may set it.
    pub writer_clean: bool,
    /// Raise the fence record of the local directory with this id
    /// ([`Manifest::fenced`]) to at least this watermark: a writer that took
    /// over found that directory's writes through it in the shipped WAL, so
    /// they reached the bucket. No record, no change.
    pub raise_fence: Option<([u8; 16], u64)>,
    /// Raise [`Manifest::wal_objects_from`] to at least this (shipped WAL objects below it
    /// hold only writes at or below the watermark this edit leaves).
    pub wal_objects_from: Option<u64>,
    /// Remove the sources with these database ids from [`Manifest::sources`]: no chunk of
    /// theirs is referenced any more (a clone releasing its pins). Absent ones are ignored.
    pub release_sources: Vec<[u8; 16]>,
    /// Set [`Manifest::history_retention_ms`] (the retention window for point-in-time
    /// restore; 0 turns it off).
    pub history_retention_ms: Option<u64>,
}

impl ManifestEdit {
    /// Applies the edit to `m` (see the type's documentation for the rules). Only the contents
    /// change: `version`, `nonce` and `published_at_ms` are set by the publisher.
    pub fn apply(&self, m: &mut Manifest) -> Result<(), ManifestError> {
        let mut next = m.clone();
        let slot = remove_chunks(&mut next, &self.remove)?;
        check_additions(&next, self)?;

        for chunk in &self.add_l0 {
            next.l0.insert(0, chunk.clone());
        }
        let new_runs = self
            .add_runs
            .iter()
            .filter(|r| !r.chunks.is_empty())
            .cloned();
        next.runs.splice(slot..slot, new_runs);

        next.sources
            .retain(|s| !self.release_sources.contains(&s.db_id));
        if let Some(ms) = self.history_retention_ms {
            next.history_retention_ms = ms;
        }
        if let Some(epoch) = self.new_epoch {
            next.epoch = epoch;
        }
        if let Some(w) = self.wal_watermark {
            next.wal_watermark = next.wal_watermark.max(w);
        }
        if let Some(from) = self.wal_objects_from {
            next.wal_objects_from = next.wal_objects_from.max(from);
        }
        if let Some((writer_id, w)) = self.raise_fence {
            for record in next.fenced.iter_mut().filter(|f| f.writer_id == writer_id) {
                record.wal_watermark = record.wal_watermark.max(w);
            }
        }
        if let Some(n) = self.next_chunk_id {
            next.next_chunk_id = next.next_chunk_id.max(n);
        }
        next.totals.add(&self.add_totals);
        if self.writer_clean {
            next.writer_clean = true;
        }
        let added_chunks = self
            .add_l0
            .iter()
            .chain(self.add_runs.iter().flat_map(|r| r.chunks.iter()));
        for chunk in added_chunks {
            next.next_chunk_id = next.next_chunk_id.max(chunk.id.id.saturating_add(1));
        }
        for run in &self.add_runs {
            next.next_run_id = next.next_run_id.max(run.id.saturating_add(1));
        }
        *m = next;
        Ok(())
    }
}

/// Removes `ids` from `m`, drops emptied runs, and returns the index in the remaining runs where
/// added runs go: the position of the oldest run that lost chunks, or 0.
fn remove_chunks(m: &mut Manifest, ids: &[ChunkId]) -> Result<usize, ManifestError> {
    let mut oldest_touched: Option<usize> = None;
    for id in ids {
        if let Some(pos) = m.l0.iter().position(|c| c.id == *id) {
            m.l0.remove(pos);
            continue;
        }
        let found = m.runs.iter().enumerate().find_map(|(ri, run)| {
            run.chunks
                .iter()
                .position(|c| c.id == *id)
                .map(|ci| (ri, ci))
        });
        let Some((ri, ci)) = found else {
            return Err(ManifestError::Conflict {
                detail: format!(
                    "chunk {id} is not in manifest version {} (a concurrent change removed it)",
                    m.version
                ),
            });
        };
        if let Some(run) = m.runs.get_mut(ri) {
            run.chunks.remove(ci);
        }
        oldest_touched = Some(oldest_touched.map_or(ri, |o| o.max(ri)));
    }
    let slot = match oldest_touched {
        // Runs before the touched one that survive keep their order in front of the new runs.
        Some(t) => m
            .runs
            .iter()
            .take(t)
            .filter(|r| !r.chunks.is_empty())
            .count(),
        None => 0,
    };
    m.runs.retain(|r| !r.chunks.is_empty());
    Ok(slot)
}

/// Rejects additions of chunks or runs that are already present (or repeated in the edit).
fn check_additions(m: &Manifest, edit: &ManifestEdit) -> Result<(), ManifestError> {
    let mut chunk_ids: HashSet<ChunkId> = m.all_chunks().map(|c| c.id).collect();
    let added = edit
        .add_l0
        .iter()
        .chain(edit.add_runs.iter().flat_map(|r| r.chunks.iter()));
    for chunk in added {
        if !chunk_ids.insert(chunk.id) {
            return Err(ManifestError::Conflict {
                detail: format!(
                    "chunk {} is already in manifest version {} (edit applied twice?)",
                    chunk.id, m.version
                ),
            });
        }
    }
    let mut run_ids: HashSet<u64> = m.runs.iter().map(|r| r.id).collect();
    for run in edit.add_runs.iter().filter(|r| !r.chunks.is_empty()) {
        if !run_ids.insert(run.id) {
            return Err(ManifestError::Conflict {
                detail: format!(
                    "sorted run {} is already in manifest version {}",
                    run.id, m.version
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: u64, max_seq: u64) -> ChunkMeta {
        ChunkMeta {
            id: ChunkId { epoch: 1, id },
            size: 100,
            meta_offset: 80,
            meta_len: 20,
            entries: 1,
            tombstones: 0,
            min_key: b"a".to_vec(),
            max_key: b"z".to_vec(),
            min_seq: max_seq,
            max_seq,
        }
    }

    fn run(id: u64, chunks: &[u64]) -> SortedRun {
        SortedRun {
            id,
            chunks: chunks.iter().map(|&c| chunk(c, c)).collect(),
        }
    }

    fn ids(chunks: &[ChunkMeta]) -> Vec<u64> {
        chunks.iter().map(|c| c.id.id).collect()
    }

    fn run_ids(m: &Manifest) -> Vec<u64> {
        m.runs.iter().map(|r| r.id).collect()
    }

    #[test]
    fn l0_stays_newest_first_and_counters_grow() -> Result<(), ManifestError> {
        let mut m = Manifest::new([1; 16]);
        let edit = ManifestEdit {
            add_l0: vec![chunk(1, 10), chunk(2, 20)],
            wal_watermark: Some(20),
            ..Default::default()
        };
        edit.apply(&mut m)?;
        ManifestEdit {
            add_l0: vec![chunk(3, 30)],
            wal_watermark: Some(5),
            next_chunk_id: Some(2),
            new_epoch: Some(4),
            ..Default::default()
        }
        .apply(&mut m)?;
        assert_eq!(ids(&m.l0), vec![3, 2, 1]);
        assert_eq!(m.wal_watermark, 20);
        assert_eq!(m.next_chunk_id, 4);
        assert_eq!(m.epoch, 4);
        Ok(())
    }

    #[test]
    fn remove_missing_is_conflict_and_leaves_manifest_unchanged() -> Result<(), ManifestError> {
        let mut m = Manifest::new([1; 16]);
        ManifestEdit {
            add_l0: vec![chunk(1, 1)],
            ..Default::default()
        }
        .apply(&mut m)?;
        let before = m.clone();
        let edit = ManifestEdit {
            remove: vec![ChunkId { epoch: 1, id: 1 }, ChunkId { epoch: 1, id: 9 }],
            add_l0: vec![chunk(5, 5)],
            ..Default::default()
        };
        assert!(matches!(
            edit.apply(&mut m),
            Err(ManifestError::Conflict { .. })
        ));
        assert_eq!(m, before);
        Ok(())
    }

    #[test]
    fn double_apply_is_conflict() -> Result<(), ManifestError> {
        let mut m = Manifest::new([1; 16]);
        let edit = ManifestEdit {
            add_l0: vec![chunk(1, 1)],
            ..Default::default()
        };
        edit.apply(&mut m)?;
        assert!(matches!(
            edit.apply(&mut m),
            Err(ManifestError::Conflict { .. })
        ));
        Ok(())
    }

    #[test]
    fn runs_take_the_slot_of_the_oldest_touched_run() -> Result<(), ManifestError> {
        let mut m = Manifest::new([1; 16]);
        m.runs = vec![
            run(1, &[10, 11]),
            run(2, &[20]),
            run(3, &[30]),
            run(4, &[40]),
        ];
        m.l0 = vec![chunk(5, 50)];

        // Merge runs 2 and 3 into run 7: it sits between run 1 and run 4.
        let mut merged = m.clone();
        ManifestEdit {
            remove: vec![ChunkId { epoch: 1, id: 20 }, ChunkId { epoch: 1, id: 30 }],
            add_runs: vec![run(7, &[70])],
            ..Default::default()
        }
        .apply(&mut merged)?;
        assert_eq!(run_ids(&merged), vec![1, 7, 4]);
        assert_eq!(merged.next_run_id, 8);

        // Move one chunk of run 1 down into run 2: the new run 2' goes where run 2 was,
        // behind what is left of run 1.
        let mut moved = m.clone();
        ManifestEdit {
            remove: vec![ChunkId { epoch: 1, id: 11 }, ChunkId { epoch: 1, id: 20 }],
            add_runs: vec![run(8, &[80])],
            ..Default::default()
        }
        .apply(&mut moved)?;
        assert_eq!(run_ids(&moved), vec![1, 8, 3, 4]);

        // Level 0 into a new run: in front of every run.
        let mut flushed = m.clone();
        ManifestEdit {
            remove: vec![ChunkId { epoch: 1, id: 5 }],
            add_runs: vec![run(9, &[90])],
            ..Default::default()
        }
        .apply(&mut flushed)?;
        assert!(flushed.l0.is_empty());
        assert_eq!(run_ids(&flushed), vec![9, 1, 2, 3, 4]);

        // A run id already in use is a conflict.
        let mut dup = m.clone();
        let err = ManifestEdit {
            add_runs: vec![run(4, &[99])],
            ..Default::default()
        }
        .apply(&mut dup);
        assert!(matches!(err, Err(ManifestError::Conflict { .. })));
        Ok(())
    }
}

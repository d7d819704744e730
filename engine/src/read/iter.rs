//! Scans: sources (memtables, chunks) → merge → visibility filter, forward
//! or backward.
//!
//! Forward, every layer yields internal entries in internal order (user key
//! ascending, newest first); the filter keeps, per user key, the first
//! version at or below the snapshot. Backward, every layer yields the
//! reverse (user key descending, oldest first); the filter keeps, per user
//! key, the last version at or below the snapshot. Either way tombstones
//! hide what is below them and are not returned, and so do range deletes:
//! a version is returned only when no range delete at or below the
//! snapshot, in any layer, covers it with a newer seq.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::Kind;

use crate::error::Result;
use crate::read::merge::{InternalEntry, MergeIter, Source};
use crate::read::record::{ReadClock, Record};
use crate::read::reverse::{ChunkBackSource, MemBackSource};
use crate::read::sources::{ChunkSource, MemSource};
use crate::read::table::{ChunkStore, ChunkTable};
use crate::read::view::{Layer, ReadState};

/// A range scan at a snapshot: yields `(key, value)` pairs in key order, or
/// in reverse key order after [`rev`](DbIterator::rev).
///
/// The iterator pins the memtables and chunks that were current when it was
/// created, so flushes do not disturb it. Errors (a failed GET, a bad
/// checksum) are returned from [`next`](DbIterator::next) and end the scan.
pub struct DbIterator {
    merge: MergeIter,
    snapshot: u64,
    start: Bound<Bytes>,
    end: Bound<Bytes>,
    backward: bool,
    /// Where the sources start after a [`seek`](DbIterator::seek): the
    /// lowest key visited (forward) or the highest (backward).
    position: Option<Bytes>,
    /// Forward: the user key last decided. Backward: the user key being
    /// decided and its newest visible version so far.
    last_key: Option<Bytes>,
    candidate: Option<InternalEntry>,
    done: bool,
    /// Expiry is judged against one time for the whole scan.
    clock: ReadClock,
    /// True when no source of the scan has range deletes (known without a
    /// request): a returned version then needs no range check.
    no_ranges: bool,
    state: Arc<ReadState>,
    store: Arc<ChunkStore>,
    _snapshot: Option<crate::read::snapshot::SnapshotPin>,
}

impl DbIterator {
    pub(crate) fn new(
        state: Arc<ReadState>,
        store: Arc<ChunkStore>,
        snapshot: u64,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        pin: Option<crate::read::snapshot::SnapshotPin>,
    ) -> DbIterator {
        let mut it = DbIterator {
            merge: MergeIter::new(Vec::new()),
            snapshot,
            start,
            end,
            backward: false,
            position: None,
            last_key: None,
            candidate: None,
            done: false,
            clock: ReadClock::new(),
            no_ranges: false,
            state,
            store,
            _snapshot: pin,
        };
        it.restart();
        it
    }

    /// The same range visited backwards, from its end to its start (the
    /// scan restarts: call it before the first [`next`](DbIterator::next)).
    /// Calling it again turns the scan forward again.
    pub fn rev(mut self) -> DbIterator {
        self.backward = !self.backward;
        self.position = None;
        self.restart();
        self
    }

    /// Whether the scan runs backwards.
    pub fn is_reverse(&self) -> bool {
        self.backward
    }

    /// Moves the scan to `key`: the next [`next`](DbIterator::next) returns
    /// the first key at or after `key` (backwards: at or before it), within
    /// the scan's range. Seeking is allowed at any point, in either
    /// direction; the snapshot stays the same.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.position = Some(Bytes::copy_from_slice(key.as_ref()));
        self.restart();
    }

    /// Builds the sources afresh from the pinned state, from `position`.
    fn restart(&mut self) {
        self.last_key = None;
        self.candidate = None;
        self.done = false;
        // The keys the sources must cover: [low, high], both inclusive
        // (bounds are applied exactly by the filter).
        let mut low: Bytes = match &self.start {
            Bound::Included(k) | Bound::Excluded(k) => k.clone(),
            Bound::Unbounded => Bytes::new(),
        };
        let mut high: Option<Bytes> = match &self.end {
            Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
            Bound::Unbounded => None,
        };
        if let Some(p) = &self.position {
            if self.backward {
                if high.as_ref().is_none_or(|h| p < h) {
                    high = Some(p.clone());
                }
            } else if *p > low {
                low = p.clone();
            }
        }
        let in_range = |t: &ChunkTable| {
            t.meta.max_key.as_slice() >= low.as_ref()
                && high
                    .as_ref()
                    .is_none_or(|h| t.meta.min_key.as_slice() <= h.as_ref())
        };
        let mut sources = Vec::new();
        let mut lists: Vec<Vec<Arc<ChunkTable>>> = Vec::new();
        for layer in self.state.layers() {
            match layer {
                Layer::Mem(mem) if mem.is_empty() => {}
                Layer::Mem(mem) => sources.push(if self.backward {
                    Source::MemBack(MemBackSource::new(mem.clone(), high.as_deref()))
                } else {
                    Source::Mem(MemSource::new(mem.clone(), &low))
                }),
                Layer::L0(t) => {
                    if in_range(t) {
                        lists.push(vec![t.clone()]);
                    }
                }
                Layer::Run(run) => {
                    let tables: Vec<_> = run.iter().filter(|t| in_range(t)).cloned().collect();
                    if !tables.is_empty() {
                        lists.push(tables);
                    }
                }
            }
        }
        // Range deletes are checked key by key unless every source is known
        // to have none (memtables, and chunks whose index is loaded).
        self.no_ranges = self
            .state
            .memtables()
            .all(|m| m.range_tombstones().is_none())
            && lists.iter().flatten().all(|t| {
                t.index
                    .get()
                    .is_some_and(|i| i.properties().range_tombstones.is_empty())
            });
        // The scan's read-ahead budget is shared by its chunk lists, so a
        // scan over many L0 chunks holds no more than one over a single run.
        let readahead = self.store.scan_readahead / lists.len().max(1) as u64;
        for tables in lists {
            let store = self.store.clone();
            sources.push(if self.backward {
                Source::ChunksBack(ChunkBackSource::new(
                    store,
                    tables,
                    high.as_deref(),
                    readahead,
                ))
            } else {
                Source::Chunks(ChunkSource::new(store, tables, &low).with_scan_readahead(readahead))
            });
        }
        self.merge = MergeIter::with_direction(sources, self.backward);
    }

    /// The next `(key, value)` in the scan's order, or `None` at the end of
    /// the range.
    pub async fn next(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        Ok(self.next_entry().await?.map(|e| (e.key, e.value)))
    }

    /// [`next`](DbIterator::next) with each value's seq, write time and
    /// expiry.
    pub async fn next_with_meta(&mut self) -> Result<Option<(Bytes, Record)>> {
        Ok(self
            .next_entry()
            .await?
            .map(|e| (e.key, Record::new(e.value, e.seq, e.meta))))
    }

    /// The next live value's entry.
    async fn next_entry(&mut self) -> Result<Option<InternalEntry>> {
        if self.backward {
            return self.next_backward().await;
        }
        while !self.done {
            let Some(e) = self.merge.next().await? else {
                self.done = true;
                break;
            };
            if e.seq > self.snapshot || self.last_key.as_ref() == Some(&e.key) {
                continue;
            }
            if self.past_end(&e.key) {
                self.done = true;
                break;
            }
            self.last_key = Some(e.key.clone());
            if self.before_start(&e.key) {
                continue;
            }
            if e.kind == Kind::Put && !self.clock.expired(&e.meta) && !self.covered(&e).await? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// True when a range delete at or below the snapshot, in any layer,
    /// covers `e` (a newer delete of its key).
    async fn covered(&self, e: &InternalEntry) -> Result<bool> {
        if self.no_ranges {
            return Ok(false);
        }
        let key = e.key.as_ref();
        let mut cover = None;
        for mem in self.state.memtables() {
            cover = cover.max(mem.range_cover(key, self.snapshot));
        }
        for table in self.state.chunk_candidates(key) {
            cover = cover.max(self.store.range_cover(table, key, self.snapshot).await?);
        }
        Ok(cover.is_some_and(|c| e.seq < c))
    }

    /// Backward: entries come key descending, each key's versions oldest
    /// first, so a key is decided when the next key (or the end) arrives.
    async fn next_backward(&mut self) -> Result<Option<InternalEntry>> {
        while !self.done {
            let next = match self.merge.next().await? {
                Some(e) if !self.before_start(&e.key) => Some(e),
                // Below the range: nothing after it is in it.
                _ => None,
            };
            let same_key = matches!(
                (&next, &self.last_key),
                (Some(e), Some(k)) if e.key == *k
            );
            let decided = if same_key {
                None
            } else {
                self.last_key = next.as_ref().map(|e| e.key.clone());
                self.candidate.take()
            };
            match next {
                Some(e) if e.seq <= self.snapshot && !self.past_end(&e.key) => {
                    self.candidate = Some(e);
                }
                Some(_) => {}
                None => self.done = true,
            }
            if let Some(e) = decided {
                if e.kind == Kind::Put && !self.clock.expired(&e.meta) && !self.covered(&e).await? {
                    return Ok(Some(e));
                }
            }
        }
        Ok(None)
    }

    fn past_end(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Included(end) => key > end.as_ref(),
            Bound::Excluded(end) => key >= end.as_ref(),
            Bound::Unbounded => false,
        }
    }

    fn before_start(&self, key: &[u8]) -> bool {
        match &self.start {
            Bound::Included(start) => key < start.as_ref(),
            Bound::Excluded(start) => key <= start.as_ref(),
            Bound::Unbounded => false,
        }
    }

    /// Collects the rest of the scan (convenience for small ranges).
    pub async fn collect_all(mut self) -> Result<Vec<(Bytes, Bytes)>> {
        let mut out = Vec::new();
        while let Some(kv) = self.next().await? {
            out.push(kv);
        }
        Ok(out)
    }
}

/// The smallest key greater than every key starting with `prefix`
/// (None when there is none: the prefix is all 0xFF bytes).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}

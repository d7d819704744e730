//! The k-way merge of a scan's or a compaction's sources, in either
//! direction.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use bytes::Bytes;
use firn_chunk::{EntryMeta, Kind};

use crate::error::Result;
use crate::memtable::{MemEntry, MemValue};
use crate::read::reverse::{ChunkBackSource, MemBackSource};
use crate::read::sources::{ChunkSource, MemSource};

/// An entry as the internal layers pass it on.
#[derive(Clone, Debug)]
pub(crate) struct InternalEntry {
    pub key: Bytes,
    pub seq: u64,
    pub kind: Kind,
    pub value: Bytes,
    /// A put's write time and expiry (zeros: none stored).
    pub meta: EntryMeta,
}

impl InternalEntry {
    pub(crate) fn from_mem(e: MemEntry) -> InternalEntry {
        let (kind, value, meta) = match e.value {
            MemValue::Put(v, meta) => (Kind::Put, v, meta),
            MemValue::Delete => (Kind::Delete, Bytes::new(), EntryMeta::default()),
        };
        InternalEntry {
            key: e.key,
            seq: e.seq,
            kind,
            value,
            meta,
        }
    }
}

/// One ordered stream of internal entries: forward sources in internal
/// order (key ascending, newest first), backward ones in its reverse (key
/// descending, oldest first).
pub(crate) enum Source {
    Mem(MemSource),
    Chunks(ChunkSource),
    MemBack(MemBackSource),
    ChunksBack(ChunkBackSource),
}

impl Source {
    async fn next(&mut self) -> Result<Option<InternalEntry>> {
        match self {
            Source::Mem(s) => Ok(s.next()),
            Source::Chunks(s) => s.next().await,
            Source::MemBack(s) => Ok(s.next()),
            Source::ChunksBack(s) => s.next().await,
        }
    }
}

struct Head {
    entry: InternalEntry,
    source: usize,
    backward: bool,
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    /// Forward: reversed internal order, so the max-heap pops the smallest
    /// entry. Backward: internal order, so it pops the largest. Equal
    /// entries pop the lower source (the newer layer) first.
    fn cmp(&self, other: &Head) -> Ordering {
        let internal = self
            .entry
            .key
            .cmp(&other.entry.key)
            .then_with(|| other.entry.seq.cmp(&self.entry.seq));
        let by_entry = if self.backward {
            internal
        } else {
            internal.reverse()
        };
        by_entry.then_with(|| other.source.cmp(&self.source))
    }
}

/// k-way merge of sources that all run in one direction.
pub(crate) struct MergeIter {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
    primed: bool,
    backward: bool,
}

impl MergeIter {
    /// Merges forward sources in internal order.
    pub(crate) fn new(sources: Vec<Source>) -> MergeIter {
        MergeIter::with_direction(sources, false)
    }

    /// Merges sources that run `backward` (or forward).
    pub(crate) fn with_direction(sources: Vec<Source>, backward: bool) -> MergeIter {
        MergeIter {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            primed: false,
            backward,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<InternalEntry>> {
        let backward = self.backward;
        if !self.primed {
            self.primed = true;
            // Every source's first read at once: a cold scan over several
            // chunks waits for one round trip, not one per chunk.
            let firsts = futures::future::join_all(self.sources.iter_mut().map(Source::next)).await;
            for (i, first) in firsts.into_iter().enumerate() {
                if let Some(entry) = first? {
                    self.heap.push(Head {
                        entry,
                        source: i,
                        backward,
                    });
                }
            }
        }
        let Some(head) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(entry) = self.sources[head.source].next().await? {
            self.heap.push(Head {
                entry,
                source: head.source,
                backward,
            });
        }
        Ok(Some(head.entry))
    }
}

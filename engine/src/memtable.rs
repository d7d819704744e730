//! The in-memory write buffer: a lock-free skiplist of internal keys.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::write::batch::{BatchOp, WriteBatch};

/// Skiplist key: user key ascending, then sequence number descending (newest
/// first), the same order as the chunk format's internal keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemKey {
    pub key: Bytes,
    pub seq: u64,
}

impl Ord for MemKey {
    fn cmp(&self, other: &MemKey) -> Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &MemKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A stored version: a value or a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MemValue {
    Put(Bytes),
    Delete,
}

/// Per-entry bookkeeping charged on top of key and value bytes.
const ENTRY_OVERHEAD: usize = 64;

/// One memtable. Inserts come only from the commit path (in seq order);
/// reads are concurrent and filter by sequence number.
pub(crate) struct Memtable {
    /// Position in freeze order (also the memtable's WAL segment number).
    pub id: u64,
    map: SkipMap<MemKey, MemValue>,
    bytes: AtomicUsize,
    min_seq: AtomicU64,
    max_seq: AtomicU64,
}

/// An entry copied out of a memtable.
#[derive(Clone, Debug)]
pub(crate) struct MemEntry {
    pub key: Bytes,
    pub seq: u64,
    pub value: MemValue,
}

impl Memtable {
    /// Inserts a batch numbered from `seq`; returns the next free seq.
    pub(crate) fn apply(&self, batch: &WriteBatch, mut seq: u64) -> u64 {
        if batch.is_ingest_marker() {
            // A bulk ingest's place in the log: its data is in chunks.
            return seq + 1;
        }
        for op in batch.ops() {
            match op {
                BatchOp::Put { key, value } => {
                    self.insert(key.clone(), seq, MemValue::Put(value.clone()))
                }
                BatchOp::Delete { key } => self.insert(key.clone(), seq, MemValue::Delete),
            }
            seq += 1;
        }
        seq
    }

    pub(crate) fn new(id: u64) -> Memtable {
        Memtable {
            id,
            map: SkipMap::new(),
            bytes: AtomicUsize::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            max_seq: AtomicU64::new(0),
        }
    }

    pub(crate) fn insert(&self, key: Bytes, seq: u64, value: MemValue) {
        let size = key.len()
            + ENTRY_OVERHEAD
            + match &value {
                MemValue::Put(v) => v.len(),
                MemValue::Delete => 0,
            };
        self.map.insert(MemKey { key, seq }, value);
        self.bytes.fetch_add(size, AtomicOrdering::Relaxed);
        self.min_seq.fetch_min(seq, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// Approximate memory held, in bytes.
    pub(crate) fn size(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Lowest and highest sequence number held (None when empty).
    pub(crate) fn seq_range(&self) -> Option<(u64, u64)> {
        if self.map.is_empty() {
            return None;
        }
        Some((
            self.min_seq.load(AtomicOrdering::Relaxed),
            self.max_seq.load(AtomicOrdering::Relaxed),
        ))
    }

    /// Newest version of `key` with seq <= `max_seq`.
    pub(crate) fn get(&self, key: &[u8], max_seq: u64) -> Option<(u64, MemValue)> {
        let probe = MemKey {
            key: Bytes::copy_from_slice(key),
            seq: max_seq,
        };
        let entry = self.map.lower_bound(Bound::Included(&probe))?;
        if entry.key().key.as_ref() != key {
            return None;
        }
        Some((entry.key().seq, entry.value().clone()))
    }

    /// Up to `limit` entries at or after `from` (or after it, when
    /// `exclusive`), in internal order. Used by iterators to refill.
    pub(crate) fn read_from(
        &self,
        from: &MemKey,
        exclusive: bool,
        limit: usize,
        out: &mut Vec<MemEntry>,
    ) {
        let lower = if exclusive {
            Bound::Excluded(from)
        } else {
            Bound::Included(from)
        };
        for entry in self.map.range((lower, Bound::Unbounded)).take(limit) {
            out.push(MemEntry {
                key: entry.key().key.clone(),
                seq: entry.key().seq,
                value: entry.value().clone(),
            });
        }
    }

    /// Every entry in internal order (for flushing a frozen memtable).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&MemKey, &MemValue) -> bool) {
        for entry in self.map.iter() {
            if !f(entry.key(), entry.value()) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_visible_version_wins() {
        let m = Memtable::new(1);
        m.insert(Bytes::from("a"), 1, MemValue::Put(Bytes::from("a1")));
        m.insert(Bytes::from("a"), 5, MemValue::Delete);
        m.insert(Bytes::from("a"), 9, MemValue::Put(Bytes::from("a9")));
        m.insert(Bytes::from("b"), 2, MemValue::Put(Bytes::from("b2")));
        assert_eq!(
            m.get(b"a", 100),
            Some((9, MemValue::Put(Bytes::from("a9"))))
        );
        assert_eq!(m.get(b"a", 8), Some((5, MemValue::Delete)));
        assert_eq!(m.get(b"a", 4), Some((1, MemValue::Put(Bytes::from("a1")))));
        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"ab", 100), None);
        assert_eq!(m.get(b"b", 1), None);
        assert_eq!(m.seq_range(), Some((1, 9)));
        let mut out = Vec::new();
        m.read_from(
            &MemKey {
                key: Bytes::from("a"),
                seq: 5,
            },
            true,
            10,
            &mut out,
        );
        let got: Vec<_> = out.iter().map(|e| (e.key.clone(), e.seq)).collect();
        assert_eq!(got, vec![(Bytes::from("a"), 1), (Bytes::from("b"), 2)]);
    }
}

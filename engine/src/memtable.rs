//! The in-memory write buffer: a lock-free skiplist of internal keys.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use firn_chunk::{EntryMeta, RangeTombstone, RangeTombstones};

use crate::write::batch::{ttl_ms, BatchOp, WriteBatch};

/// Skiplist key: user key ascending, then sequence number descending (newest
/// first), the same order as the chunk format's internal keys.
///
/// `prefix` holds the key's first 16 bytes big-endian (zero-padded), so most
/// comparisons of a skiplist walk are one integer comparison, without
/// following the key's pointer: two keys whose prefixes differ compare as
/// their prefixes do (a zero-padded shorter key is below any longer key it
/// starts, or equal in prefix and then decided by the full comparison).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemKey {
    prefix: u128,
    pub key: Bytes,
    pub seq: u64,
}

impl MemKey {
    pub(crate) fn new(key: Bytes, seq: u64) -> MemKey {
        MemKey {
            prefix: key_prefix(&key),
            key,
            seq,
        }
    }
}

/// The first 16 bytes of `key`, big-endian, zero-padded.
#[inline]
fn key_prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(16);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

impl Ord for MemKey {
    #[inline]
    fn cmp(&self, other: &MemKey) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.key.cmp(&other.key))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &MemKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A filter over the keys of one memtable: a read of a key the memtable
/// does not hold (most reads, once most data is in chunks) skips the
/// skiplist walk. Blocked: the three bits of a key are in one 64-bit word,
/// set with `fetch_or` by the one inserting thread and read concurrently.
struct KeyFilter {
    words: Box<[AtomicU64]>,
    mask: u64,
}

impl KeyFilter {
    /// About one bit per 8 bytes of memtable capacity (8 Mi bits, 1 MiB, for
    /// a 64 MiB memtable: some 20 bits per entry of a 100-byte value).
    fn new(capacity: usize) -> KeyFilter {
        let words = (capacity / 512).clamp(8, 1 << 21).next_power_of_two();
        KeyFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            mask: words as u64 - 1,
        }
    }

    #[inline]
    fn probe(&self, key: &[u8]) -> (&AtomicU64, u64) {
        let h = firn_chunk::key_hash(key);
        let word = &self.words[(h & self.mask) as usize];
        let bits =
            (1u64 << ((h >> 40) & 63)) | (1u64 << ((h >> 46) & 63)) | (1u64 << ((h >> 52) & 63));
        (word, bits)
    }

    fn insert(&self, key: &[u8]) {
        let (word, bits) = self.probe(key);
        word.fetch_or(bits, AtomicOrdering::Relaxed);
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        let (word, bits) = self.probe(key);
        word.load(AtomicOrdering::Relaxed) & bits == bits
    }
}

/// A stored version: a value (with its write time and expiry) or a
/// tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MemValue {
    Put(Bytes, EntryMeta),
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
    filter: KeyFilter,
    bytes: AtomicUsize,
    min_seq: AtomicU64,
    max_seq: AtomicU64,
    /// Set once the memtable holds a range delete (reads skip the lock
    /// while it is not).
    has_ranges: AtomicBool,
    ranges: Mutex<MemRanges>,
}

/// The range deletes of a memtable: as written, and fragmented for reads
/// (rebuilt on the first read after a new range delete).
#[derive(Default)]
struct MemRanges {
    written: Vec<RangeTombstone>,
    fragmented: Option<Arc<RangeTombstones>>,
}

/// An entry copied out of a memtable.
#[derive(Clone, Debug)]
pub(crate) struct MemEntry {
    pub key: Bytes,
    pub seq: u64,
    pub value: MemValue,
}

impl Memtable {
    /// Inserts a batch numbered from `seq`, committed at `time_ms` (`None`:
    /// a record of an old log without times); returns the next free seq.
    pub(crate) fn apply(&self, batch: &WriteBatch, mut seq: u64, time_ms: Option<u64>) -> u64 {
        if batch.is_ingest_marker() {
            // A bulk ingest's place in the log: its data is in chunks.
            return seq + 1;
        }
        let write_ms = time_ms.unwrap_or(0);
        let plain = EntryMeta {
            write_ms,
            expires_ms: 0,
        };
        for op in batch.ops() {
            match op {
                BatchOp::Put { key, value } => {
                    self.insert(key.clone(), seq, MemValue::Put(value.clone(), plain))
                }
                BatchOp::PutExpiring { key, value, ttl } => {
                    let meta = EntryMeta {
                        write_ms,
                        // Never 0 (which means "never expires").
                        expires_ms: write_ms.saturating_add(ttl_ms(*ttl)).max(1),
                    };
                    self.insert(key.clone(), seq, MemValue::Put(value.clone(), meta))
                }
                BatchOp::Delete { key } => self.insert(key.clone(), seq, MemValue::Delete),
                BatchOp::DeleteRange { start, end } => self.insert_range(start, end, seq),
            }
            seq += 1;
        }
        seq
    }

    /// An empty memtable expected to hold about `capacity` bytes (the
    /// memtable size: it sizes the key filter).
    pub(crate) fn new(id: u64, capacity: usize) -> Memtable {
        Memtable {
            id,
            map: SkipMap::new(),
            filter: KeyFilter::new(capacity),
            bytes: AtomicUsize::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            max_seq: AtomicU64::new(0),
            has_ranges: AtomicBool::new(false),
            ranges: Mutex::new(MemRanges::default()),
        }
    }

    /// Adds a range delete of `[start, end)` at `seq`.
    pub(crate) fn insert_range(&self, start: &Bytes, end: &Bytes, seq: u64) {
        {
            let mut ranges = crate::lock(&self.ranges);
            ranges.written.push(RangeTombstone {
                start: start.to_vec(),
                end: end.to_vec(),
                seq,
            });
            ranges.fragmented = None;
        }
        self.has_ranges.store(true, AtomicOrdering::Release);
        self.bytes.fetch_add(
            start.len() + end.len() + ENTRY_OVERHEAD,
            AtomicOrdering::Relaxed,
        );
        self.min_seq.fetch_min(seq, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// The memtable's range deletes, fragmented (`None` when it has none).
    pub(crate) fn range_tombstones(&self) -> Option<Arc<RangeTombstones>> {
        if !self.has_ranges.load(AtomicOrdering::Acquire) {
            return None;
        }
        let mut ranges = crate::lock(&self.ranges);
        if let Some(f) = &ranges.fragmented {
            return Some(f.clone());
        }
        let f = Arc::new(RangeTombstones::fragment(&ranges.written));
        ranges.fragmented = Some(f.clone());
        Some(f)
    }

    /// The newest seq at or below `max_seq` of a range delete covering
    /// `key`.
    pub(crate) fn range_cover(&self, key: &[u8], max_seq: u64) -> Option<u64> {
        self.range_tombstones()?.cover(key, max_seq)
    }

    pub(crate) fn insert(&self, key: Bytes, seq: u64, value: MemValue) {
        let size = key.len()
            + ENTRY_OVERHEAD
            + match &value {
                MemValue::Put(v, _) => v.len(),
                MemValue::Delete => 0,
            };
        // The filter first: a reader that finds the entry in the map must
        // find its key in the filter too.
        self.filter.insert(&key);
        self.map.insert(MemKey::new(key, seq), value);
        self.bytes.fetch_add(size, AtomicOrdering::Relaxed);
        self.min_seq.fetch_min(seq, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// Approximate memory held, in bytes.
    pub(crate) fn size(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty() && !self.has_ranges.load(AtomicOrdering::Acquire)
    }

    /// Lowest and highest sequence number held (None when empty).
    pub(crate) fn seq_range(&self) -> Option<(u64, u64)> {
        if self.is_empty() {
            return None;
        }
        Some((
            self.min_seq.load(AtomicOrdering::Relaxed),
            self.max_seq.load(AtomicOrdering::Relaxed),
        ))
    }

    /// Newest version of `key` with seq <= `max_seq`.
    pub(crate) fn get(&self, key: &[u8], max_seq: u64) -> Option<(u64, MemValue)> {
        if !self.filter.may_contain(key) {
            return None;
        }
        let probe = MemKey::new(Bytes::copy_from_slice(key), max_seq);
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

    /// Up to `limit` entries at or before `from` (before it, when
    /// `exclusive`; from the last entry, when `from` is `None`), in reverse
    /// internal order. Used by backward iterators to refill.
    pub(crate) fn read_back_from(
        &self,
        from: Option<&MemKey>,
        exclusive: bool,
        limit: usize,
        out: &mut Vec<MemEntry>,
    ) {
        let upper = match from {
            None => Bound::Unbounded,
            Some(k) if exclusive => Bound::Excluded(k),
            Some(k) => Bound::Included(k),
        };
        for entry in self.map.range((Bound::Unbounded, upper)).rev().take(limit) {
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
    fn range_deletes_cover_older_versions_at_their_seq() {
        let m = Memtable::new(1, 4096);
        assert!(m.is_empty());
        let mut b = WriteBatch::new();
        b.put("b", "1").delete_range("a", "c").put("b", "3");
        assert_eq!(m.apply(&b, 10, Some(0)), 13);
        assert!(!m.is_empty());
        assert_eq!(m.seq_range(), Some((10, 12)));
        assert_eq!(m.range_cover(b"b", 100), Some(11));
        assert_eq!(m.range_cover(b"b", 10), None);
        assert_eq!(m.range_cover(b"c", 100), None);
        let mut b = WriteBatch::new();
        b.delete_range("bb", "z");
        m.apply(&b, 13, Some(0));
        assert_eq!(
            m.range_cover(b"bz", 100),
            Some(13),
            "a new range delete is seen"
        );
        assert_eq!(m.range_cover(b"b", 100), Some(11));
        let only = Memtable::new(2, 4096);
        only.insert_range(&Bytes::from("a"), &Bytes::from("b"), 5);
        assert!(!only.is_empty(), "a range delete alone is data to flush");
        assert_eq!(only.seq_range(), Some((5, 5)));
    }

    #[test]
    fn newest_visible_version_wins() {
        let m = Memtable::new(1, 4096);
        m.insert(
            Bytes::from("a"),
            1,
            MemValue::Put(Bytes::from("a1"), EntryMeta::default()),
        );
        m.insert(Bytes::from("a"), 5, MemValue::Delete);
        m.insert(
            Bytes::from("a"),
            9,
            MemValue::Put(Bytes::from("a9"), EntryMeta::default()),
        );
        m.insert(
            Bytes::from("b"),
            2,
            MemValue::Put(Bytes::from("b2"), EntryMeta::default()),
        );
        assert_eq!(
            m.get(b"a", 100),
            Some((9, MemValue::Put(Bytes::from("a9"), EntryMeta::default())))
        );
        assert_eq!(m.get(b"a", 8), Some((5, MemValue::Delete)));
        assert_eq!(
            m.get(b"a", 4),
            Some((1, MemValue::Put(Bytes::from("a1"), EntryMeta::default())))
        );
        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"ab", 100), None);
        assert_eq!(m.get(b"b", 1), None);
        assert_eq!(m.seq_range(), Some((1, 9)));
        let mut out = Vec::new();
        m.read_from(&MemKey::new(Bytes::from("a"), 5), true, 10, &mut out);
        let got: Vec<_> = out.iter().map(|e| (e.key.clone(), e.seq)).collect();
        assert_eq!(got, vec![(Bytes::from("a"), 1), (Bytes::from("b"), 2)]);
    }

    #[test]
    fn an_expiring_put_expires_at_its_commit_time_plus_ttl() {
        let m = Memtable::new(1, 4096);
        let mut b = WriteBatch::new();
        b.put("plain", "p")
            .put_with_ttl("short", "s", std::time::Duration::from_millis(1500));
        assert_eq!(m.apply(&b, 10, Some(1_000_000)), 12);
        let (_, plain) = m.get(b"plain", 100).unwrap();
        assert_eq!(
            plain,
            MemValue::Put(
                Bytes::from("p"),
                EntryMeta {
                    write_ms: 1_000_000,
                    expires_ms: 0
                }
            )
        );
        let (seq, short) = m.get(b"short", 100).unwrap();
        assert_eq!(seq, 11);
        let MemValue::Put(_, meta) = &short else {
            panic!("a put")
        };
        assert_eq!(meta.expires_ms, 1_001_500);
        assert!(!meta.is_expired_at(1_001_499));
        assert!(meta.is_expired_at(1_001_500));
    }

    use proptest::prelude::*;

    proptest! {
        /// The prefix shortcut orders keys exactly as comparing the whole
        /// keys does (zero bytes, shared prefixes and lengths around 16
        /// included), and the filter never misses an inserted key.
        #[test]
        fn prefix_order_is_key_order_and_the_filter_has_no_false_negatives(
            keys in proptest::collection::vec(
                (proptest::collection::vec(proptest::prop_oneof![Just(0u8), Just(1u8), Just(0x61u8), Just(0xffu8)], 0..20), 0u64..4),
                1..60,
            )
        ) {
            let mem_keys: Vec<MemKey> =
                keys.iter().map(|(k, s)| MemKey::new(Bytes::from(k.clone()), *s)).collect();
            for a in &mem_keys {
                for b in &mem_keys {
                    let want = a.key.cmp(&b.key).then_with(|| b.seq.cmp(&a.seq));
                    prop_assert_eq!(a.cmp(b), want, "{:?} vs {:?}", a, b);
                }
            }
            let m = Memtable::new(1, 1024);
            for (i, (k, _)) in keys.iter().enumerate() {
                m.insert(Bytes::from(k.clone()), i as u64 + 1, MemValue::Delete);
            }
            for (k, _) in &keys {
                prop_assert!(m.filter.may_contain(k));
                prop_assert!(m.get(k, u64::MAX).is_some());
            }
        }
    }
}

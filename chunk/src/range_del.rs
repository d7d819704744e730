//! Range tombstones: "every key in `[start, end)` with a seq below `seq` is
//! deleted", kept fragmented so that a read finds the ones covering a key
//! with one binary search (RocksDB's fragmented range tombstones).
//!
//! Fragmenting cuts overlapping tombstones at every start and end key: the
//! result is a list of non-overlapping fragments sorted by key, each with the
//! seqs of every tombstone that covers it, newest first.
//!
//! ```text
//!   tombstones        [a ........ f) @7
//!                          [c ............ k) @9
//!   fragments         [a, c) {7}  [c, f) {9, 7}  [f, k) {9}
//! ```
//!
//! Encoding (properties field 16, format version 3; FORMAT.md, "Range
//! tombstones"):
//!
//! ```text
//! range_tombstones := count:varint ++ fragment{count}
//! fragment         := start_len:varint ++ start ++ end_len:varint ++ end
//!                     ++ nseqs:varint ++ seq:varint{nseqs}
//! ```
//! with `start < end`, `end <= next.start`, `nseqs >= 1` and seqs strictly
//! decreasing, each at most `MAX_SEQ`.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeMap;

use crate::coding::{put_varint, Decoder};
use crate::MAX_SEQ;

/// One range tombstone as written: deletes every version of every key in
/// `[start, end)` whose seq is below `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeTombstone {
    /// First key deleted.
    pub start: Vec<u8>,
    /// First key after the range (not deleted).
    pub end: Vec<u8>,
    /// The seq of the delete.
    pub seq: u64,
}

/// A piece of the key space `[start, end)` covered by the tombstones whose
/// seqs are `seqs` (strictly decreasing, never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// First key of the fragment.
    pub start: Vec<u8>,
    /// First key after the fragment.
    pub end: Vec<u8>,
    /// Seqs of the tombstones covering it, newest first.
    pub seqs: Vec<u64>,
}

impl Fragment {
    /// True when `key` is in `[start, end)`.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && key < self.end.as_slice()
    }

    /// The newest seq at or below `max_seq`, if any.
    pub fn newest_at(&self, max_seq: u64) -> Option<u64> {
        let i = self.seqs.partition_point(|&s| s > max_seq);
        self.seqs.get(i).copied()
    }

    /// The oldest seq above `seq`, if any (the delete that first hides a
    /// version written at `seq`).
    pub fn oldest_above(&self, seq: u64) -> Option<u64> {
        let i = self.seqs.partition_point(|&s| s > seq);
        i.checked_sub(1).and_then(|i| self.seqs.get(i)).copied()
    }
}

/// Fragmented range tombstones: non-overlapping fragments in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeTombstones {
    fragments: Vec<Fragment>,
    /// The first 16 bytes of each fragment's end, big-endian and
    /// zero-padded: a lookup binary-searches this contiguous array and
    /// compares whole keys only where prefixes tie (derived from
    /// `fragments`).
    end_prefixes: Vec<u128>,
}

/// The first 16 bytes of `key`, big-endian, zero-padded: prefixes order as
/// the keys do, except that equal prefixes need the whole keys.
fn key_prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    for (slot, b) in bytes.iter_mut().zip(key) {
        *slot = *b;
    }
    u128::from_be_bytes(bytes)
}

impl RangeTombstones {
    /// Fragments `tombstones` (any order, overlapping or not; empty ranges
    /// are ignored). Adjacent fragments with the same seqs are joined.
    pub fn fragment<'a>(tombstones: impl IntoIterator<Item = &'a RangeTombstone>) -> Self {
        // Sweep the boundaries in key order, keeping the seqs covering the
        // current position (with multiplicity: seqs may repeat across inputs).
        let mut events: BTreeMap<&[u8], (Vec<u64>, Vec<u64>)> = BTreeMap::new();
        for t in tombstones {
            if t.start < t.end {
                events.entry(&t.start).or_default().0.push(t.seq);
                events.entry(&t.end).or_default().1.push(t.seq);
            }
        }
        let mut active: BTreeMap<u64, usize> = BTreeMap::new();
        let mut fragments: Vec<Fragment> = Vec::new();
        let mut prev: Option<&[u8]> = None;
        for (key, (starts, ends)) in events {
            if let Some(from) = prev.filter(|_| !active.is_empty()) {
                let seqs: Vec<u64> = active.keys().rev().copied().collect();
                match fragments.last_mut() {
                    Some(last) if last.end.as_slice() == from && last.seqs == seqs => {
                        last.end = key.to_vec();
                    }
                    _ => fragments.push(Fragment {
                        start: from.to_vec(),
                        end: key.to_vec(),
                        seqs,
                    }),
                }
            }
            for s in ends {
                if let Some(n) = active.get_mut(&s) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        active.remove(&s);
                    }
                }
            }
            for s in starts {
                let n = active.entry(s).or_insert(0);
                *n = n.saturating_add(1);
            }
            prev = Some(key);
        }
        RangeTombstones::indexed(fragments)
    }

    /// `fragments` with their lookup prefixes.
    fn indexed(fragments: Vec<Fragment>) -> RangeTombstones {
        let end_prefixes = fragments.iter().map(|f| key_prefix(&f.end)).collect();
        RangeTombstones {
            fragments,
            end_prefixes,
        }
    }

    /// Fragments already in form (sorted, non-overlapping, seqs strictly
    /// decreasing); `None` when they are not.
    pub fn from_fragments(fragments: Vec<Fragment>) -> Option<Self> {
        let t = RangeTombstones::indexed(fragments);
        t.check().is_ok().then_some(t)
    }

    /// Re-fragments the union of several sets.
    pub fn merge<'a>(sets: impl IntoIterator<Item = &'a RangeTombstones>) -> Self {
        let raw: Vec<RangeTombstone> = sets.into_iter().flat_map(|s| s.tombstones()).collect();
        RangeTombstones::fragment(&raw)
    }

    /// The fragments as one tombstone per (fragment, seq).
    pub fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.fragments.iter().flat_map(|f| {
            f.seqs.iter().map(|&seq| RangeTombstone {
                start: f.start.clone(),
                end: f.end.clone(),
                seq,
            })
        })
    }

    /// The fragments in key order.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// True when there are no tombstones.
    pub fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// The fragment containing `key`, if any.
    pub fn fragment_at(&self, key: &[u8]) -> Option<&Fragment> {
        let i = self.first_ending_after(key);
        self.fragments.get(i).filter(|f| f.contains(key))
    }

    /// The index of the first fragment whose end is above `key`.
    fn first_ending_after(&self, key: &[u8]) -> usize {
        let p = key_prefix(key);
        // A fragment whose end prefix is below the key's ends at or below
        // the key, one whose prefix is above ends above it; equal prefixes
        // are decided by the whole keys.
        let lo = self.end_prefixes.partition_point(|&e| e < p);
        let hi = self.end_prefixes.partition_point(|&e| e <= p);
        let tied = self.fragments.get(lo..hi).unwrap_or_default();
        lo.saturating_add(tied.partition_point(|f| f.end.as_slice() <= key))
    }

    /// The newest seq at or below `max_seq` of a tombstone covering `key`:
    /// every version of `key` older than it is deleted for a read at
    /// `max_seq`.
    pub fn cover(&self, key: &[u8], max_seq: u64) -> Option<u64> {
        self.fragment_at(key)?.newest_at(max_seq)
    }

    /// The fragments overlapping `[from, to)` (`None`: unbounded).
    pub fn overlapping<'a>(
        &'a self,
        from: Option<&'a [u8]>,
        to: Option<&'a [u8]>,
    ) -> impl Iterator<Item = &'a Fragment> + 'a {
        let i = from.map_or(0, |k| self.first_ending_after(k));
        self.fragments
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(move |f| to.is_none_or(|t| f.start.as_slice() < t))
    }

    /// These tombstones cut to `[from, to)` (`None`: unbounded).
    pub fn clipped(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> RangeTombstones {
        let fragments = self
            .overlapping(from, to)
            .filter_map(|f| {
                let start = match from {
                    Some(k) if f.start.as_slice() < k => k.to_vec(),
                    _ => f.start.clone(),
                };
                let end = match to {
                    Some(k) if f.end.as_slice() > k => k.to_vec(),
                    _ => f.end.clone(),
                };
                (start < end).then(|| Fragment {
                    start,
                    end,
                    seqs: f.seqs.clone(),
                })
            })
            .collect();
        RangeTombstones::indexed(fragments)
    }

    /// Keeps, of each fragment, the seqs `keep(seqs, i)` accepts (index `i`
    /// into the fragment's seqs, newest first); drops emptied fragments.
    pub fn retain_seqs(&mut self, mut keep: impl FnMut(&[u64], usize) -> bool) {
        for f in &mut self.fragments {
            let seqs = std::mem::take(&mut f.seqs);
            f.seqs = seqs
                .iter()
                .enumerate()
                .filter(|&(i, _)| keep(&seqs, i))
                .map(|(_, &s)| s)
                .collect();
        }
        self.fragments.retain(|f| !f.seqs.is_empty());
        self.end_prefixes = self.fragments.iter().map(|f| key_prefix(&f.end)).collect();
    }

    /// Smallest and largest seq of any tombstone.
    pub fn seq_range(&self) -> Option<(u64, u64)> {
        let min = self.fragments.iter().filter_map(|f| f.seqs.last()).min()?;
        let max = self.fragments.iter().filter_map(|f| f.seqs.first()).max()?;
        Some((*min, *max))
    }

    /// The smallest key covered, and an inclusive upper bound of the keys
    /// covered: the last end without its final byte when that byte is 0
    /// (exactly the largest key below it), else the last end itself.
    pub fn key_bounds(&self) -> Option<(&[u8], &[u8])> {
        let first = self.fragments.first()?;
        let last = self.fragments.last()?;
        Some((first.start.as_slice(), inclusive_bound(&last.end)))
    }

    /// Number of (fragment, seq) pairs.
    pub fn count(&self) -> u64 {
        self.fragments.iter().map(|f| f.seqs.len() as u64).sum()
    }

    /// Approximate memory held, in bytes.
    pub fn memory(&self) -> usize {
        self.fragments
            .iter()
            .map(|f| {
                f.start
                    .len()
                    .saturating_add(f.end.len())
                    .saturating_add(f.seqs.len().saturating_mul(8))
                    .saturating_add(72)
            })
            .sum()
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.fragments.len() as u64);
        for f in &self.fragments {
            for key in [&f.start, &f.end] {
                put_varint(out, key.len() as u64);
                out.extend_from_slice(key);
            }
            put_varint(out, f.seqs.len() as u64);
            for &s in &f.seqs {
                put_varint(out, s);
            }
        }
    }

    /// Decodes from `d`; the error says what is wrong.
    pub(crate) fn decode(d: &mut Decoder<'_>) -> Result<RangeTombstones, String> {
        let count = d.varint().ok_or("truncated range tombstone count")?;
        let mut fragments = Vec::new();
        for i in 0..count {
            let start = d
                .length_prefixed()
                .ok_or_else(|| format!("range tombstone {i}: truncated start key"))?;
            let end = d
                .length_prefixed()
                .ok_or_else(|| format!("range tombstone {i}: truncated end key"))?;
            let n = d
                .varint()
                .ok_or_else(|| format!("range tombstone {i}: truncated seq count"))?;
            let mut seqs = Vec::new();
            for _ in 0..n {
                seqs.push(
                    d.varint()
                        .ok_or_else(|| format!("range tombstone {i}: truncated seq"))?,
                );
            }
            fragments.push(Fragment {
                start: start.to_vec(),
                end: end.to_vec(),
                seqs,
            });
        }
        let t = RangeTombstones::indexed(fragments);
        t.check()?;
        Ok(t)
    }

    fn check(&self) -> Result<(), String> {
        let mut prev_end: Option<&[u8]> = None;
        for (i, f) in self.fragments.iter().enumerate() {
            if f.start >= f.end {
                return Err(format!("range tombstone {i}: empty or inverted range"));
            }
            if prev_end.is_some_and(|p| p > f.start.as_slice()) {
                return Err(format!(
                    "range tombstone {i}: overlaps or precedes the one before it"
                ));
            }
            if f.seqs.is_empty()
                || f.seqs.windows(2).any(|w| w.first() <= w.get(1))
                || f.seqs.iter().any(|&s| s > MAX_SEQ)
            {
                return Err(format!(
                    "range tombstone {i}: seqs must be 1 or more, strictly decreasing, at most 2^56 - 1"
                ));
            }
            prev_end = Some(&f.end);
        }
        Ok(())
    }
}

/// The largest key below the exclusive bound `end` when `end` ends in a 0
/// byte (`end` minus that byte), else `end` itself (an inclusive bound one
/// key too high: harmless for a key range that only has to contain).
pub fn inclusive_bound(end: &[u8]) -> &[u8] {
    match end.split_last() {
        Some((0, head)) => head,
        _ => end,
    }
}

/// The smallest key after `key`: `key ++ [0]`.
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len().saturating_add(1));
    next.extend_from_slice(key);
    next.push(0);
    next
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn t(start: &str, end: &str, seq: u64) -> RangeTombstone {
        RangeTombstone {
            start: start.into(),
            end: end.into(),
            seq,
        }
    }

    #[test]
    fn overlapping_tombstones_fragment_at_every_boundary() {
        let r = RangeTombstones::fragment(&[t("a", "f", 7), t("c", "k", 9), t("x", "x", 3)]);
        let got: Vec<_> = r
            .fragments()
            .iter()
            .map(|f| (f.start.as_slice(), f.end.as_slice(), f.seqs.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"a"[..], &b"c"[..], vec![7]),
                (&b"c"[..], &b"f"[..], vec![9, 7]),
                (&b"f"[..], &b"k"[..], vec![9]),
            ]
        );
        assert_eq!(r.cover(b"b", 100), Some(7));
        assert_eq!(r.cover(b"d", 100), Some(9));
        assert_eq!(r.cover(b"d", 8), Some(7));
        assert_eq!(r.cover(b"d", 6), None);
        assert_eq!(r.cover(b"k", 100), None);
        assert_eq!(r.cover(b"", 100), None);
        assert_eq!(r.seq_range(), Some((7, 9)));
        assert_eq!(r.key_bounds(), Some((&b"a"[..], &b"k"[..])));
        let f = r.fragment_at(b"e").unwrap();
        assert_eq!(f.oldest_above(5), Some(7));
        assert_eq!(f.oldest_above(7), Some(9));
        assert_eq!(f.oldest_above(9), None);
    }

    #[test]
    fn adjacent_equal_fragments_join_and_merge_is_a_union() {
        let r = RangeTombstones::fragment(&[t("a", "c", 4), t("c", "e", 4)]);
        assert_eq!(r.fragments().len(), 1);
        let s = RangeTombstones::fragment(&[t("b", "d", 6)]);
        let m = RangeTombstones::merge([&r, &s]);
        assert_eq!(m.cover(b"a", 99), Some(4));
        assert_eq!(m.cover(b"c", 99), Some(6));
        assert_eq!(m.cover(b"d", 99), Some(4));
        assert_eq!(m.count(), 4);
    }

    #[test]
    fn clipping_cuts_fragments_to_the_range() {
        let r = RangeTombstones::fragment(&[t("a", "m", 5)]);
        let c = r.clipped(Some(b"c"), Some(b"f"));
        assert_eq!(c.fragments()[0].start, b"c");
        assert_eq!(c.fragments()[0].end, b"f");
        assert!(r.clipped(Some(b"m"), None).is_empty());
        assert!(r.clipped(None, Some(b"a")).is_empty());
        assert_eq!(inclusive_bound(&successor(b"k")), b"k");
    }

    #[test]
    fn encoding_round_trips_and_rejects_bad_input() {
        let r = RangeTombstones::fragment(&[t("a", "f", 7), t("c", "k", 9)]);
        let mut buf = Vec::new();
        r.encode(&mut buf);
        let back = RangeTombstones::decode(&mut Decoder::new(&buf)).unwrap();
        assert_eq!(back, r);
        for cut in 0..buf.len() {
            assert!(RangeTombstones::decode(&mut Decoder::new(&buf[..cut])).is_err());
        }
        for bad in [
            vec![Fragment {
                start: b"b".to_vec(),
                end: b"a".to_vec(),
                seqs: vec![1],
            }],
            vec![Fragment {
                start: b"a".to_vec(),
                end: b"b".to_vec(),
                seqs: vec![1, 2],
            }],
            vec![Fragment {
                start: b"a".to_vec(),
                end: b"b".to_vec(),
                seqs: vec![],
            }],
            vec![
                Fragment {
                    start: b"a".to_vec(),
                    end: b"c".to_vec(),
                    seqs: vec![1],
                },
                Fragment {
                    start: b"b".to_vec(),
                    end: b"d".to_vec(),
                    seqs: vec![1],
                },
            ],
        ] {
            let mut buf = Vec::new();
            RangeTombstones::indexed(bad.clone()).encode(&mut buf);
            assert!(RangeTombstones::decode(&mut Decoder::new(&buf)).is_err());
            assert!(RangeTombstones::from_fragments(bad).is_none());
        }
    }

    proptest::proptest! {
        /// Fragmenting answers exactly what checking every tombstone does.
        #[test]
        fn cover_equals_a_linear_search(
            raw in proptest::collection::vec((0u8..12, 0u8..12, 1u64..20, 0usize..3), 0..12),
            probes in proptest::collection::vec((0u8..13, 0u64..22, 0usize..3), 1..30),
        ) {
            // Keys of 1, 16 and 17 bytes sharing a 15-byte prefix: the
            // lookup's 16-byte prefixes tie, and whole keys must decide.
            let long = |b: u8, n: usize| -> Vec<u8> {
                let mut k = vec![7u8; [0, 15, 16][n]];
                k.push(b);
                k
            };
            let ts: Vec<RangeTombstone> = raw
                .iter()
                .map(|&(a, b, s, n)| RangeTombstone { start: long(a, n), end: long(b, n), seq: s })
                .collect();
            let r = RangeTombstones::fragment(&ts);
            proptest::prop_assert!(r.check().is_ok());
            for (k, max, n) in probes {
                let key = long(k, n);
                let want = ts
                    .iter()
                    .filter(|t| t.start.as_slice() <= &key[..] && &key[..] < t.end.as_slice() && t.seq <= max)
                    .map(|t| t.seq)
                    .max();
                proptest::prop_assert_eq!(r.cover(&key, max), want);
            }
        }
    }
}

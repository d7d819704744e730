//! Reading entries out of a decoded [`Block`]: point lookups and iteration.
//!
//! Both use the same two steps: a binary search over the restart points (whose
//! keys are stored whole, so they are compared in place), then a linear scan of
//! at most one restart interval.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cmp::Ordering;

use bytes::Bytes;

use crate::block::{Block, ENTRY_TRAILER_LEN, STORED_DELETE, STORED_PUT, STORED_PUT_WITH_META};
use crate::coding::{get_u64_le, get_varint};
use crate::key_cmp::KeyCmp;
use crate::{compare_internal, ChunkError, EntryMeta, Kind};

/// One parsed entry, as offsets into the block contents.
#[derive(Clone, Copy)]
struct RawEntry {
    shared: usize,
    delta_start: usize,
    delta_end: usize,
    seq: u64,
    kind: Kind,
    /// The metadata of a stored kind-2 entry (a put with metadata).
    meta: Option<EntryMeta>,
    /// Start of the user value: after the metadata prefix, if any.
    value_start: usize,
    value_end: usize,
}

impl Block {
    fn corrupt_at(&self, pos: usize, what: &str) -> ChunkError {
        ChunkError::corrupt(
            self.offset,
            format!("{what} (entry at byte {pos} of the decompressed block)"),
        )
    }

    /// Parses the entry starting at `pos` (which must be before the restart array).
    #[inline]
    fn parse_entry(&self, pos: usize) -> Result<RawEntry, ChunkError> {
        self.parse_entry_raw(pos)
            .map_err(|what| self.corrupt_at(pos, what))
    }

    /// [`Block::parse_entry`] with a small error type, so that the hot path
    /// stays in registers; the caller builds the [`ChunkError`].
    #[inline(always)]
    fn parse_entry_raw(&self, pos: usize) -> Result<RawEntry, &'static str> {
        const MALFORMED: &str = "malformed entry";
        let data = self.data.get(..self.restarts).unwrap_or_default();
        let head = data.get(pos..).ok_or(MALFORMED)?;
        // Fast path: the three varints are one byte each (keys, deltas and
        // values shorter than 128 bytes).
        let (shared, unshared, value_len, delta_start) = match *head {
            [a, b, c, ..] if (a | b | c) < 0x80 => {
                let start = pos.checked_add(3).ok_or(MALFORMED)?;
                (a as usize, b as usize, c as usize, start)
            }
            _ => {
                let mut p = 0;
                let mut varint = || -> Result<usize, &'static str> {
                    let (v, n) = get_varint(head.get(p..).unwrap_or_default()).ok_or(MALFORMED)?;
                    p = p.checked_add(n).ok_or(MALFORMED)?;
                    usize::try_from(v).map_err(|_| MALFORMED)
                };
                let (s, u, v) = (varint()?, varint()?, varint()?);
                (s, u, v, pos.checked_add(p).ok_or(MALFORMED)?)
            }
        };
        let delta_end = delta_start.checked_add(unshared).ok_or(MALFORMED)?;
        let trailer_end = delta_end.checked_add(ENTRY_TRAILER_LEN).ok_or(MALFORMED)?;
        let value_end = trailer_end.checked_add(value_len).ok_or(MALFORMED)?;
        if value_end > data.len() {
            return Err("entry extends past the end of the block");
        }
        let trailer = get_u64_le(data, delta_end).ok_or(MALFORMED)?;
        let (kind, meta, value_start) = match trailer as u8 {
            STORED_DELETE => (Kind::Delete, None, trailer_end),
            STORED_PUT => (Kind::Put, None, trailer_end),
            STORED_PUT_WITH_META => {
                // The prefix must fit in the value field: decoding from the
                // field alone makes a prefix running past it a truncated varint.
                let field = data.get(trailer_end..value_end).ok_or(MALFORMED)?;
                let (meta, prefix) = EntryMeta::decode_prefix(field)?;
                let start = trailer_end.checked_add(prefix).ok_or(MALFORMED)?;
                (Kind::Put, Some(meta), start)
            }
            _ => return Err("unknown entry kind"),
        };
        Ok(RawEntry {
            shared,
            delta_start,
            delta_end,
            seq: trailer >> 8,
            kind,
            meta,
            value_start,
            value_end,
        })
    }

    /// The full key and seq of restart point `i` (stored without prefix sharing).
    #[inline]
    fn restart_key(&self, i: usize) -> Result<(&[u8], u64), ChunkError> {
        let pos = self.restart(i);
        let e = self.parse_entry(pos)?;
        if e.shared != 0 {
            return Err(self.corrupt_at(pos, "restart entry shares a key prefix"));
        }
        let key = self
            .data
            .get(e.delta_start..e.delta_end)
            .unwrap_or_default();
        Ok((key, e.seq))
    }

    /// Index of the last restart point whose key is < (user_key, seq), or 0.
    fn find_restart(&self, user_key: &[u8], seq: u64) -> Result<usize, ChunkError> {
        // A parsed block has at least one restart point; `left < right`
        // keeps `mid` in range and `mid - 1` from underflowing.
        let (mut left, mut right) = (0, self.num_restarts.saturating_sub(1));
        while left < right {
            let mid = left.saturating_add(right.saturating_sub(left).div_ceil(2));
            let (k, s) = self.restart_key(mid)?;
            if compare_internal(k, s, user_key, seq) == Ordering::Less {
                left = mid;
            } else {
                right = mid.saturating_sub(1);
            }
        }
        Ok(left)
    }

    /// The newest version of `user_key` with seq <= `max_seq` in this block:
    /// `Some((seq, kind, value))`, or `None` if the block holds no such version.
    /// The value is the user value (without a metadata prefix) and shares the
    /// block's memory. [`Block::get_with_meta`] also returns the metadata.
    pub fn get(
        &self,
        user_key: &[u8],
        max_seq: u64,
    ) -> Result<Option<(u64, Kind, Bytes)>, ChunkError> {
        Ok(self
            .get_with_meta(user_key, max_seq)?
            .map(|(seq, kind, value, _)| (seq, kind, value)))
    }

    /// [`Block::get`] with the entry's metadata: `Some((seq, kind, value,
    /// meta))`, where `meta` is `Some` for a put stored with metadata (format
    /// version 2) and `None` for a put without it and for a tombstone.
    #[allow(
        clippy::type_complexity,
        reason = "the (seq, kind, value) of `get` plus the metadata, spelled out as the public API"
    )]
    pub fn get_with_meta(
        &self,
        user_key: &[u8],
        max_seq: u64,
    ) -> Result<Option<(u64, Kind, Bytes, Option<EntryMeta>)>, ChunkError> {
        // Scan from the restart point without rebuilding keys: KeyCmp orders
        // each key against the target from its unshared bytes alone.
        let mut pos = self.restart(self.find_restart(user_key, max_seq)?);
        let mut cmp = KeyCmp::new(user_key);
        while pos < self.restarts {
            let e = self.parse_entry(pos)?;
            let delta = self
                .data
                .get(e.delta_start..e.delta_end)
                .unwrap_or_default();
            let ord = cmp
                .next(e.shared, delta)
                .ok_or_else(|| self.corrupt_at(pos, SHARED_TOO_LONG))?;
            match ord.then(max_seq.cmp(&e.seq)) {
                Ordering::Less => pos = e.value_end,
                _ if ord == Ordering::Equal => {
                    let value = self.data.slice(e.value_start..e.value_end);
                    return Ok(Some((e.seq, e.kind, value, e.meta)));
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// An iterator over this block. It starts unpositioned: call
    /// [`BlockIter::seek_to_first`] or [`BlockIter::seek`] first.
    pub fn iter(&self) -> BlockIter {
        BlockIter {
            block: self.clone(),
            cur: Cursor::default(),
        }
    }
}

/// Position state shared by [`Block::get`] and [`BlockIter`].
struct Cursor {
    key: Vec<u8>,
    seq: u64,
    kind: Kind,
    meta: Option<EntryMeta>,
    value_start: usize,
    value_end: usize,
    /// Offset of the entry after the current one.
    next: usize,
    valid: bool,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            key: Vec::new(),
            seq: 0,
            kind: Kind::Delete,
            meta: None,
            value_start: 0,
            value_end: 0,
            next: 0,
            valid: false,
        }
    }
}

impl Cursor {
    /// Moves before restart point `i` (the next step reads it).
    fn rewind_to_restart(&mut self, b: &Block, i: usize) {
        self.key.clear();
        self.next = b.restart(i);
        self.valid = false;
    }

    /// Parses the entry at `self.next` and makes it current; `None` (and
    /// invalid) at the end of the block.
    #[inline]
    fn step_raw(&mut self, b: &Block) -> Result<Option<RawEntry>, ChunkError> {
        self.valid = false;
        if self.next >= b.restarts {
            return Ok(None);
        }
        let pos = self.next;
        let e = b.parse_entry(pos)?;
        if e.shared > self.key.len() {
            return Err(b.corrupt_at(pos, SHARED_TOO_LONG));
        }
        self.key.truncate(e.shared);
        self.key
            .extend_from_slice(b.data.get(e.delta_start..e.delta_end).unwrap_or_default());
        self.seq = e.seq;
        self.kind = e.kind;
        self.meta = e.meta;
        self.value_start = e.value_start;
        self.value_end = e.value_end;
        self.next = e.value_end;
        self.valid = true;
        Ok(Some(e))
    }

    /// Parses the entry at `self.next`; false (and invalid) at the end.
    #[inline]
    fn step(&mut self, b: &Block) -> Result<bool, ChunkError> {
        Ok(self.step_raw(b)?.is_some())
    }

    /// Positions at the first entry >= (user_key, seq), or invalid past the end.
    fn seek(&mut self, b: &Block, user_key: &[u8], seq: u64) -> Result<(), ChunkError> {
        let r = b.find_restart(user_key, seq)?;
        self.rewind_to_restart(b, r);
        let mut cmp = KeyCmp::new(user_key);
        while let Some(e) = self.step_raw(b)? {
            let delta = b.data.get(e.delta_start..e.delta_end).unwrap_or_default();
            let ord = cmp
                .next(e.shared, delta)
                .ok_or_else(|| b.corrupt_at(e.delta_start, SHARED_TOO_LONG))?;
            if ord.then(seq.cmp(&e.seq)) != Ordering::Less {
                break;
            }
        }
        Ok(())
    }
}

const SHARED_TOO_LONG: &str = "entry shares more bytes than the previous key has";

/// An iterator over the entries of one [`Block`], in internal key order. It
/// owns a clone of the block, so it is `'static` and `Send`.
///
/// Accessors return empty values / zero when the iterator is not
/// [`valid`](BlockIter::valid). After an error the iterator is invalid.
pub struct BlockIter {
    block: Block,
    cur: Cursor,
}

impl BlockIter {
    /// Positions at the first entry >= (user_key, seq) in internal order
    /// (invalid if there is none).
    pub fn seek(&mut self, user_key: &[u8], seq: u64) -> Result<(), ChunkError> {
        let r = self.cur.seek(&self.block, user_key, seq);
        if r.is_err() {
            self.cur.valid = false;
        }
        r
    }

    /// Positions at the first entry of the block.
    pub fn seek_to_first(&mut self) -> Result<(), ChunkError> {
        self.cur.rewind_to_restart(&self.block, 0);
        self.cur.step(&self.block).map(drop)
    }

    /// Advances to the next entry; returns false (and becomes invalid) at the
    /// end of the block, or if it was not valid to begin with.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<bool, ChunkError> {
        if !self.cur.valid {
            return Ok(false);
        }
        self.cur.step(&self.block)
    }

    /// True when positioned at an entry.
    pub fn valid(&self) -> bool {
        self.cur.valid
    }

    /// User key of the current entry.
    pub fn key(&self) -> &[u8] {
        if self.cur.valid {
            &self.cur.key
        } else {
            &[]
        }
    }

    /// Sequence number of the current entry.
    pub fn seq(&self) -> u64 {
        if self.cur.valid {
            self.cur.seq
        } else {
            0
        }
    }

    /// Kind of the current entry ([`Kind::Delete`] when invalid). A put
    /// stored with metadata is a [`Kind::Put`]; see [`BlockIter::meta`].
    pub fn kind(&self) -> Kind {
        if self.cur.valid {
            self.cur.kind
        } else {
            Kind::Delete
        }
    }

    /// Metadata of the current entry: `Some` for a put stored with metadata
    /// (format version 2), `None` for a put without it, a tombstone, or when
    /// the iterator is not valid.
    pub fn meta(&self) -> Option<EntryMeta> {
        if self.cur.valid {
            self.cur.meta
        } else {
            None
        }
    }

    /// User value of the current entry (without a metadata prefix): a slice
    /// of the block's shared memory, no copy.
    pub fn value(&self) -> Bytes {
        if self.cur.valid {
            self.block
                .data
                .slice(self.cur.value_start..self.cur.value_end)
        } else {
            Bytes::new()
        }
    }

    /// User value of the current entry (without a metadata prefix) as a
    /// borrowed slice.
    pub fn value_slice(&self) -> &[u8] {
        if self.cur.valid {
            self.block
                .data
                .get(self.cur.value_start..self.cur.value_end)
                .unwrap_or_default()
        } else {
            &[]
        }
    }

    /// The block this iterator reads.
    pub fn block(&self) -> &Block {
        &self.block
    }
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
    use crate::block::{decode_block, seal_block, BlockBuilder, BlockHandle};

    type Owned = (Vec<u8>, u64, Kind, Vec<u8>);

    fn block_of(entries: &[Owned], compress: bool) -> Block {
        let mut b = BlockBuilder::new();
        for (k, s, kind, v) in entries {
            b.add(k, *s, *kind, v);
        }
        let mut c = zstd::bulk::Compressor::new(3).expect("compressor");
        let mut out = Vec::new();
        let comp = if compress { Some(&mut c) } else { None };
        seal_block(b.finish(), comp, &mut Vec::new(), &mut out).expect("seal");
        let h = BlockHandle {
            offset: 0,
            len: out.len() as u64,
        };
        decode_block(&out, h).expect("decodes")
    }

    fn sample() -> Vec<Owned> {
        // 50 keys with 1..=3 versions each (newest first), some deletes.
        let mut v = Vec::new();
        for i in 0..50u64 {
            let key = format!("k{:03}", i * 2).into_bytes();
            for s in (1..=(i % 3 + 1)).rev() {
                let kind = if (i + s) % 5 == 0 {
                    Kind::Delete
                } else {
                    Kind::Put
                };
                let val = if kind == Kind::Put {
                    format!("v{i}-{s}").into_bytes()
                } else {
                    Vec::new()
                };
                v.push((key.clone(), s * 10, kind, val));
            }
        }
        v
    }

    fn collect(it: &mut BlockIter) -> Vec<Owned> {
        let mut out = Vec::new();
        while it.valid() {
            out.push((it.key().to_vec(), it.seq(), it.kind(), it.value().to_vec()));
            it.next().expect("next");
        }
        out
    }

    #[test]
    fn round_trip() {
        let entries = sample();
        for compress in [false, true] {
            let block = block_of(&entries, compress);
            let mut it = block.iter();
            assert!(!it.valid());
            it.seek_to_first().expect("first");
            assert_eq!(collect(&mut it), entries);
            assert!(!it.next().expect("past end"));
        }
    }

    #[test]
    fn seek_between_before_and_after() {
        let entries = sample();
        let block = block_of(&entries, true);
        let mut it = block.iter();
        // Before the first key.
        it.seek(b"", u64::MAX >> 8).expect("seek");
        assert_eq!(it.key(), b"k000");
        // Between two keys (odd numbers are absent).
        it.seek(b"k041", 5).expect("seek");
        assert_eq!(it.key(), b"k042");
        assert_eq!(it.seq(), 10);
        // Exact key, each seq lands on the newest version <= it.
        it.seek(b"k040", 25).expect("seek");
        assert_eq!((it.key(), it.seq()), (&b"k040"[..], 20));
        it.seek(b"k040", 5).expect("seek");
        assert_eq!(
            it.key(),
            b"k042",
            "below every version moves to the next key"
        );
        // After the last key.
        it.seek(b"k999", 0).expect("seek");
        assert!(!it.valid());
        assert_eq!(it.key(), b"");
        assert!(it.value().is_empty());
        // Every entry can be found by its own internal key.
        for (k, s, kind, v) in &entries {
            it.seek(k, *s).expect("seek");
            assert_eq!((it.key(), it.seq(), it.kind()), (&k[..], *s, *kind));
            assert_eq!(it.value_slice(), &v[..]);
        }
    }

    #[test]
    fn get_respects_snapshot_seq() {
        // One key with 100 versions (crosses several restart points), between others.
        let mut entries: Vec<Owned> = vec![(b"a".to_vec(), 7, Kind::Put, b"a7".to_vec())];
        for s in (1..=100u64).rev() {
            let kind = if s % 10 == 0 { Kind::Delete } else { Kind::Put };
            entries.push((b"many".to_vec(), s * 2, kind, format!("m{s}").into_bytes()));
        }
        entries.push((b"z".to_vec(), 1, Kind::Put, b"z1".to_vec()));
        let block = block_of(&entries, true);
        for max_seq in 0..=210u64 {
            let got = block.get(b"many", max_seq).expect("get");
            let want = entries
                .iter()
                .find(|(k, s, _, _)| k == b"many" && *s <= max_seq)
                .map(|(_, s, kind, v)| (*s, *kind, Bytes::from(v.clone())));
            assert_eq!(got, want, "max_seq {max_seq}");
        }
        assert_eq!(block.get(b"m", 1000).expect("get"), None);
        assert_eq!(block.get(b"zz", 1000).expect("get"), None);
        assert_eq!(block.get(b"", 1000).expect("get"), None);
        let (s, k, v) = block.get(b"z", 1).expect("get").expect("present");
        assert_eq!((s, k, &v[..]), (1, Kind::Put, &b"z1"[..]));
    }

    #[test]
    fn empty_keys_and_values() {
        let entries: Vec<Owned> = vec![
            (Vec::new(), 9, Kind::Put, Vec::new()),
            (Vec::new(), 3, Kind::Delete, Vec::new()),
            (vec![0], 1, Kind::Put, vec![0; 3]),
        ];
        let block = block_of(&entries, false);
        let mut it = block.iter();
        it.seek_to_first().expect("first");
        assert_eq!(collect(&mut it), entries);
        assert_eq!(block.get(b"", 5).expect("get").map(|e| e.0), Some(3));
    }

    #[test]
    fn malformed_entries_are_errors() {
        // Valid restart array, garbage entry bytes: every API errs, none panics.
        let garbage: &[&[u8]] = &[
            &[0xff; 12],
            &[0, 200, 0, b'a'],
            &[5, 1, 0, b'a'],
            &[0, 0, 0],
        ];
        for g in garbage {
            let mut contents = g.to_vec();
            contents.extend_from_slice(&0u32.to_le_bytes());
            contents.extend_from_slice(&1u32.to_le_bytes());
            let block = Block::from_contents(Bytes::from(contents), 64).expect("restarts ok");
            assert!(block.get(b"a", 1).is_err());
            let mut it = block.iter();
            assert!(it.seek_to_first().is_err());
            assert!(!it.valid());
            assert!(it.seek(b"a", 1).is_err());
        }
        // A bad kind byte.
        let mut b = BlockBuilder::new();
        b.add(b"k", 1, Kind::Put, b"v");
        let mut contents = b.finish().to_vec();
        contents[3 + 1] = 7; // the low byte of the trailer, after 3 varints + "k"
        let block = Block::from_contents(Bytes::from(contents), 0).expect("restarts ok");
        let err = block.get(b"k", 1).expect_err("bad kind");
        assert!(err.to_string().contains("unknown entry kind"), "{err}");
    }

    type OwnedMeta = (Vec<u8>, u64, Kind, Vec<u8>, Option<EntryMeta>);

    fn block_with_meta(entries: &[OwnedMeta], compress: bool) -> Block {
        let mut b = BlockBuilder::new();
        for (k, s, kind, v, m) in entries {
            b.add_with_meta(k, *s, *kind, v, m.as_ref());
        }
        let mut c = zstd::bulk::Compressor::new(3).expect("compressor");
        let mut out = Vec::new();
        let comp = if compress { Some(&mut c) } else { None };
        seal_block(b.finish(), comp, &mut Vec::new(), &mut out).expect("seal");
        let h = BlockHandle {
            offset: 0,
            len: out.len() as u64,
        };
        decode_block(&out, h).expect("decodes")
    }

    fn sample_with_meta() -> Vec<OwnedMeta> {
        sample()
            .into_iter()
            .enumerate()
            .map(|(i, (k, s, kind, v))| {
                let i = i as u64;
                let meta = match (kind, i % 4) {
                    (Kind::Delete, _) | (_, 0) => None,
                    (_, 1) => Some(EntryMeta {
                        write_ms: 1_764_547_200_000 + i,
                        expires_ms: 0,
                    }),
                    (_, 2) => Some(EntryMeta {
                        write_ms: i,
                        expires_ms: 1_764_550_800_000 + i,
                    }),
                    _ => Some(EntryMeta {
                        write_ms: u64::MAX - i,
                        expires_ms: u64::MAX,
                    }),
                };
                (k, s, kind, v, meta)
            })
            .collect()
    }

    #[test]
    fn metadata_round_trips_and_is_stripped_from_values() {
        let entries = sample_with_meta();
        assert!(entries.iter().any(|e| e.4.is_some()));
        assert!(entries.iter().any(|e| e.2 == Kind::Put && e.4.is_none()));
        for compress in [false, true] {
            let block = block_with_meta(&entries, compress);
            let mut it = block.iter();
            assert_eq!(it.meta(), None, "unpositioned");
            it.seek_to_first().expect("first");
            let mut back = Vec::new();
            while it.valid() {
                assert_eq!(it.value_slice(), &it.value()[..]);
                back.push((
                    it.key().to_vec(),
                    it.seq(),
                    it.kind(),
                    it.value().to_vec(),
                    it.meta(),
                ));
                it.next().expect("next");
            }
            assert_eq!(back, entries);
            assert_eq!(it.meta(), None, "past the end");
            for (k, s, kind, v, m) in &entries {
                let got = block.get_with_meta(k, *s).expect("get").expect("present");
                assert_eq!(got, (*s, *kind, Bytes::from(v.clone()), *m));
                let plain = block.get(k, *s).expect("get").expect("present");
                assert_eq!(plain, (*s, *kind, Bytes::from(v.clone())));
                it.seek(k, *s).expect("seek");
                assert_eq!(
                    (it.kind(), it.meta(), it.value_slice()),
                    (*kind, *m, &v[..])
                );
            }
        }
    }

    /// Contents of a one-entry block "k" seq 1 with stored kind `kind` and
    /// value field `field` (any bytes), as FORMAT.md lays it out.
    fn forged_entry(kind: u8, field: &[u8]) -> Vec<u8> {
        let mut c = vec![0, 1];
        crate::coding::put_varint(&mut c, field.len() as u64);
        c.push(b'k');
        c.extend_from_slice(&((1u64 << 8) | u64::from(kind)).to_le_bytes());
        c.extend_from_slice(field);
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&1u32.to_le_bytes());
        c
    }

    #[test]
    fn malformed_metadata_is_a_corruption_error() {
        let mut overlong = vec![0x80; 11];
        overlong.push(0);
        let mut overflow = vec![0x05];
        overflow.extend_from_slice(&[0xff; 9]);
        overflow.push(0x7f);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty value field", vec![]),
            ("only write_ms", vec![0x05]),
            ("write_ms truncated", vec![0x85]),
            ("expires_ms truncated", vec![0x05, 0x80, 0x80]),
            ("write_ms overlong", overlong),
            ("expires_ms overflows", overflow),
        ];
        for (what, field) in cases {
            let block =
                Block::from_contents(Bytes::from(forged_entry(2, &field)), 4096).expect("restarts");
            let err = block.get_with_meta(b"k", 1).expect_err(what);
            match &err {
                ChunkError::Corrupt { offset, detail } => {
                    assert_eq!(*offset, 4096, "{what}");
                    assert!(detail.contains("entry metadata"), "{what}: {detail}");
                    assert!(detail.contains("entry at byte 0"), "{what}: {detail}");
                }
                other => panic!("{what}: {other:?}"),
            }
            assert!(block.get(b"k", 1).is_err(), "{what}");
            let mut it = block.iter();
            assert!(it.seek_to_first().is_err(), "{what}");
            assert!(!it.valid() && it.meta().is_none(), "{what}");
            assert!(it.seek(b"k", 1).is_err(), "{what}");
        }
        // The same bytes are fine as a plain put (kind 1) and a well-formed
        // prefix with an empty user value is fine as kind 2.
        let block = Block::from_contents(Bytes::from(forged_entry(1, &[0x85])), 0).expect("ok");
        assert_eq!(
            block.get_with_meta(b"k", 1).expect("get"),
            Some((1, Kind::Put, Bytes::from_static(&[0x85]), None))
        );
        let block =
            Block::from_contents(Bytes::from(forged_entry(2, &[0x05, 0x00])), 0).expect("ok");
        let meta = EntryMeta {
            write_ms: 5,
            expires_ms: 0,
        };
        assert_eq!(
            block.get_with_meta(b"k", 1).expect("get"),
            Some((1, Kind::Put, Bytes::new(), Some(meta)))
        );
        // Stored kinds above 2 stay unknown.
        let block = Block::from_contents(Bytes::from(forged_entry(3, &[0, 0])), 0).expect("ok");
        let err = block.get(b"k", 1).expect_err("kind 3");
        assert!(err.to_string().contains("unknown entry kind"), "{err}");
    }

    #[test]
    fn point_lookup_is_fast() {
        // A 32 KiB-ish block of 16-byte keys and 100-byte values.
        let entries: Vec<Owned> = (0..260u64)
            .map(|i| {
                (
                    format!("{:016}", i * 7).into_bytes(),
                    5,
                    Kind::Put,
                    vec![b'v'; 100],
                )
            })
            .collect();
        let block = block_of(&entries, true);
        let probes = 20_000u64;
        let start = std::time::Instant::now();
        let mut found = 0;
        for i in 0..probes {
            let k = format!("{:016}", (i * 13) % 1820);
            found += block.get(k.as_bytes(), 10).expect("get").is_some() as u64;
        }
        let per = start.elapsed() / probes as u32;
        assert!(found > 0);
        // Generous bound so that slow debug builds on a loaded machine pass;
        // release builds take a few hundred nanoseconds.
        assert!(
            per < std::time::Duration::from_micros(50),
            "{per:?} per lookup"
        );
    }
}

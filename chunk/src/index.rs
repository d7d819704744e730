//! [`ChunkIndex`]: the opened metadata of a chunk (block index, bloom filter,
//! properties), and the separator keys the index is made of.
//!
//! The index block uses the data block entry format: the key of entry `i` is
//! the separator of data block `i` (user key + seq, kind byte 1), its value is
//! `varint offset ++ varint len` of the block's handle.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cmp::Ordering;
use std::fmt;

use bytes::Bytes;

use crate::block::{unseal_block, Block, BlockHandle, BLOCK_TRAILER_LEN};
use crate::bloom::Bloom;
use crate::coding::{get_u64_le, put_varint, Decoder};
use crate::{compare_internal, ChunkError, Footer, Properties, MAX_SEQ};

/// LevelDB's short separator for user keys `a < b`: `a` cut after its first
/// byte that differs from `b`, with that byte incremented, when the result
/// still sorts before `b` and is shorter than `a`; `None` otherwise.
fn short_separator(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let n = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (&ab, &bb) = (a.get(n)?, b.get(n)?);
    let next = ab.checked_add(1)?;
    if next < bb && n.checked_add(1)? < a.len() {
        let mut s = a.get(..n)?.to_vec();
        s.push(next);
        Some(s)
    } else {
        None
    }
}

/// The index separator for a block ending with (`last_key`, `last_seq`)
/// followed by a block starting with user key `next_key`: an internal key
/// `>=` the last key and `<` the next block's first key. When the user keys
/// differ and a shorter user key `s` fits between them, (`s`, MAX_SEQ) is
/// used, the smallest internal key with user key `s`; otherwise the last key.
///
/// Either way no internal key `k` with last key `< k <=` separator has the
/// user key of the next block's first entry, so a point lookup for
/// (user key, max seq) needs only the block [`ChunkIndex::seek_block`] names.
pub(crate) fn separator(last_key: &[u8], last_seq: u64, next_key: &[u8]) -> (Vec<u8>, u64) {
    if last_key != next_key {
        if let Some(s) = short_separator(last_key, next_key) {
            return (s, MAX_SEQ);
        }
    }
    (last_key.to_vec(), last_seq)
}

/// Appends an index block value (a block handle).
pub(crate) fn encode_handle(out: &mut Vec<u8>, h: BlockHandle) {
    put_varint(out, h.offset);
    put_varint(out, h.len);
}

/// Size of one block index record in [`ChunkIndex`]'s `entries`.
pub(crate) const ENTRY_LEN: usize = 32;
// One record, all fields u64 little-endian (no alignment is assumed):
//
//   0        8     16              24           32
//   | key_end | seq | block offset | block len |
//
// key_end is the end of the separator's user key in `keys`; it starts where
// the previous record's key ends (0 for the first record).
const KEY_END_AT: usize = 0;
const SEQ_AT: usize = 8;
const OFFSET_AT: usize = 16;
const LEN_AT: usize = 24;

/// Appends one block index record.
pub(crate) fn put_entry(out: &mut Vec<u8>, key_end: u64, seq: u64, h: BlockHandle) {
    for v in [key_end, seq, h.offset, h.len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The opened metadata of one chunk: properties, bloom filter and block index.
///
/// Decoded from one ranged read of `[meta_offset, file_size)`
/// ([`ChunkIndex::decode`]) or from a local index file
/// ([`ChunkIndex::decode_local`]), whose bloom filter, separator keys and
/// block handles it then queries in place. Cheap to query and clone, meant to
/// be kept in memory (it is `Send + Sync`).
#[derive(Clone)]
pub struct ChunkIndex {
    pub(crate) footer: Footer,
    pub(crate) file_size: u64,
    pub(crate) properties: Properties,
    pub(crate) bloom: Bloom,
    /// Separator user keys, concatenated.
    pub(crate) keys: Bytes,
    /// One [`ENTRY_LEN`]-byte record per data block.
    pub(crate) entries: Bytes,
}

impl fmt::Debug for ChunkIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkIndex")
            .field("footer", &self.footer)
            .field("file_size", &self.file_size)
            .field("properties", &self.properties)
            .field("blocks", &self.block_count())
            .field("key_bytes", &self.keys.len())
            .field("bloom_bytes", &self.bloom.bits().len())
            .field("bloom_k", &self.bloom.k())
            .finish()
    }
}

impl ChunkIndex {
    /// Decodes the metadata region. `region` is exactly the bytes
    /// `[meta_offset, file_size)` of the chunk (what a manifest's
    /// `meta_offset`/`meta_len` name). Every block in it is checksum-verified
    /// and the block handles are checked to tile `[0, meta_offset)`.
    pub fn decode(
        region: &[u8],
        meta_offset: u64,
        file_size: u64,
    ) -> Result<ChunkIndex, ChunkError> {
        let needed = file_size.checked_sub(meta_offset).ok_or_else(|| {
            ChunkError::corrupt(
                meta_offset,
                format!("meta_offset {meta_offset} is past the end of a {file_size}-byte file"),
            )
        })?;
        let have = region.len() as u64;
        if have < needed {
            return Err(ChunkError::Truncated { size: have, needed });
        }
        if have > needed {
            return Err(ChunkError::corrupt(
                meta_offset,
                format!("metadata region is {have} bytes, expected {needed}"),
            ));
        }
        let footer = Footer::decode(region, file_size)?;
        if footer.meta_offset != meta_offset {
            return Err(ChunkError::corrupt(
                meta_offset,
                format!("footer says the metadata starts at {}", footer.meta_offset),
            ));
        }
        let slice = |h: BlockHandle| -> Result<&[u8], ChunkError> {
            let start = h
                .offset
                .checked_sub(meta_offset)
                .and_then(|s| usize::try_from(s).ok());
            let len = usize::try_from(h.len).ok();
            start
                .zip(len)
                .and_then(|(s, l)| region.get(s..s.checked_add(l)?))
                .ok_or_else(|| ChunkError::corrupt(h.offset, "block outside the metadata region"))
        };

        let props_raw = unseal_block(slice(footer.properties)?, footer.properties.offset)?;
        let properties = Properties::decode(&props_raw, footer.properties.offset)?;
        let filter_raw = unseal_block(slice(footer.filter)?, footer.filter.offset)?;
        let bloom = Bloom::decode(&filter_raw)
            .ok_or_else(|| ChunkError::corrupt(footer.filter.offset, "malformed filter block"))?;
        let index_raw = unseal_block(slice(footer.index)?, footer.index.offset)?;
        let (keys, entries) = decode_index(index_raw, footer.index.offset)?;

        let idx = ChunkIndex {
            footer,
            file_size,
            properties,
            bloom,
            keys: Bytes::from(keys),
            entries: Bytes::from(entries),
        };
        idx.check_consistency(footer.properties.offset, |_| footer.index.offset)?;
        Ok(idx)
    }

    /// Checks the index against the properties and the footer, and that the
    /// data blocks tile `[0, meta_offset)`. Errors name `props_at` or
    /// `entry_at(i)` (the offset of the properties or of entry `i` in
    /// whatever the index was decoded from).
    pub(crate) fn check_consistency(
        &self,
        props_at: u64,
        entry_at: impl Fn(usize) -> u64,
    ) -> Result<(), ChunkError> {
        let p = &self.properties;
        let f = &self.footer;
        let bad = |what: String| Err(ChunkError::corrupt(props_at, what));
        if !self.entries.len().is_multiple_of(ENTRY_LEN) {
            return Err(ChunkError::corrupt(
                entry_at(self.block_count()),
                "index: partial block handle record",
            ));
        }
        if p.blocks != self.block_count() as u64 {
            return bad(format!(
                "properties say {} blocks, the index has {}",
                p.blocks,
                self.block_count()
            ));
        }
        if p.data_bytes != f.meta_offset
            || p.index_bytes != f.index.len
            || p.filter_bytes != f.filter.len
        {
            return bad("properties sizes disagree with the footer".to_string());
        }
        if p.format_version != f.format_version {
            return bad("properties format version disagrees with the footer".to_string());
        }
        // Data blocks tile [0, meta_offset) in order.
        let mut expect = 0u64;
        for i in 0..self.block_count() {
            let handle = self.handle(i);
            if handle.offset != expect || handle.len < BLOCK_TRAILER_LEN as u64 {
                return Err(ChunkError::corrupt(
                    entry_at(i),
                    format!(
                        "index: block handle {handle:?} does not follow the previous block (expected offset {expect})"
                    ),
                ));
            }
            expect = handle.end();
        }
        if expect != f.meta_offset {
            return Err(ChunkError::corrupt(
                entry_at(self.block_count()),
                format!(
                    "index: data blocks end at {expect}, metadata starts at {}",
                    f.meta_offset
                ),
            ));
        }
        Ok(())
    }

    /// The chunk's properties.
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    /// The chunk's footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// Size of the whole chunk file.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Start of the metadata region.
    pub fn meta_offset(&self) -> u64 {
        self.footer.meta_offset
    }

    /// Bloom filter check: false means no version of `user_key` is in the chunk.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.bloom.may_contain(user_key)
    }

    /// Number of data blocks.
    pub fn block_count(&self) -> usize {
        self.entries.len() / ENTRY_LEN
    }

    /// Field `at` of record `i` (0 if out of range; callers stay in range).
    #[inline]
    fn field(&self, i: usize, at: usize) -> u64 {
        i.checked_mul(ENTRY_LEN)
            .and_then(|p| p.checked_add(at))
            .and_then(|p| get_u64_le(&self.entries, p))
            .unwrap_or(0)
    }

    /// End of separator `i`'s user key in `keys`.
    #[inline]
    pub(crate) fn key_end(&self, i: usize) -> u64 {
        self.field(i, KEY_END_AT)
    }

    #[inline]
    fn seq(&self, i: usize) -> u64 {
        self.field(i, SEQ_AT)
    }

    #[inline]
    fn handle(&self, i: usize) -> BlockHandle {
        BlockHandle {
            offset: self.field(i, OFFSET_AT),
            len: self.field(i, LEN_AT),
        }
    }

    fn assert_block(&self, i: usize) {
        let n = self.block_count();
        assert!(i < n, "block {i} out of range: the chunk has {n} blocks");
    }

    /// Handle of data block `i`.
    ///
    /// # Panics
    /// If `i >= block_count()`.
    pub fn block_handle(&self, i: usize) -> BlockHandle {
        self.assert_block(i);
        self.handle(i)
    }

    /// The separator of data block `i`: an internal key `>=` every key in the
    /// block and `<` every key in the next block.
    ///
    /// # Panics
    /// If `i >= block_count()`.
    pub fn separator(&self, i: usize) -> (&[u8], u64) {
        self.assert_block(i);
        (self.key(i), self.seq(i))
    }

    /// User key of separator `i` (empty if out of range).
    #[inline]
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            Some(p) => self.key_end(p),
            None => 0,
        };
        let end = self.key_end(i);
        let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        self.keys
            .get(to_usize(start)..to_usize(end))
            .unwrap_or_default()
    }

    /// Index of the first block that can hold (user_key, seq) or anything after
    /// it in internal order; `None` if the key is past the end of the chunk.
    ///
    /// For a point lookup of the newest version `<= seq`, the block returned
    /// is the only one that can hold it (see FORMAT.md, "Index block").
    pub fn seek_block(&self, user_key: &[u8], seq: u64) -> Option<usize> {
        // Binary search for the first separator >= (user_key, seq).
        let n = self.block_count();
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            // lo < hi <= n: no overflow, and mid < n.
            let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
            if compare_internal(self.key(mid), self.seq(mid), user_key, seq) == Ordering::Less {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        (lo < n).then_some(lo)
    }

    /// Bytes held by this index (for cache accounting): the struct, the
    /// bloom bits, separator keys and block handles (owned or mapped) and
    /// the properties' keys.
    pub fn memory_usage(&self) -> usize {
        [
            self.keys.len(),
            self.entries.len(),
            self.bloom.memory_usage(),
            self.properties.min_key.capacity(),
            self.properties.max_key.capacity(),
        ]
        .iter()
        .fold(std::mem::size_of::<ChunkIndex>(), |a, b| {
            a.saturating_add(*b)
        })
    }
}

/// Decodes the index block contents into concatenated keys and
/// [`ENTRY_LEN`]-byte records.
fn decode_index(contents: Bytes, offset: u64) -> Result<(Vec<u8>, Vec<u8>), ChunkError> {
    let block = Block::from_contents(contents, offset)?;
    let mut it = block.iter();
    it.seek_to_first()?;
    let mut keys = Vec::new();
    let mut entries = Vec::new();
    let mut prev: Option<(usize, u64)> = None; // (key start, seq) of the previous entry
    while it.valid() {
        if it.meta().is_some() {
            return Err(ChunkError::corrupt(
                offset,
                "index: entry stored with metadata (kind 2)",
            ));
        }
        let mut d = Decoder::new(it.value_slice());
        let handle = match (d.varint(), d.varint()) {
            (Some(offset), Some(len)) if d.is_empty() => BlockHandle { offset, len },
            _ => return Err(ChunkError::corrupt(offset, "index: malformed block handle")),
        };
        let start = keys.len();
        if let Some((pstart, pseq)) = prev {
            let pkey = keys.get(pstart..start).unwrap_or_default();
            if compare_internal(pkey, pseq, it.key(), it.seq()) != Ordering::Less {
                return Err(ChunkError::corrupt(
                    offset,
                    "index: separators out of order",
                ));
            }
        }
        keys.extend_from_slice(it.key());
        put_entry(&mut entries, keys.len() as u64, it.seq(), handle);
        prev = Some((start, it.seq()));
        it.next()?;
    }
    keys.shrink_to_fit();
    entries.shrink_to_fit();
    Ok((keys, entries))
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

    #[test]
    fn separators_sort_between_blocks() {
        let cases: &[(&[u8], u64, &[u8])] = &[
            (b"abcdef", 5, b"abzz"),     // shortened to "abd"
            (b"abc", 5, b"abd"),         // adjacent bytes: last key
            (b"abc", 5, b"abcd"),        // prefix: last key
            (b"same", 9, b"same"),       // one user key spans the blocks
            (b"a\xff\xff", 1, b"b"),     // 'a' + 1 is not below 'b': last key
            (b"", 3, b"x"),              // empty last key
            (b"zz\xffq", 2, b"zz\xffr"), // adjacent bytes after 0xff
        ];
        for &(last, seq, next) in cases {
            let (s, sseq) = separator(last, seq, next);
            assert_ne!(
                compare_internal(&s, sseq, last, seq),
                Ordering::Less,
                "{last:?} {next:?}"
            );
            // The next block's first key is (next, anything < seq if same key).
            let next_seq = if last == next { seq - 1 } else { MAX_SEQ };
            assert_eq!(
                compare_internal(&s, sseq, next, next_seq),
                Ordering::Less,
                "{last:?} {next:?}"
            );
            assert!(s.len() <= last.len());
        }
        assert_eq!(separator(b"abcdef", 5, b"abzz"), (b"abd".to_vec(), MAX_SEQ));
        assert_eq!(separator(b"a\xff\xff", 1, b"b"), (b"a\xff\xff".to_vec(), 1));
        assert_eq!(separator(b"abc", 5, b"abd"), (b"abc".to_vec(), 5));
    }

    fn build(n: u64, block_size: usize) -> (Vec<u8>, crate::ChunkSummary) {
        let opts = crate::ChunkOptions {
            block_size,
            ..crate::ChunkOptions::default()
        };
        let mut b = crate::ChunkBuilder::new(opts, Vec::new());
        for i in 0..n {
            // Every key twice (seq 2i+1 then 2i), so some keys span blocks.
            let key = format!("key{:05}", i * 10);
            for seq in [2 * i + 1, 2 * i] {
                b.add(key.as_bytes(), seq, crate::Kind::Put, &[b'v'; 20])
                    .expect("add");
            }
        }
        b.finish().expect("finish")
    }

    fn open(file: &[u8], s: &crate::ChunkSummary) -> ChunkIndex {
        ChunkIndex::decode(&file[s.meta_offset as usize..], s.meta_offset, s.size).expect("decode")
    }

    #[test]
    fn index_seek_finds_the_block_of_every_key() {
        let (file, s) = build(500, 256);
        let idx = open(&file, &s);
        assert_eq!(idx.block_count() as u64, s.properties.blocks);
        assert!(idx.block_count() > 50);
        assert_eq!(idx.properties(), &s.properties);
        assert!(idx.memory_usage() > idx.block_count() * 16);
        // Before the first key: block 0. After the last: none.
        assert_eq!(idx.seek_block(b"", MAX_SEQ), Some(0));
        assert_eq!(idx.seek_block(b"key99999", 0), None);
        for i in 0..500u64 {
            let key = format!("key{:05}", i * 10);
            for (seq, max_seq) in [(2 * i + 1, 2 * i + 1), (2 * i, 2 * i), (2 * i + 1, MAX_SEQ)] {
                let b = idx.seek_block(key.as_bytes(), max_seq).expect("in range");
                let h = idx.block_handle(b);
                let raw = &file[h.offset as usize..h.end() as usize];
                let block = crate::decode_block(raw, h).expect("block");
                let got = block.get(key.as_bytes(), max_seq).expect("get");
                assert_eq!(got.map(|g| g.0), Some(seq), "{key} @ {max_seq}");
            }
            // Absent keys in between map to a block whose lookup finds nothing.
            let absent = format!("key{:05}", i * 10 + 5);
            if let Some(b) = idx.seek_block(absent.as_bytes(), MAX_SEQ) {
                let h = idx.block_handle(b);
                let raw = &file[h.offset as usize..h.end() as usize];
                let block = crate::decode_block(raw, h).expect("block");
                assert_eq!(block.get(absent.as_bytes(), MAX_SEQ).expect("get"), None);
            }
        }
        // Separators strictly increase and sit between the blocks.
        for i in 1..idx.block_count() {
            let (a, sa) = idx.separator(i - 1);
            let (b, sb) = idx.separator(i);
            assert_eq!(compare_internal(a, sa, b, sb), Ordering::Less);
        }
    }

    #[test]
    fn bloom_through_the_index() {
        let (file, s) = build(300, 4096);
        let idx = open(&file, &s);
        for i in 0..300u64 {
            assert!(idx.may_contain(format!("key{:05}", i * 10).as_bytes()));
        }
        let fp = (0..3000u64)
            .filter(|i| idx.may_contain(format!("other{i}").as_bytes()))
            .count();
        assert!(fp < 150, "{fp} false positives of 3000");
    }

    #[test]
    fn index_entries_with_metadata_are_rejected() {
        let mut b = crate::block::BlockBuilder::new();
        let mut handle = Vec::new();
        encode_handle(&mut handle, BlockHandle { offset: 0, len: 10 });
        let meta = crate::EntryMeta {
            write_ms: 1,
            expires_ms: 0,
        };
        b.add_with_meta(b"k", 1, crate::Kind::Put, &handle, Some(&meta));
        let err = decode_index(Bytes::copy_from_slice(b.finish()), 77).expect_err("kind 2");
        assert!(
            matches!(err, ChunkError::Corrupt { offset: 77, .. }),
            "{err}"
        );
        let mut b = crate::block::BlockBuilder::new();
        b.add(b"k", 1, crate::Kind::Put, &handle);
        decode_index(Bytes::copy_from_slice(b.finish()), 77).expect("kind 1");
    }

    #[test]
    fn region_errors() {
        let (file, s) = build(50, 128);
        let region = &file[s.meta_offset as usize..];
        for cut in 0..region.len() {
            assert!(matches!(
                ChunkIndex::decode(&region[..cut], s.meta_offset, s.size),
                Err(ChunkError::Truncated { .. })
            ));
            // A wrong meta_offset (a suffix of the region) is refused too.
            let off = s.meta_offset + cut as u64 + 1;
            if off < s.size {
                assert!(ChunkIndex::decode(&region[cut + 1..], off, s.size).is_err());
            }
        }
        assert!(ChunkIndex::decode(region, s.size + 1, s.size).is_err());
        let mut longer = region.to_vec();
        longer.push(0);
        assert!(ChunkIndex::decode(&longer, s.meta_offset, s.size).is_err());
        for i in 0..region.len() {
            let mut bad = region.to_vec();
            bad[i] ^= 0x10;
            assert!(
                ChunkIndex::decode(&bad, s.meta_offset, s.size).is_err(),
                "flip at region byte {i} undetected"
            );
        }
    }
}

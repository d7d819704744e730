//! The local index file: a copy of a chunk's opened metadata in a layout that
//! [`ChunkIndex`] queries in place, so that a reader can memory-map it and
//! keep no heap copy of the bloom filter, separator keys or block handles.
//! See FORMAT.md, "Local index file".

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cmp::Ordering;

use bytes::Bytes;

use crate::bloom::{Bloom, MAX_PROBES};
use crate::coding::{crc32, get_u32_le, get_u64_le};
use crate::index::ENTRY_LEN;
use crate::{compare_internal, ChunkError, ChunkIndex, Footer, Properties, FOOTER_LEN, MAX_SEQ};

// Local index file layout, version 1 (all integers little-endian):
//
//   offset 0
//   +---------------------------------------------------------------+
//   | header (64 bytes)                                             |
//   |   0  magic "FIRNLIDX" (8)   8  format_version u32 (= 1)       |
//   |  12  header_len u32 (= 64) 16  chunk file_size u64            |
//   |  24  meta_offset u64       32  block_count u64                |
//   |  40  keys_len u64          48  bloom_len u64                  |
//   |  56  bloom_k u32           60  properties_len u32             |
//   +---------------------------------------------------------------+  64
//   | chunk footer (72 bytes, exactly as at the end of the chunk)   |
//   +---------------------------------------------------------------+  136
//   | properties (properties_len bytes, the properties block        |
//   |   payload of the chunk)                                       |
//   | zero padding to a multiple of 8                               |
//   +---------------------------------------------------------------+  <- entries_at
//   | entries: block_count records of 32 bytes                      |
//   |   key_end u64 | seq u64 | block offset u64 | block len u64    |
//   +---------------------------------------------------------------+
//   | keys: keys_len bytes, the separator user keys concatenated    |
//   |   (key i is keys[key_end(i-1) .. key_end(i)], key_end(-1) = 0)|
//   +---------------------------------------------------------------+
//   | bloom bits: bloom_len bytes (the filter block's bit array)    |
//   +---------------------------------------------------------------+
//   | trailer (8 bytes): crc32 u32 of every byte before it          |
//   |   | magic "FIDX" (4)                                          |
//   +---------------------------------------------------------------+  <- EOF
//
// The entries start 8-byte aligned within the file, but readers assume no
// alignment. The file must end exactly after the trailer.

/// The 8 bytes that start a local index file.
const LOCAL_MAGIC: [u8; 8] = *b"FIRNLIDX";
/// The newest local index format version this build writes and reads.
pub(crate) const LOCAL_VERSION: u32 = 1;
/// Size of the header.
const HEADER_LEN: usize = 64;
const VERSION_AT: usize = 8;
const HEADER_LEN_AT: usize = 12;
const FILE_SIZE_AT: usize = 16;
const META_OFFSET_AT: usize = 24;
const BLOCK_COUNT_AT: usize = 32;
const KEYS_LEN_AT: usize = 40;
const BLOOM_LEN_AT: usize = 48;
const BLOOM_K_AT: usize = 56;
const PROPS_LEN_AT: usize = 60;
/// Where the chunk footer starts.
const FOOTER_AT: usize = HEADER_LEN;
/// Where the properties start.
const PROPS_AT: usize = FOOTER_AT + FOOTER_LEN;
/// The entries start at a multiple of this.
const ENTRIES_ALIGN: u64 = 8;
/// Size of the trailer: crc32 (4) and magic (4).
const TRAILER_LEN: usize = 8;
/// The 4 bytes that end a local index file.
const TRAILER_MAGIC: [u8; 4] = *b"FIDX";
/// The smallest possible file: header, footer and trailer.
const MIN_LEN: u64 = (PROPS_AT + TRAILER_LEN) as u64;

/// `file[a..b]` without copying, or an error naming `a`.
fn section(file: &Bytes, a: u64, b: u64) -> Result<Bytes, ChunkError> {
    let (start, end) = (usize::try_from(a).ok(), usize::try_from(b).ok());
    match start.zip(end) {
        Some((s, e)) if s <= e && e <= file.len() => Ok(file.slice(s..e)),
        _ => Err(ChunkError::corrupt(
            a,
            "section outside the local index file",
        )),
    }
}

impl ChunkIndex {
    /// Encodes this index as a local index file (FORMAT.md, "Local index
    /// file"), which [`ChunkIndex::decode_local`] opens without copying the
    /// bloom filter, separator keys or block handles.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "encoder: section sizes of an index held in memory cannot overflow usize"
    )]
    pub fn encode_local(&self) -> Vec<u8> {
        let props = self.properties.encode();
        let bits = self.bloom.bits();
        let entries_at = ((PROPS_AT + props.len()) as u64).next_multiple_of(ENTRIES_ALIGN) as usize;
        let total = entries_at + self.entries.len() + self.keys.len() + bits.len() + TRAILER_LEN;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&LOCAL_MAGIC);
        out.extend_from_slice(&LOCAL_VERSION.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        for v in [
            self.file_size,
            self.footer.meta_offset,
            self.block_count() as u64,
            self.keys.len() as u64,
            bits.len() as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.bloom.k().to_le_bytes());
        // Properties hold two keys of at most MAX_ENTRY_BYTES (1 GiB) each, so
        // their encoding fits a u32; a larger one (which no builder writes)
        // gives a file that fails to decode rather than a wrong one.
        let props_len = u32::try_from(props.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&props_len.to_le_bytes());
        out.extend_from_slice(&self.footer.encode());
        out.extend_from_slice(&props);
        out.resize(entries_at, 0);
        out.extend_from_slice(&self.entries);
        out.extend_from_slice(&self.keys);
        out.extend_from_slice(bits);
        let crc = crc32(&[&out]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&TRAILER_MAGIC);
        out
    }

    /// Opens a local index file written by [`ChunkIndex::encode_local`].
    ///
    /// The bloom filter bits, separator keys and block handles stay in `file`
    /// (typically a memory-mapped file wrapped with [`Bytes::from_owner`]) and
    /// are queried in place; only the footer and properties are decoded.
    /// Verifies the magic, version, section lengths (the file must end exactly
    /// after the trailer), the CRC-32 over the whole file, and every check
    /// [`ChunkIndex::decode`] makes. Errors name byte offsets within `file`.
    pub fn decode_local(file: Bytes) -> Result<ChunkIndex, ChunkError> {
        let size = file.len() as u64;
        let truncated = |needed: u64| ChunkError::Truncated { size, needed };
        let magic = file.get(..LOCAL_MAGIC.len()).ok_or(truncated(MIN_LEN))?;
        if magic != LOCAL_MAGIC {
            return Err(ChunkError::corrupt(
                0,
                format!(
                    "not a local index file: expected magic \"FIRNLIDX\", found \"{}\"",
                    magic.escape_ascii()
                ),
            ));
        }
        // The version comes before everything else it could change.
        let version = get_u32_le(&file, VERSION_AT).ok_or(truncated(MIN_LEN))?;
        if version > LOCAL_VERSION {
            return Err(ChunkError::UnsupportedLocalIndexVersion {
                found: version,
                supported: LOCAL_VERSION,
            });
        }
        if version == 0 {
            return Err(ChunkError::corrupt(
                VERSION_AT as u64,
                "local index format version 0",
            ));
        }
        let header_len = get_u32_le(&file, HEADER_LEN_AT).ok_or(truncated(MIN_LEN))?;
        if header_len as usize != HEADER_LEN {
            return Err(ChunkError::corrupt(
                HEADER_LEN_AT as u64,
                format!("header length {header_len}, expected {HEADER_LEN}"),
            ));
        }
        if size < MIN_LEN {
            return Err(truncated(MIN_LEN));
        }
        let u64_at = |at: usize| get_u64_le(&file, at).unwrap_or_default();
        let u32_at = |at: usize| get_u32_le(&file, at).unwrap_or_default();
        let file_size = u64_at(FILE_SIZE_AT);
        let meta_offset = u64_at(META_OFFSET_AT);
        let block_count = u64_at(BLOCK_COUNT_AT);
        let keys_len = u64_at(KEYS_LEN_AT);
        let bloom_len = u64_at(BLOOM_LEN_AT);
        let bloom_k = u32_at(BLOOM_K_AT);
        let props_len = u32_at(PROPS_LEN_AT) as u64;

        // Section boundaries; the file must end exactly after the trailer.
        let props_end = props_len.saturating_add(PROPS_AT as u64);
        let entries_at = props_end.next_multiple_of(ENTRIES_ALIGN);
        let keys_at = block_count
            .checked_mul(ENTRY_LEN as u64)
            .and_then(|n| entries_at.checked_add(n));
        let bloom_at = keys_at.and_then(|a| a.checked_add(keys_len));
        let trailer_at = bloom_at.and_then(|a| a.checked_add(bloom_len));
        let total = trailer_at.and_then(|a| a.checked_add(TRAILER_LEN as u64));
        let (Some(keys_at), Some(bloom_at), Some(trailer_at), Some(total)) =
            (keys_at, bloom_at, trailer_at, total)
        else {
            return Err(ChunkError::corrupt(
                BLOCK_COUNT_AT as u64,
                "section lengths overflow",
            ));
        };
        if total > size {
            return Err(truncated(total));
        }
        if total < size {
            return Err(ChunkError::corrupt(
                total,
                format!(
                    "{} trailing bytes after the trailer",
                    size.saturating_sub(total)
                ),
            ));
        }
        let trailer = section(&file, trailer_at, total)?;
        if trailer.get(4..) != Some(&TRAILER_MAGIC[..]) {
            return Err(ChunkError::corrupt(
                trailer_at.saturating_add(4),
                "missing trailer magic \"FIDX\"",
            ));
        }
        let covered = section(&file, 0, trailer_at)?;
        if get_u32_le(&trailer, 0) != Some(crc32(&[&covered])) {
            return Err(ChunkError::corrupt(
                trailer_at,
                "local index checksum mismatch",
            ));
        }
        let padding = section(&file, props_end, entries_at)?;
        if padding.iter().any(|&b| b != 0) {
            return Err(ChunkError::corrupt(props_end, "nonzero padding"));
        }

        let footer_bytes = section(&file, FOOTER_AT as u64, PROPS_AT as u64)?;
        let footer = Footer::decode(&footer_bytes, file_size).map_err(|e| match e {
            e @ ChunkError::UnsupportedVersion { .. } => e,
            ChunkError::Corrupt { detail, .. } => {
                ChunkError::corrupt(FOOTER_AT as u64, format!("chunk footer: {detail}"))
            }
            other => ChunkError::corrupt(FOOTER_AT as u64, format!("chunk footer: {other}")),
        })?;
        if footer.meta_offset != meta_offset {
            return Err(ChunkError::corrupt(
                META_OFFSET_AT as u64,
                format!(
                    "header says the metadata starts at {meta_offset}, the footer at {}",
                    footer.meta_offset
                ),
            ));
        }
        let props_bytes = section(&file, PROPS_AT as u64, props_end)?;
        let properties = Properties::decode(&props_bytes, PROPS_AT as u64)?;
        let bits = section(&file, bloom_at, trailer_at)?;
        let bloom = Bloom::from_bits(bits, bloom_k).ok_or_else(|| {
            ChunkError::corrupt(
                BLOOM_K_AT as u64,
                format!("bloom filter declares {bloom_k} probes, at most {MAX_PROBES} allowed"),
            )
        })?;
        let idx = ChunkIndex {
            footer,
            file_size,
            properties,
            bloom,
            keys: section(&file, keys_at, bloom_at)?,
            entries: section(&file, entries_at, keys_at)?,
        };
        let entry_at =
            |i: usize| entries_at.saturating_add((i as u64).saturating_mul(ENTRY_LEN as u64));
        idx.check_consistency(PROPS_AT as u64, entry_at)?;
        check_separators(&idx, entry_at, keys_at)?;
        Ok(idx)
    }
}

/// Checks that the key ends of `idx` are non-decreasing and within its keys,
/// that every key byte belongs to a separator, and that the separators
/// strictly increase in internal order.
fn check_separators(
    idx: &ChunkIndex,
    entry_at: impl Fn(usize) -> u64,
    keys_at: u64,
) -> Result<(), ChunkError> {
    let keys_len = idx.keys.len() as u64;
    let mut prev_end = 0u64;
    for i in 0..idx.block_count() {
        let bad = |what: String| Err(ChunkError::corrupt(entry_at(i), what));
        let end = idx.key_end(i);
        if end < prev_end || end > keys_len {
            return bad(format!(
                "index record {i}: key end {end} outside [{prev_end}, {keys_len}]"
            ));
        }
        let (key, seq) = idx.separator(i);
        if seq > MAX_SEQ {
            return bad(format!("index record {i}: sequence number {seq} too large"));
        }
        if let Some(p) = i.checked_sub(1) {
            let (pkey, pseq) = idx.separator(p);
            if compare_internal(pkey, pseq, key, seq) != Ordering::Less {
                return bad(format!("index record {i}: separators out of order"));
            }
        }
        prev_end = end;
    }
    if prev_end != keys_len {
        return Err(ChunkError::corrupt(
            keys_at.saturating_add(prev_end),
            format!(
                "{} key bytes belong to no separator",
                keys_len.saturating_sub(prev_end)
            ),
        ));
    }
    Ok(())
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

    fn sample() -> ChunkIndex {
        let opts = crate::ChunkOptions {
            block_size: 200,
            ..crate::ChunkOptions::default()
        };
        let mut b = crate::ChunkBuilder::new(opts, Vec::new());
        for i in 0..300u64 {
            let key = format!("key{:05}", i * 7);
            b.add(key.as_bytes(), i + 1, crate::Kind::Put, &[b'v'; 30])
                .expect("add");
        }
        let (file, s) = b.finish().expect("finish");
        ChunkIndex::decode(&file[s.meta_offset as usize..], s.meta_offset, s.size).expect("decode")
    }

    /// True if `part` lies inside `whole`'s memory.
    fn inside(part: &Bytes, whole: &Bytes) -> bool {
        let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
        p >= w && p + part.len() <= w + whole.len()
    }

    #[test]
    fn decode_local_shares_the_file_memory() {
        let idx = sample();
        assert!(idx.block_count() > 20);
        let encoded = idx.encode_local();
        // An unaligned start, and an owner that is not a Vec (as a mapping is).
        struct Owner(Vec<u8>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        let mut padded = vec![0xaa];
        padded.extend_from_slice(&encoded);
        let file = Bytes::from_owner(Owner(padded)).slice(1..);
        assert_eq!(file.as_ptr() as usize % 2, 1);
        let local = ChunkIndex::decode_local(file.clone()).expect("decodes");
        for part in [&local.keys, &local.entries, local.bloom.bits()] {
            assert!(!part.is_empty());
            assert!(inside(part, &file), "a section was copied");
        }
        assert_eq!(local.keys, idx.keys);
        assert_eq!(local.entries, idx.entries);
        assert_eq!(local.bloom.bits(), idx.bloom.bits());
        assert_eq!(local.bloom.k(), idx.bloom.k());
        assert_eq!(local.memory_usage(), idx.memory_usage());
        // Re-encoding gives the same bytes.
        assert_eq!(local.encode_local(), encoded);
        // Dropping the file handle keeps the sections alive through the index.
        drop(file);
        assert_eq!(local.seek_block(b"key00000", MAX_SEQ), Some(0));
    }

    #[test]
    fn layout_matches_the_documentation() {
        let idx = sample();
        let enc = idx.encode_local();
        assert_eq!(&enc[..8], b"FIRNLIDX");
        assert_eq!(get_u32_le(&enc, VERSION_AT), Some(1));
        assert_eq!(get_u32_le(&enc, HEADER_LEN_AT), Some(64));
        assert_eq!(get_u64_le(&enc, FILE_SIZE_AT), Some(idx.file_size()));
        assert_eq!(get_u64_le(&enc, META_OFFSET_AT), Some(idx.meta_offset()));
        assert_eq!(
            get_u64_le(&enc, BLOCK_COUNT_AT),
            Some(idx.block_count() as u64)
        );
        assert_eq!(&enc[FOOTER_AT..PROPS_AT], &idx.footer().encode()[..]);
        let props_len = get_u32_le(&enc, PROPS_LEN_AT).expect("field") as usize;
        let entries_at = (PROPS_AT + props_len).next_multiple_of(8);
        assert_eq!(
            &enc[entries_at..entries_at + idx.entries.len()],
            &idx.entries[..]
        );
        assert_eq!(&enc[enc.len() - 4..], b"FIDX");
        let crc = crc32fast::hash(&enc[..enc.len() - 8]);
        assert_eq!(get_u32_le(&enc, enc.len() - 8), Some(crc));
    }

    #[test]
    fn errors_name_local_offsets() {
        let enc = sample().encode_local();
        let n = enc.len() as u64;
        let mut bad = enc.clone();
        bad[0] = b'X';
        assert!(matches!(
            ChunkIndex::decode_local(Bytes::from(bad)),
            Err(ChunkError::Corrupt { offset: 0, .. })
        ));
        let mut bad = enc.clone();
        bad[PROPS_AT] ^= 1;
        assert!(matches!(
            ChunkIndex::decode_local(Bytes::from(bad)),
            Err(ChunkError::Corrupt { offset, .. }) if offset == n - 8
        ));
        let mut longer = enc.clone();
        longer.push(0);
        assert!(matches!(
            ChunkIndex::decode_local(Bytes::from(longer)),
            Err(ChunkError::Corrupt { offset, .. }) if offset == n
        ));
        assert!(matches!(
            ChunkIndex::decode_local(Bytes::from(enc[..enc.len() - 1].to_vec())),
            Err(ChunkError::Truncated { needed, .. }) if needed == n
        ));
    }
}

//! The chunk: Firn's immutable sorted file format.
//!
//! A chunk holds entries `(user key, seq, kind, value)` sorted by internal key
//! order ([`compare_internal`]: user key ascending, then sequence number
//! descending, so the newest version of a key comes first). This crate is pure
//! bytes in, bytes out:
//!
//! * [`ChunkBuilder`] streams sorted entries into any [`std::io::Write`];
//! * [`Footer`], [`ChunkIndex`] and [`decode_block`] decode the pieces a reader
//!   fetches with ranged reads (one for the metadata region, one per block);
//! * [`ChunkIndex::encode_local`] and [`ChunkIndex::decode_local`] keep a
//!   chunk's index in a local file that is queried in place (memory-mapped);
//! * [`ChunkReader`] ties them together over any [`RangeRead`] for tools and
//!   tests.
//!
//! Every decoder returns an error, never panics, for any input; every byte of
//! a chunk is covered by a CRC-32. The byte layout is specified in `FORMAT.md`
//! next to this crate's manifest.
//!
//! ```
//! use firn_chunk::{ChunkBuilder, ChunkOptions, ChunkReader, Kind};
//!
//! let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
//! b.add(b"apple", 7, Kind::Put, b"red")?;
//! b.add(b"apple", 3, Kind::Put, b"green")?;
//! b.add(b"pear", 5, Kind::Delete, b"")?;
//! let (file, summary) = b.finish()?;
//! assert_eq!(summary.size, file.len() as u64);
//!
//! let r = ChunkReader::open(bytes::Bytes::from(file))?;
//! let (seq, kind, value) = r.get(b"apple", 5)?.expect("visible at seq 5");
//! assert_eq!((seq, kind, &value[..]), (3, Kind::Put, &b"green"[..]));
//! # Ok::<(), firn_chunk::ChunkError>(())
//! ```
//!
//! Puts may carry an [`EntryMeta`] (write time and optional expiry, format
//! version 2):
//!
//! ```
//! use firn_chunk::{ChunkBuilder, ChunkOptions, ChunkReader, EntryMeta, Kind};
//!
//! let meta = EntryMeta { write_ms: 1_764_547_200_000, expires_ms: 1_764_550_800_000 };
//! let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
//! b.add_with_meta(b"session", 9, Kind::Put, b"token", Some(meta))?;
//! let (file, summary) = b.finish()?;
//! assert_eq!(summary.properties.expiring, 1);
//!
//! let r = ChunkReader::open(bytes::Bytes::from(file))?;
//! let (seq, kind, value, got) = r.get_with_meta(b"session", 9)?.expect("present");
//! assert_eq!((seq, kind, &value[..], got), (9, Kind::Put, &b"token"[..], Some(meta)));
//! assert!(got.is_some_and(|m| m.is_expired_at(1_764_550_800_000)));
//! # Ok::<(), firn_chunk::ChunkError>(())
//! ```

#![deny(missing_docs)]

mod block;
mod block_iter;
mod bloom;
mod builder;
mod coding;
mod error;
mod footer;
mod index;
mod key_cmp;
mod local_index;
mod meta;
mod properties;
mod range_del;
mod reader;

use std::cmp::Ordering;

pub use block::{decode_block, Block, BlockHandle};
pub use block_iter::BlockIter;
pub use bloom::key_hash;
pub use builder::{ChunkBuilder, ChunkSummary, MAX_ENTRY_BYTES};
pub use error::ChunkError;
pub use footer::{Footer, FOOTER_LEN, MAGIC};
pub use index::ChunkIndex;
pub use meta::EntryMeta;
pub use properties::Properties;
pub use range_del::{inclusive_bound, successor, Fragment, RangeTombstone, RangeTombstones};
pub use reader::{ChunkReader, Entry, RangeRead};

// Chunk file layout (all integers little-endian; see FORMAT.md for every byte):
//
//   offset 0
//   +------------------------+
//   | data block 0           |  payload (raw or zstd) | type u8 | crc32 u32
//   | data block 1           |
//   | ...                    |
//   | data block n-1         |
//   +------------------------+  <- meta_offset: one ranged read from here to EOF
//   | index block            |  separator internal key -> (offset, len) per data block
//   | filter block           |  bloom bits over user keys | k u8
//   | properties block       |  counts, key/seq range, sizes
//   +------------------------+
//   | footer (FOOTER_LEN)    |  3 handles | meta_offset | format_version | magic | crc32
//   +------------------------+  <- EOF
//
// Every block ends with the 5-byte block trailer (compression type + CRC-32 over
// payload and type), the footer ends with its own CRC-32, and the blocks tile
// the file without gaps, so every byte of a chunk is covered by a checksum.

/// The chunk format version this build writes, and the newest it reads.
///
/// Version history (FORMAT.md, "Versioning"):
///
/// * 1: the original format.
/// * 2: puts may carry an [`EntryMeta`] (stored entry kind 2, "put with
///   metadata"), and the properties block ends with `expiring` and
///   `min_expires_ms`. Everything else is unchanged, and readers still open
///   version 1 chunks.
/// * 3: range tombstones, fragmented, at the end of the properties block; a
///   chunk may hold range tombstones alone (no entries, no data blocks).
pub const FORMAT_VERSION: u32 = 3;

/// The largest sequence number: sequence numbers have 56 bits, the low 8 bits
/// of the stored 64-bit trailer hold the [`Kind`].
pub const MAX_SEQ: u64 = (1 << 56) - 1;

/// Default target size of a data block before compression, chosen by
/// measurement (FORMAT.md, "Choosing the block size").
pub const DEFAULT_BLOCK_SIZE: usize = 32 * 1024;

/// Default zstd compression level for data blocks.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 3;

/// Default bloom filter budget (~0.8% false positives).
pub const DEFAULT_BLOOM_BITS_PER_KEY: u32 = 10;

/// What an entry records about its key.
///
/// These are also the kind bytes stored in an entry trailer, with one more
/// stored kind that is not a `Kind` of its own: `2`, a put with an
/// [`EntryMeta`] (format version 2), which readers report as [`Kind::Put`]
/// plus the metadata (FORMAT.md, "Internal keys").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A tombstone: the key was deleted at this sequence number.
    Delete = 0,
    /// The key was set to the entry's value at this sequence number.
    Put = 1,
}

impl Kind {
    /// The kind whose number is `b` (0 or 1), if any. The stored kind 2 (a
    /// put with metadata) is not a `Kind` number: this returns `None` for it,
    /// and the block decoder maps it to [`Kind::Put`] itself.
    pub fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            _ => None,
        }
    }
}

/// Internal key order: user key ascending (bytewise), then sequence number
/// descending (newest first). The kind does not take part: sequence numbers are
/// unique per key.
#[inline]
pub fn compare_internal(a_key: &[u8], a_seq: u64, b_key: &[u8], b_seq: u64) -> Ordering {
    a_key.cmp(b_key).then(b_seq.cmp(&a_seq))
}

/// How a [`ChunkBuilder`] lays out a chunk.
#[derive(Clone, Debug)]
pub struct ChunkOptions {
    /// Target size of a data block before compression. A block is closed as
    /// soon as it reaches this size, so a block holds at least one entry and
    /// may exceed the target by up to one entry. Clamped to 1 byte..=1 GiB.
    pub block_size: usize,
    /// zstd level for data blocks (negative levels are zstd's fast modes,
    /// 0 means zstd's default). A block that does not shrink is stored raw.
    pub compression_level: i32,
    /// Bloom filter bits per distinct user key; 0 disables the filter (every
    /// lookup then reads a block).
    pub bloom_bits_per_key: u32,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            block_size: DEFAULT_BLOCK_SIZE,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            bloom_bits_per_key: DEFAULT_BLOOM_BITS_PER_KEY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_order_is_key_asc_seq_desc() {
        assert_eq!(compare_internal(b"a", 1, b"b", 9), Ordering::Less);
        assert_eq!(compare_internal(b"a", 9, b"a", 1), Ordering::Less);
        assert_eq!(compare_internal(b"a", 1, b"a", 1), Ordering::Equal);
        assert_eq!(compare_internal(b"", 0, b"\x00", MAX_SEQ), Ordering::Less);
        assert_eq!(Kind::from_u8(0), Some(Kind::Delete));
        assert_eq!(Kind::from_u8(1), Some(Kind::Put));
        assert_eq!(Kind::from_u8(2), None);
    }

    #[test]
    fn public_types_are_thread_safe() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Block>();
        send_sync::<BlockIter>();
        send_sync::<ChunkIndex>();
        send_sync::<ChunkError>();
        send_sync::<ChunkReader<bytes::Bytes>>();
        send_sync::<EntryMeta>();
        send::<ChunkBuilder<Vec<u8>>>();
    }
}

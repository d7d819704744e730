//! Blocks: the entry encoding, the block builder, the block trailer
//! (compression type + CRC-32) and the decoded [`Block`].
//!
//! Layout (FORMAT.md, "Data blocks"):
//!
//! ```text
//! contents := entry* restart_offset{n} n
//! entry    := shared:varint unshared:varint value_len:varint
//!             key_delta[unshared] trailer:u64 value[value_len]
//! trailer  := seq << 8 | kind          (kind: 0 delete, 1 put, 2 put with metadata)
//! value    := user_value                                      (kind 0 and 1)
//!           | write_ms:varint expires_ms:varint user_value    (kind 2)
//! stored   := payload type:u8 crc32:u32      (crc32 over payload ++ type)
//! payload  := contents                                   (type 0)
//!           | uncompressed_len:varint zstd_frame         (type 1)
//! ```

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cell::RefCell;
use std::fmt;
use std::io::Read;

use bytes::Bytes;

use crate::coding::{crc32, get_u32_le, get_varint, put_varint, varint_len};
use crate::{ChunkError, EntryMeta, Kind};

/// Entries between restart points (a restart entry stores its full key).
pub(crate) const RESTART_INTERVAL: usize = 16;
/// Bytes after every stored block: compression type (1) + CRC-32 (4).
pub(crate) const BLOCK_TRAILER_LEN: usize = 5;
/// Compression type: payload is the block contents.
pub(crate) const COMPRESSION_NONE: u8 = 0;
/// Compression type: payload is `varint(uncompressed length) ++ zstd frame`.
pub(crate) const COMPRESSION_ZSTD: u8 = 1;
/// Bytes of the fixed-width entry trailer `seq << 8 | kind`.
pub(crate) const ENTRY_TRAILER_LEN: usize = 8;

// Stored entry kinds: the low byte of the entry trailer (FORMAT.md, "Internal
// keys"). Frozen: chunks on disk hold these numbers, never renumber.
//
//   kind  meaning              value field (value_len bytes)
//   ----  -------------------  ------------------------------------------------
//     0   delete (tombstone)   user value (empty as written)
//     1   put                  user value
//     2   put with metadata    write_ms:varint ++ expires_ms:varint ++ user value
//                              (format version 2; read as Kind::Put + EntryMeta)
//
// 0 and 1 are the numbers of `Kind::Delete` and `Kind::Put`.

/// Stored kind of a tombstone (= `Kind::Delete as u8`). Frozen, never renumber.
pub(crate) const STORED_DELETE: u8 = 0;
/// Stored kind of a put without metadata (= `Kind::Put as u8`). Frozen, never
/// renumber.
pub(crate) const STORED_PUT: u8 = 1;
/// Stored kind of a put with an [`EntryMeta`] prefix in its value field
/// (format version 2). Frozen, never renumber.
pub(crate) const STORED_PUT_WITH_META: u8 = 2;

const _: () = assert!(Kind::Delete as u8 == STORED_DELETE && Kind::Put as u8 == STORED_PUT);

/// Largest decompressed block a reader accepts (restart offsets are u32).
const MAX_CONTENTS_LEN: u64 = u32::MAX as u64;
/// Decompressed sizes up to this bound, or up to `FAST_PATH_RATIO` times the
/// compressed size, are decompressed into a buffer allocated up front; larger
/// claims are decompressed incrementally so that memory only grows with
/// output zstd actually produces.
const FAST_PATH_BOUND: u64 = 1 << 20;
const FAST_PATH_RATIO: u64 = 64;

/// Where a stored block lives in the chunk file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct BlockHandle {
    /// Absolute offset of the block's first byte.
    pub offset: u64,
    /// Stored length: payload (compressed or raw) plus the 5-byte trailer.
    pub len: u64,
}

impl BlockHandle {
    /// The offset one past the block's last byte (saturating).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// Accumulates entries into the uncompressed contents of one block.
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    entries: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    pub(crate) fn new() -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            counter: 0,
            entries: 0,
            last_key: Vec::new(),
        }
    }

    /// Number of entries added since the last reset.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Size of the contents [`BlockBuilder::finish`] would produce.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "encoder: a block stays far below usize::MAX bytes"
    )]
    pub(crate) fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * (self.restarts.len().max(1) + 1)
    }

    /// Appends an entry without metadata (stored kind 0 or 1, as in format
    /// version 1).
    pub(crate) fn add(&mut self, key: &[u8], seq: u64, kind: Kind, value: &[u8]) {
        self.add_with_meta(key, seq, kind, value, None);
    }

    /// Appends an entry. With `meta`, the entry is stored with kind
    /// [`STORED_PUT_WITH_META`] and the metadata prefix ahead of `value`; the
    /// caller guarantees that `kind` is then [`Kind::Put`]. The caller also
    /// guarantees internal key order and that the block stays below 4 GiB.
    #[allow(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        reason = "encoder: `shared` is a common prefix length of `key`, and counters count \
                  entries of a block below 4 GiB"
    )]
    pub(crate) fn add_with_meta(
        &mut self,
        key: &[u8],
        seq: u64,
        kind: Kind,
        value: &[u8],
        meta: Option<&EntryMeta>,
    ) {
        debug_assert!(
            meta.is_none() || kind == Kind::Put,
            "only puts carry metadata"
        );
        let shared = if self.counter < RESTART_INTERVAL && self.entries > 0 {
            common_prefix(&self.last_key, key)
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let unshared = &key[shared..];
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, unshared.len() as u64);
        let (stored_kind, prefix_len) = match meta {
            Some(m) => (STORED_PUT_WITH_META, m.prefix_len()),
            None => (kind as u8, 0),
        };
        put_varint(&mut self.buf, (prefix_len + value.len()) as u64);
        self.buf.extend_from_slice(unshared);
        self.buf
            .extend_from_slice(&((seq << 8) | u64::from(stored_kind)).to_le_bytes());
        if let Some(m) = meta {
            m.encode_prefix(&mut self.buf);
        }
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(unshared);
        self.counter += 1;
        self.entries += 1;
    }

    /// Appends the restart array and returns the finished contents. The
    /// builder must be [`reset`](BlockBuilder::reset) before reuse.
    pub(crate) fn finish(&mut self) -> &[u8] {
        if self.restarts.is_empty() {
            self.restarts.push(0);
        }
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        &self.buf
    }

    /// Clears the builder for the next block, keeping its allocations.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.entries = 0;
        self.last_key.clear();
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Appends `contents` as a stored block to `out`: zstd-compressed when a
/// compressor is given and compression shrinks it, raw otherwise; then the
/// trailer. Returns the stored length.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "encoder: `n` is what zstd wrote into `scratch`, `start` a length of `out`"
)]
pub(crate) fn seal_block(
    contents: &[u8],
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let start = out.len();
    let mut kind = COMPRESSION_NONE;
    if let Some(c) = compressor {
        scratch.clear();
        scratch.reserve(zstd::zstd_safe::compress_bound(contents.len()));
        let n = c.compress_to_buffer(contents, scratch)?;
        if varint_len(contents.len() as u64) + n < contents.len() {
            kind = COMPRESSION_ZSTD;
            put_varint(out, contents.len() as u64);
            out.extend_from_slice(&scratch[..n]);
        }
    }
    if kind == COMPRESSION_NONE {
        out.extend_from_slice(contents);
    }
    out.push(kind);
    let crc = crc32(&[&out[start..]]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out.len() - start)
}

/// Checks the trailer and CRC of a stored block and returns its contents
/// (decompressed if needed). `offset` is the block's absolute file offset.
pub(crate) fn unseal_block(raw: &[u8], offset: u64) -> Result<Bytes, ChunkError> {
    let body_len = raw
        .len()
        .checked_sub(BLOCK_TRAILER_LEN)
        .ok_or_else(|| ChunkError::corrupt(offset, "block shorter than its trailer"))?;
    let crc_stored = get_u32_le(raw, body_len.saturating_add(1))
        .ok_or_else(|| ChunkError::corrupt(offset, "block trailer out of range"))?;
    let checked = raw.get(..body_len.saturating_add(1)).unwrap_or_default();
    if crc32(&[checked]) != crc_stored {
        return Err(ChunkError::corrupt(offset, "block checksum mismatch"));
    }
    let payload = raw.get(..body_len).unwrap_or_default();
    match raw.get(body_len).copied() {
        Some(COMPRESSION_NONE) => Ok(Bytes::copy_from_slice(payload)),
        Some(COMPRESSION_ZSTD) => decompress(payload, offset).map(Bytes::from),
        Some(t) => Err(ChunkError::corrupt(
            offset,
            format!("unknown block compression type {t}"),
        )),
        None => Err(ChunkError::corrupt(offset, "block trailer out of range")),
    }
}

thread_local! {
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn decompress(payload: &[u8], offset: u64) -> Result<Vec<u8>, ChunkError> {
    let (declared, n) = get_varint(payload)
        .ok_or_else(|| ChunkError::corrupt(offset, "bad uncompressed length"))?;
    if declared > MAX_CONTENTS_LEN {
        return Err(ChunkError::corrupt(
            offset,
            format!("uncompressed length {declared} too large"),
        ));
    }
    let frame = payload.get(n..).unwrap_or_default();
    let bound = FAST_PATH_BOUND.max((frame.len() as u64).saturating_mul(FAST_PATH_RATIO));
    let fail = |e: std::io::Error| ChunkError::corrupt(offset, format!("zstd: {e}"));
    let out = if declared <= bound {
        let mut out = Vec::with_capacity(declared as usize);
        DCTX.with(|cell| -> Result<(), ChunkError> {
            let mut slot = cell.try_borrow_mut().map_err(|_| {
                ChunkError::corrupt(offset, "zstd decompressor busy (reentrant call)")
            })?;
            if slot.is_none() {
                *slot = Some(zstd::bulk::Decompressor::new().map_err(fail)?);
            }
            match slot.as_mut() {
                Some(d) => d
                    .decompress_to_buffer(frame, &mut out)
                    .map(drop)
                    .map_err(fail),
                None => Err(ChunkError::corrupt(offset, "zstd decompressor unavailable")),
            }
        })?;
        out
    } else {
        let mut dec = zstd::stream::read::Decoder::with_buffer(frame).map_err(fail)?;
        let mut out = Vec::new();
        (&mut dec)
            .take(declared.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(fail)?;
        out
    };
    if out.len() as u64 != declared {
        return Err(ChunkError::corrupt(
            offset,
            format!(
                "block decompressed to {} bytes, header says {declared}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// A decoded data (or index) block: checksum-verified, decompressed, restart
/// array validated. Cheap to clone (the contents are shared [`Bytes`]).
#[derive(Clone)]
pub struct Block {
    pub(crate) data: Bytes,
    /// Offset within `data` where the restart array starts (= end of entries).
    pub(crate) restarts: usize,
    pub(crate) num_restarts: usize,
    /// Absolute file offset of the stored block, for error messages.
    pub(crate) offset: u64,
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("offset", &self.offset)
            .field("contents_len", &self.data.len())
            .field("restarts", &self.num_restarts)
            .finish()
    }
}

/// Verifies and decodes one stored block. `raw` is exactly the bytes named by
/// `handle`; `handle.offset` is used only in error messages.
pub fn decode_block(raw: &[u8], handle: BlockHandle) -> Result<Block, ChunkError> {
    if raw.len() as u64 != handle.len {
        return Err(ChunkError::corrupt(
            handle.offset,
            format!(
                "block is {} bytes, its handle says {}",
                raw.len(),
                handle.len
            ),
        ));
    }
    let contents = unseal_block(raw, handle.offset)?;
    Block::from_contents(contents, handle.offset)
}

impl Block {
    /// Wraps decompressed block contents after validating the restart array.
    pub(crate) fn from_contents(data: Bytes, offset: u64) -> Result<Block, ChunkError> {
        let bad = |d: &str| ChunkError::corrupt(offset, d.to_string());
        let len = data.len();
        let count_pos = len.checked_sub(4).ok_or_else(|| bad("block too short"))?;
        let n = get_u32_le(&data, count_pos).ok_or_else(|| bad("block too short"))? as usize;
        if n == 0 {
            return Err(bad("block has no restart points"));
        }
        let restarts = n
            .checked_mul(4)
            .and_then(|b| count_pos.checked_sub(b))
            .ok_or_else(|| bad("restart array larger than the block"))?;
        let mut prev: Option<usize> = None;
        for i in 0..n {
            let r = restart_at(&data, restarts, i).ok_or_else(|| bad("restart array"))? as usize;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p,
            };
            // An empty block (the index of a chunk of range tombstones
            // alone) is one restart point at 0 with no entries before it.
            let empty = n == 1 && r == 0 && restarts == 0;
            if !ok || (r >= restarts && !empty) {
                return Err(bad("restart offsets out of order or out of range"));
            }
            prev = Some(r);
        }
        Ok(Block {
            data,
            restarts,
            num_restarts: n,
            offset,
        })
    }

    /// Bytes of memory this block holds (for cache accounting).
    pub fn memory_usage(&self) -> usize {
        self.data.len().saturating_add(std::mem::size_of::<Block>())
    }

    /// Absolute file offset of the stored block.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset of restart point `i` within the contents.
    #[inline]
    pub(crate) fn restart(&self, i: usize) -> usize {
        restart_at(&self.data, self.restarts, i).map_or(usize::MAX, |r| r as usize)
    }
}

/// Entry `i` of the restart array starting at `restarts` in `data`.
fn restart_at(data: &[u8], restarts: usize, i: usize) -> Option<u32> {
    let at = i.checked_mul(4).and_then(|o| restarts.checked_add(o))?;
    get_u32_le(data, at)
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

    fn build(entries: &[(&[u8], u64, Kind, &[u8])]) -> Vec<u8> {
        let mut b = BlockBuilder::new();
        for (k, s, kind, v) in entries {
            b.add(k, *s, *kind, v);
        }
        b.finish().to_vec()
    }

    fn seal(contents: &[u8], compress: bool) -> Vec<u8> {
        let mut c = zstd::bulk::Compressor::new(3).expect("compressor");
        let mut out = Vec::new();
        let comp = if compress { Some(&mut c) } else { None };
        seal_block(contents, comp, &mut Vec::new(), &mut out).expect("seal");
        out
    }

    #[test]
    fn restart_points_every_sixteen_entries() {
        let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key{i:04}").into_bytes()).collect();
        let entries: Vec<_> = keys
            .iter()
            .map(|k| (k.as_slice(), 1, Kind::Put, &b"v"[..]))
            .collect();
        let contents = build(&entries);
        let block = Block::from_contents(Bytes::from(contents), 0).expect("valid");
        assert_eq!(block.num_restarts, 3);
        assert_eq!(block.restart(0), 0);
        // Restart entries carry shared = 0; others share the "key00" prefix.
        for i in 0..3 {
            assert_eq!(block.data[block.restart(i)], 0);
        }
        assert_eq!(
            block.data[block.restart(1) - 1 - 8 - 1],
            b'5' /* key0015 */
        );
    }

    #[test]
    fn seal_compresses_when_it_helps_and_stores_raw_otherwise() {
        let repetitive = vec![b'x'; 4096];
        let sealed = seal(&repetitive, true);
        assert!(sealed.len() < 200);
        assert_eq!(sealed[sealed.len() - 5], COMPRESSION_ZSTD);
        assert_eq!(&unseal_block(&sealed, 0).expect("ok")[..], &repetitive[..]);

        let tiny = b"abc".to_vec();
        let sealed = seal(&tiny, true);
        assert_eq!(sealed.len(), 3 + BLOCK_TRAILER_LEN);
        assert_eq!(sealed[3], COMPRESSION_NONE);
        assert_eq!(&unseal_block(&sealed, 0).expect("ok")[..], b"abc");
    }

    #[test]
    fn every_flip_and_truncation_of_a_stored_block_is_detected() {
        let contents = build(&[(b"a", 2, Kind::Put, b"one"), (b"b", 1, Kind::Delete, b"")]);
        for compress in [false, true] {
            let sealed = seal(&contents, compress);
            let handle = BlockHandle {
                offset: 4096,
                len: sealed.len() as u64,
            };
            decode_block(&sealed, handle).expect("intact block decodes");
            for i in 0..sealed.len() {
                for bit in 0..8 {
                    let mut bad = sealed.clone();
                    bad[i] ^= 1 << bit;
                    let err = decode_block(&bad, handle).expect_err("flip detected");
                    assert!(matches!(err, ChunkError::Corrupt { offset: 4096, .. }));
                }
            }
            for cut in 0..sealed.len() {
                let h = BlockHandle {
                    offset: 4096,
                    len: cut as u64,
                };
                assert!(decode_block(&sealed[..cut], h).is_err());
                assert!(decode_block(&sealed[..cut], handle).is_err());
            }
        }
    }

    #[test]
    fn huge_declared_length_does_not_allocate_it() {
        // A valid zstd frame of 10 bytes that claims 4 GiB - 1 of output.
        let frame = zstd::bulk::compress(b"0123456789", 1).expect("compress");
        let mut payload = Vec::new();
        put_varint(&mut payload, MAX_CONTENTS_LEN);
        payload.extend_from_slice(&frame);
        payload.push(COMPRESSION_ZSTD);
        let crc = crc32(&[&payload]);
        payload.extend_from_slice(&crc.to_le_bytes());
        let err = unseal_block(&payload, 7).expect_err("length mismatch");
        assert!(err.to_string().contains("header says"), "{err}");
    }

    #[test]
    fn bad_restart_arrays_are_rejected() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0, 0, 0],
            0u32.to_le_bytes().to_vec(), // no restarts
            [
                vec![9, 9],
                1u32.to_le_bytes().to_vec(),
                1u32.to_le_bytes().to_vec(),
            ]
            .concat(),
            [vec![9], u32::MAX.to_le_bytes().to_vec()].concat(),
        ];
        for c in cases {
            assert!(Block::from_contents(Bytes::from(c), 0).is_err());
        }
        // An empty block (the index of a chunk of range tombstones alone):
        // one restart at 0, no entries; it decodes and holds nothing.
        let empty = [0u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
        let block = Block::from_contents(Bytes::from(empty), 0).unwrap();
        let mut it = block.iter();
        it.seek_to_first().unwrap();
        assert!(!it.valid());
        it.seek(b"a", 5).unwrap();
        assert!(!it.valid());
        assert!(block.get(b"a", 5).unwrap().is_none());
    }
}

//! [`ChunkReader`]: a synchronous reader over any [`RangeRead`], for tools and
//! tests. (The engine uses [`ChunkIndex`] and [`decode_block`] directly with
//! its own asynchronous ranged reads and caches.)

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cmp::Ordering;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use crate::{
    compare_internal, decode_block, Block, BlockIter, ChunkError, ChunkIndex, EntryMeta, Footer,
    Kind, FOOTER_LEN,
};

/// Random-access reads of an immutable byte source.
pub trait RangeRead {
    /// Total size in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Exactly `len` bytes at `offset`; an error (`UnexpectedEof`) if the
    /// source is shorter.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes>;
}

fn range_of(size: usize, offset: u64, len: usize) -> io::Result<std::ops::Range<usize>> {
    usize::try_from(offset)
        .ok()
        .and_then(|start| Some(start..start.checked_add(len)?))
        .filter(|r| r.end <= size)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {len} bytes at {offset} past the end ({size} bytes)"),
            )
        })
}

impl RangeRead for Bytes {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
    /// Zero-copy: returns a slice of `self`.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        Ok(self.slice(range_of(self.len(), offset, len)?))
    }
}

impl RangeRead for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let r = range_of(self.len(), offset, len)?;
        Ok(Bytes::copy_from_slice(self.get(r).unwrap_or_default()))
    }
}

impl RangeRead for Vec<u8> {
    fn size(&self) -> io::Result<u64> {
        self.as_slice().size()
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        self.as_slice().read_at(offset, len)
    }
}

impl<T: RangeRead + ?Sized> RangeRead for &T {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        (**self).read_at(offset, len)
    }
}

impl<T: RangeRead + ?Sized> RangeRead for Arc<T> {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        (**self).read_at(offset, len)
    }
}

impl RangeRead for std::fs::File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = vec![0u8; len];
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.read_exact_at(&mut buf, offset)?;
        }
        #[cfg(windows)]
        {
            use std::os::windows::fs::FileExt;
            let mut done = 0;
            while done < len {
                let n = self.seek_read(&mut buf[done..], offset + done as u64)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = offset;
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "positional reads are not supported on this platform",
            ));
        }
        Ok(Bytes::from(buf))
    }
}

/// One entry of a chunk, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// User key.
    pub key: Bytes,
    /// Sequence number.
    pub seq: u64,
    /// Put or tombstone.
    pub kind: Kind,
    /// User value (empty for tombstones, without the metadata prefix); shares
    /// the block's memory.
    pub value: Bytes,
    /// Metadata of a put stored with it (format version 2); `None` for a put
    /// without metadata and for a tombstone.
    pub meta: Option<EntryMeta>,
}

impl Entry {
    fn from_iter(it: &BlockIter) -> Entry {
        Entry {
            key: Bytes::copy_from_slice(it.key()),
            seq: it.seq(),
            kind: it.kind(),
            value: it.value(),
            meta: it.meta(),
        }
    }
}

/// A chunk opened over a [`RangeRead`]: the metadata is decoded at open, data
/// blocks are read and verified on demand (no caching).
pub struct ChunkReader<R: RangeRead> {
    source: R,
    index: ChunkIndex,
}

impl<R: RangeRead> ChunkReader<R> {
    /// Opens a chunk: reads and checks the footer, then reads the metadata
    /// region `[meta_offset, EOF)` in one read and decodes it.
    pub fn open(source: R) -> Result<Self, ChunkError> {
        let size = source.size()?;
        let needed = FOOTER_LEN as u64;
        if size < needed {
            return Err(ChunkError::Truncated { size, needed });
        }
        let tail = source.read_at(size.saturating_sub(needed), FOOTER_LEN)?;
        let footer = Footer::decode(&tail, size)?;
        // The footer check bounds meta_offset by the file size, so this read
        // is no larger than the source.
        let meta_len = usize::try_from(size.saturating_sub(footer.meta_offset)).map_err(|_| {
            ChunkError::corrupt(footer.meta_offset, "metadata region too large to read")
        })?;
        let region = source.read_at(footer.meta_offset, meta_len)?;
        let index = ChunkIndex::decode(&region, footer.meta_offset, size)?;
        Ok(ChunkReader { source, index })
    }

    /// The decoded metadata.
    pub fn index(&self) -> &ChunkIndex {
        &self.index
    }

    /// The underlying source.
    pub fn source(&self) -> &R {
        &self.source
    }

    /// The newest version of `user_key` with seq <= `max_seq`, if the chunk
    /// holds one: bloom filter, block index, then one block read.
    /// [`ChunkReader::get_with_meta`] also returns the entry's metadata.
    pub fn get(
        &self,
        user_key: &[u8],
        max_seq: u64,
    ) -> Result<Option<(u64, Kind, Bytes)>, ChunkError> {
        Ok(self
            .get_with_meta(user_key, max_seq)?
            .map(|(seq, kind, value, _)| (seq, kind, value)))
    }

    /// [`ChunkReader::get`] with the entry's metadata (see
    /// [`Block::get_with_meta`]).
    #[allow(
        clippy::type_complexity,
        reason = "the (seq, kind, value) of `get` plus the metadata, spelled out as the public API"
    )]
    pub fn get_with_meta(
        &self,
        user_key: &[u8],
        max_seq: u64,
    ) -> Result<Option<(u64, Kind, Bytes, Option<EntryMeta>)>, ChunkError> {
        if !self.index.may_contain(user_key) {
            return Ok(None);
        }
        match self.index.seek_block(user_key, max_seq) {
            Some(i) => self.read_block(i)?.get_with_meta(user_key, max_seq),
            None => Ok(None),
        }
    }

    /// Reads, verifies and decodes data block `i`.
    pub fn read_block(&self, i: usize) -> Result<Block, ChunkError> {
        if i >= self.index.block_count() {
            return Err(ChunkError::InvalidInput {
                detail: format!(
                    "block {i} out of range (the chunk has {})",
                    self.index.block_count()
                ),
            });
        }
        let h = self.index.block_handle(i);
        let len = usize::try_from(h.len)
            .map_err(|_| ChunkError::corrupt(h.offset, "block too large to read"))?;
        let raw = self.source.read_at(h.offset, len)?;
        decode_block(&raw, h)
    }

    /// All entries in internal key order. Stops after the first error.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, ChunkError>> + '_ {
        EntryIter::new(self, None)
    }

    /// Entries from the first one >= (user_key, seq) in internal key order to
    /// the end of the chunk. Stops after the first error.
    pub fn entries_from<'a>(
        &'a self,
        user_key: &[u8],
        seq: u64,
    ) -> impl Iterator<Item = Result<Entry, ChunkError>> + 'a {
        EntryIter::new(self, Some((user_key.to_vec(), seq)))
    }

    /// Reads every data block and checks its checksum, its entries' order
    /// (within and across blocks, against the index separators) and that the
    /// entries agree with the properties (and that a version 1 chunk holds no
    /// entry with metadata, which version 1 did not have).
    pub fn verify(&self) -> Result<(), ChunkError> {
        let mut stats = Stats::default();
        let mut prev: Option<(Vec<u8>, u64)> = None;
        for i in 0..self.index.block_count() {
            let block = self.read_block(i)?;
            let offset = block.offset();
            let bad = |what: &str| Err(ChunkError::corrupt(offset, what.to_string()));
            let (sep, sep_seq) = self.index.separator(i);
            let mut first = true;
            let mut it = block.iter();
            it.seek_to_first()?;
            while it.valid() {
                let (k, s) = (it.key(), it.seq());
                if let Some((pk, ps)) = &prev {
                    if compare_internal(pk, *ps, k, s) != Ordering::Less {
                        return bad("entries out of order");
                    }
                    if first {
                        // prev is set, so this is not the first block.
                        let (psep, psep_seq) = self.index.separator(i.saturating_sub(1));
                        if compare_internal(k, s, psep, psep_seq) != Ordering::Greater {
                            return bad("block starts at or before the previous index separator");
                        }
                        // A separator with this block's first user key must be
                        // the previous block's last key (FORMAT.md, "Index block").
                        if psep == k && (psep != pk.as_slice() || psep_seq != *ps) {
                            return bad(
                                "index separator hides this block's first key from lookups",
                            );
                        }
                    }
                }
                if compare_internal(k, s, sep, sep_seq) == Ordering::Greater {
                    return bad("entry sorts after its block's index separator");
                }
                if it.meta().is_some() && self.index.properties().format_version < 2 {
                    return bad("entry with metadata in a format version 1 chunk");
                }
                first = false;
                stats.add(&it);
                let p = prev.get_or_insert_with(Default::default);
                p.0.clear();
                p.0.extend_from_slice(k);
                p.1 = s;
                it.next()?;
            }
        }
        stats.check(&self.index, prev.map(|p| p.0))
    }
}

/// Totals gathered by [`ChunkReader::verify`].
#[derive(Default)]
struct Stats {
    entries: u64,
    tombstones: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    min_seq: u64,
    max_seq: u64,
    min_key: Option<Vec<u8>>,
    expiring: u64,
    /// Smallest nonzero expiry, 0 while none.
    min_expires_ms: u64,
}

impl Stats {
    fn add(&mut self, it: &BlockIter) {
        if self.entries == 0 {
            self.min_key = Some(it.key().to_vec());
            self.min_seq = it.seq();
        }
        self.entries = self.entries.saturating_add(1);
        self.tombstones = self
            .tombstones
            .saturating_add(u64::from(it.kind() == Kind::Delete));
        self.raw_key_bytes = self.raw_key_bytes.saturating_add(it.key().len() as u64);
        self.raw_value_bytes = self
            .raw_value_bytes
            .saturating_add(it.value_slice().len() as u64);
        self.min_seq = self.min_seq.min(it.seq());
        self.max_seq = self.max_seq.max(it.seq());
        if let Some(expires) = it.meta().map(|m| m.expires_ms).filter(|&e| e != 0) {
            self.min_expires_ms = match self.expiring {
                0 => expires,
                _ => self.min_expires_ms.min(expires),
            };
            self.expiring = self.expiring.saturating_add(1);
        }
    }

    fn check(&self, index: &ChunkIndex, max_key: Option<Vec<u8>>) -> Result<(), ChunkError> {
        let p = index.properties();
        // The key and seq ranges cover the entries and the range tombstones.
        let ranges = &p.range_tombstones;
        let mut min_key = self.min_key.clone();
        let mut max_key = max_key;
        let (mut min_seq, mut max_seq) = (self.min_seq, self.max_seq);
        if let (Some((lo, hi)), Some((lo_seq, hi_seq))) = (ranges.key_bounds(), ranges.seq_range())
        {
            if min_key.as_deref().is_none_or(|k| lo < k) {
                min_key = Some(lo.to_vec());
            }
            if max_key.as_deref().is_none_or(|k| hi > k) {
                max_key = Some(hi.to_vec());
            }
            if self.entries == 0 {
                (min_seq, max_seq) = (lo_seq, hi_seq);
            } else {
                (min_seq, max_seq) = (min_seq.min(lo_seq), max_seq.max(hi_seq));
            }
        }
        let ok = p.entries == self.entries
            && p.tombstones == self.tombstones
            && p.raw_key_bytes == self.raw_key_bytes
            && p.raw_value_bytes == self.raw_value_bytes
            && p.min_seq == min_seq
            && p.max_seq == max_seq
            && p.expiring == self.expiring
            && p.min_expires_ms == self.min_expires_ms
            && Some(&p.min_key) == min_key.as_ref()
            && Some(&p.max_key) == max_key.as_ref();
        if ok {
            Ok(())
        } else {
            Err(ChunkError::corrupt(
                index.footer().properties.offset,
                "properties disagree with the entries",
            ))
        }
    }
}

/// Iterator behind [`ChunkReader::entries`] and [`ChunkReader::entries_from`].
struct EntryIter<'a, R: RangeRead> {
    reader: &'a ChunkReader<R>,
    next_block: usize,
    iter: Option<BlockIter>,
    seek: Option<(Vec<u8>, u64)>,
    pending_err: Option<ChunkError>,
    done: bool,
}

impl<'a, R: RangeRead> EntryIter<'a, R> {
    fn new(reader: &'a ChunkReader<R>, seek: Option<(Vec<u8>, u64)>) -> Self {
        let (next_block, done) = match &seek {
            Some((k, s)) => match reader.index.seek_block(k, *s) {
                Some(i) => (i, false),
                None => (0, true),
            },
            None => (0, false),
        };
        EntryIter {
            reader,
            next_block,
            iter: None,
            seek,
            pending_err: None,
            done,
        }
    }

    /// Opens the next block, positioned at its first entry (or at the seek
    /// target for the first block of `entries_from`).
    fn open_next(&mut self) -> Result<Option<BlockIter>, ChunkError> {
        if self.next_block >= self.reader.index.block_count() {
            return Ok(None);
        }
        let block = self.reader.read_block(self.next_block)?;
        self.next_block = self.next_block.saturating_add(1);
        let mut it = block.iter();
        match self.seek.take() {
            Some((k, s)) => it.seek(&k, s)?,
            None => it.seek_to_first()?,
        }
        Ok(Some(it))
    }
}

impl<R: RangeRead> Iterator for EntryIter<'_, R> {
    type Item = Result<Entry, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(it) = self.iter.as_mut().filter(|it| it.valid()) {
                let entry = Entry::from_iter(it);
                if let Err(e) = it.next() {
                    self.pending_err = Some(e);
                }
                return Some(Ok(entry));
            }
            if let Some(e) = self.pending_err.take() {
                self.done = true;
                return Some(Err(e));
            }
            match self.open_next() {
                Ok(Some(it)) => self.iter = Some(it),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

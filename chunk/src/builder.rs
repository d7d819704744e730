//! [`ChunkBuilder`]: streams sorted entries into a chunk file.

use std::cmp::Ordering;
use std::io::Write;

use crate::block::{seal_block, BlockBuilder, BlockHandle};
use crate::bloom::{build_filter, key_hash};
use crate::index::{encode_handle, separator};
use crate::{
    compare_internal, ChunkError, ChunkOptions, EntryMeta, Footer, Kind, Properties,
    RangeTombstones, FORMAT_VERSION, MAX_SEQ,
};

/// Largest `key.len() + value.len()` of one entry (1 GiB), where the value is
/// the stored value field: the user value plus, for a put with an
/// [`EntryMeta`], its metadata prefix (2 to 20 bytes).
pub const MAX_ENTRY_BYTES: usize = 1 << 30;
/// Largest effective block size; larger [`ChunkOptions::block_size`] values are clamped.
const MAX_BLOCK_SIZE: usize = 1 << 30;

/// What [`ChunkBuilder::finish`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkSummary {
    /// Total file size.
    pub size: u64,
    /// Start of the metadata region (index, filter, properties, footer) that
    /// runs to the end of the file.
    pub meta_offset: u64,
    /// `size - meta_offset`: one ranged read of this many bytes at
    /// `meta_offset` opens the chunk ([`ChunkIndex::decode`](crate::ChunkIndex::decode)).
    pub meta_len: u64,
    /// The properties written into the chunk.
    pub properties: Properties,
}

/// Builds a chunk from entries given in strictly increasing internal key order
/// ([`compare_internal`]).
///
/// Each data block is compressed and written to `W` as soon as it is full;
/// only the index entries, one 8-byte bloom hash per distinct user key and the
/// properties stay in memory. Wrap files in a [`std::io::BufWriter`]: blocks
/// are written with one `write_all` each.
///
/// After an I/O error the builder refuses further entries and the partial
/// output must be discarded.
pub struct ChunkBuilder<W: Write> {
    out: W,
    block_size: usize,
    compression_level: i32,
    bloom_bits_per_key: u32,
    /// Bytes written to `out` so far.
    offset: u64,
    block: BlockBuilder,
    index: BlockBuilder,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
    sealed: Vec<u8>,
    /// Handle of the last finished data block, waiting for the next key to
    /// compute its separator.
    pending: Option<BlockHandle>,
    last_key: Vec<u8>,
    last_seq: u64,
    hashes: Vec<u64>,
    props: Properties,
    failed: bool,
}

impl<W: Write> ChunkBuilder<W> {
    /// A builder writing to `out`.
    pub fn new(opts: ChunkOptions, out: W) -> Self {
        ChunkBuilder {
            out,
            block_size: opts.block_size.clamp(1, MAX_BLOCK_SIZE),
            compression_level: opts.compression_level,
            bloom_bits_per_key: opts.bloom_bits_per_key,
            offset: 0,
            block: BlockBuilder::new(),
            index: BlockBuilder::new(),
            compressor: None,
            scratch: Vec::new(),
            sealed: Vec::new(),
            pending: None,
            last_key: Vec::new(),
            last_seq: 0,
            hashes: Vec::new(),
            props: Properties {
                format_version: FORMAT_VERSION,
                ..Properties::default()
            },
            failed: false,
        }
    }

    /// Adds an entry without metadata: [`ChunkBuilder::add_with_meta`] with
    /// `meta = None`. Entries must arrive in strictly increasing internal order
    /// (user key ascending, seq descending), else [`ChunkError::OutOfOrder`];
    /// `seq` must be at most [`MAX_SEQ`] and `key.len() + value.len()` at most
    /// [`MAX_ENTRY_BYTES`], else [`ChunkError::InvalidInput`]. A rejected entry
    /// leaves the builder unchanged.
    pub fn add(
        &mut self,
        key: &[u8],
        seq: u64,
        kind: Kind,
        value: &[u8],
    ) -> Result<(), ChunkError> {
        self.add_with_meta(key, seq, kind, value, None)
    }

    /// Adds an entry, a put optionally with an [`EntryMeta`] (write time and
    /// expiry). A put with `Some(meta)` is stored as a "put with metadata"
    /// (stored kind 2, format version 2); readers return it as [`Kind::Put`]
    /// with the metadata ([`BlockIter::meta`](crate::BlockIter::meta),
    /// [`Block::get_with_meta`](crate::Block::get_with_meta)). With `None`
    /// the entry is stored exactly as in format version 1.
    ///
    /// The rules of [`ChunkBuilder::add`] apply, with the stored value (the
    /// metadata prefix included) counted against [`MAX_ENTRY_BYTES`]; a
    /// [`Kind::Delete`] with `Some(meta)` is [`ChunkError::InvalidInput`]
    /// (tombstones carry no metadata). A rejected entry leaves the builder
    /// unchanged.
    pub fn add_with_meta(
        &mut self,
        key: &[u8],
        seq: u64,
        kind: Kind,
        value: &[u8],
        meta: Option<EntryMeta>,
    ) -> Result<(), ChunkError> {
        self.check_usable()?;
        if seq > MAX_SEQ {
            return Err(ChunkError::InvalidInput {
                detail: format!("sequence number {seq} exceeds the maximum {MAX_SEQ}"),
            });
        }
        if kind == Kind::Delete && meta.is_some() {
            return Err(ChunkError::InvalidInput {
                detail: "a delete (tombstone) cannot carry entry metadata".to_string(),
            });
        }
        let prefix_len = meta.as_ref().map_or(0, EntryMeta::prefix_len);
        let stored_value_len = value.len().saturating_add(prefix_len);
        if key.len().saturating_add(stored_value_len) > MAX_ENTRY_BYTES {
            return Err(ChunkError::InvalidInput {
                detail: format!(
                    "entry of {} key bytes and {} value bytes ({} of them metadata) exceeds \
                     {MAX_ENTRY_BYTES} bytes",
                    key.len(),
                    stored_value_len,
                    prefix_len
                ),
            });
        }
        let first = self.props.entries == 0;
        if !first && compare_internal(key, seq, &self.last_key, self.last_seq) != Ordering::Greater
        {
            return Err(ChunkError::OutOfOrder {
                key: key.to_vec(),
                seq,
                prev_key: self.last_key.clone(),
                prev_seq: self.last_seq,
            });
        }
        if let Some(handle) = self.pending.take() {
            let (sep, sep_seq) = separator(&self.last_key, self.last_seq, key);
            self.add_index_entry(&sep, sep_seq, handle);
        }
        if first || key != self.last_key.as_slice() {
            self.hashes.push(key_hash(key));
        }
        self.block
            .add_with_meta(key, seq, kind, value, meta.as_ref());

        let p = &mut self.props;
        if first {
            p.min_key = key.to_vec();
            p.min_seq = seq;
            p.max_seq = seq;
        }
        p.min_seq = p.min_seq.min(seq);
        p.max_seq = p.max_seq.max(seq);
        p.entries += 1;
        p.tombstones += (kind == Kind::Delete) as u64;
        p.raw_key_bytes += key.len() as u64;
        p.raw_value_bytes += value.len() as u64;
        if let Some(expires) = meta.map(|m| m.expires_ms).filter(|&e| e != 0) {
            p.min_expires_ms = match p.expiring {
                0 => expires,
                _ => p.min_expires_ms.min(expires),
            };
            p.expiring += 1;
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.last_seq = seq;

        if self.block.size_estimate() >= self.block_size {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Sets the chunk's range tombstones (format version 3): stored in the
    /// properties block, they widen the chunk's key and seq ranges to cover
    /// them. A chunk may hold range tombstones alone.
    pub fn set_range_tombstones(&mut self, tombstones: RangeTombstones) -> Result<(), ChunkError> {
        if tombstones.seq_range().is_some_and(|(_, max)| max > MAX_SEQ) {
            return Err(ChunkError::InvalidInput {
                detail: format!("range tombstone seq above the maximum {MAX_SEQ}"),
            });
        }
        self.props.range_tombstones = tombstones;
        Ok(())
    }

    /// Number of entries added so far.
    pub fn entries(&self) -> u64 {
        self.props.entries
    }

    /// Bytes written so far plus the uncompressed size of the pending block:
    /// an estimate of the file size, for splitting output at a target size.
    pub fn estimated_size(&self) -> u64 {
        let pending = if self.block.entries() > 0 {
            self.block.size_estimate() as u64
        } else {
            0
        };
        self.offset + pending
    }

    /// Writes the last data block, the index, filter and properties blocks and
    /// the footer, flushes `out` and returns it with a summary.
    /// [`ChunkError::Empty`] if no entry was added.
    pub fn finish(mut self) -> Result<(W, ChunkSummary), ChunkError> {
        self.check_usable()?;
        let ranges = std::mem::take(&mut self.props.range_tombstones);
        if self.props.entries == 0 && ranges.is_empty() {
            return Err(ChunkError::Empty);
        }
        if self.block.entries() > 0 {
            self.flush_block()?;
        }
        if let Some(handle) = self.pending.take() {
            let last = std::mem::take(&mut self.last_key);
            self.add_index_entry(&last, self.last_seq, handle);
            self.last_key = last;
        }
        let meta_offset = self.offset;

        let index_contents = self.index.finish().to_vec();
        let index = self.write_meta_block(&index_contents)?;
        let filter_contents = build_filter(&self.hashes, self.bloom_bits_per_key);
        let filter = self.write_meta_block(&filter_contents)?;

        let mut props = std::mem::take(&mut self.props);
        props.max_key = std::mem::take(&mut self.last_key);
        // The key and seq ranges cover the range tombstones too.
        if let (Some((lo, hi)), Some((min_seq, max_seq))) =
            (ranges.key_bounds(), ranges.seq_range())
        {
            if props.entries == 0 {
                props.min_key = lo.to_vec();
                props.max_key = hi.to_vec();
                props.min_seq = min_seq;
                props.max_seq = max_seq;
            } else {
                if lo < props.min_key.as_slice() {
                    props.min_key = lo.to_vec();
                }
                if hi > props.max_key.as_slice() {
                    props.max_key = hi.to_vec();
                }
                props.min_seq = props.min_seq.min(min_seq);
                props.max_seq = props.max_seq.max(max_seq);
            }
        }
        props.range_tombstones = ranges;
        props.data_bytes = meta_offset;
        props.index_bytes = index.len;
        props.filter_bytes = filter.len;
        let properties = self.write_meta_block(&props.encode())?;

        let footer = Footer {
            index,
            filter,
            properties,
            meta_offset,
            format_version: FORMAT_VERSION,
        };
        self.write(&footer.encode())?;
        self.out.flush()?;
        let size = self.offset;
        Ok((
            self.out,
            ChunkSummary {
                size,
                meta_offset,
                meta_len: size - meta_offset,
                properties: props,
            },
        ))
    }

    fn check_usable(&self) -> Result<(), ChunkError> {
        if self.failed {
            return Err(ChunkError::InvalidInput {
                detail: "the chunk builder failed earlier and cannot continue".to_string(),
            });
        }
        Ok(())
    }

    fn add_index_entry(&mut self, key: &[u8], seq: u64, handle: BlockHandle) {
        self.scratch.clear();
        encode_handle(&mut self.scratch, handle);
        self.index.add(key, seq, Kind::Put, &self.scratch);
    }

    /// Compresses and writes the current data block.
    fn flush_block(&mut self) -> Result<(), ChunkError> {
        if self.compressor.is_none() {
            match zstd::bulk::Compressor::new(self.compression_level) {
                Ok(c) => self.compressor = Some(c),
                Err(e) => {
                    self.failed = true;
                    return Err(e.into());
                }
            }
        }
        self.sealed.clear();
        let sealed = seal_block(
            self.block.finish(),
            self.compressor.as_mut(),
            &mut self.scratch,
            &mut self.sealed,
        );
        if let Err(e) = sealed {
            self.failed = true;
            return Err(e.into());
        }
        let buf = std::mem::take(&mut self.sealed);
        let handle = self.write(&buf);
        self.sealed = buf;
        self.pending = Some(handle?);
        self.props.blocks += 1;
        self.block.reset();
        Ok(())
    }

    /// Writes an uncompressed metadata block with its trailer.
    fn write_meta_block(&mut self, contents: &[u8]) -> Result<BlockHandle, ChunkError> {
        let mut buf = std::mem::take(&mut self.sealed);
        buf.clear();
        seal_block(contents, None, &mut self.scratch, &mut buf)?;
        let handle = self.write(&buf);
        self.sealed = buf;
        handle
    }

    fn write(&mut self, bytes: &[u8]) -> Result<BlockHandle, ChunkError> {
        if let Err(e) = self.out.write_all(bytes) {
            self.failed = true;
            return Err(e.into());
        }
        let handle = BlockHandle {
            offset: self.offset,
            len: bytes.len() as u64,
        };
        self.offset += bytes.len() as u64;
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_and_duplicates_are_rejected_without_side_effects() {
        let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
        b.add(b"b", 5, Kind::Put, b"x").expect("first");
        for (k, s) in [(&b"a"[..], 9), (b"b", 5), (b"b", 6)] {
            match b.add(k, s, Kind::Put, b"y") {
                Err(ChunkError::OutOfOrder {
                    prev_key, prev_seq, ..
                }) => {
                    assert_eq!((prev_key.as_slice(), prev_seq), (&b"b"[..], 5));
                }
                other => panic!("expected OutOfOrder, got {other:?}"),
            }
        }
        b.add(b"b", 4, Kind::Delete, b"").expect("older version");
        b.add(b"c", MAX_SEQ, Kind::Put, b"").expect("next key");
        assert!(matches!(
            b.add(b"d", MAX_SEQ + 1, Kind::Put, b""),
            Err(ChunkError::InvalidInput { .. })
        ));
        assert_eq!(b.entries(), 3);
        let (_, s) = b.finish().expect("finish");
        assert_eq!(s.properties.entries, 3);
        assert_eq!(s.properties.tombstones, 1);
        assert_eq!((s.properties.min_seq, s.properties.max_seq), (4, MAX_SEQ));
        assert_eq!(s.properties.min_key, b"b");
        assert_eq!(s.properties.max_key, b"c");
    }

    #[test]
    fn metadata_rules_and_properties() {
        let meta = |write_ms, expires_ms| {
            Some(EntryMeta {
                write_ms,
                expires_ms,
            })
        };
        let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
        b.add_with_meta(b"a", 9, Kind::Put, b"x", meta(1, 500))
            .expect("put with expiry");
        // A tombstone with metadata is refused and changes nothing.
        let err = b
            .add_with_meta(b"b", 5, Kind::Delete, b"", meta(1, 0))
            .expect_err("delete with meta");
        assert!(matches!(err, ChunkError::InvalidInput { .. }), "{err:?}");
        assert_eq!(b.entries(), 1);
        // The same entry without metadata is accepted (so the refusal did not
        // record the key as the last one).
        b.add_with_meta(b"b", 5, Kind::Delete, b"", None)
            .expect("plain delete");
        b.add_with_meta(b"c", 4, Kind::Put, b"yy", meta(2, 0))
            .expect("no expiry");
        b.add_with_meta(b"d", 3, Kind::Put, b"zzz", meta(3, 200))
            .expect("earlier expiry");
        b.add(b"e", 2, Kind::Put, b"plain").expect("no meta");
        b.add_with_meta(b"f", 1, Kind::Put, b"", meta(0, 900))
            .expect("later expiry");
        let (_, s) = b.finish().expect("finish");
        let p = &s.properties;
        assert_eq!(p.format_version, FORMAT_VERSION);
        assert_eq!((p.entries, p.tombstones), (6, 1));
        assert_eq!(p.expiring, 3);
        assert_eq!(p.min_expires_ms, 200);
        assert_eq!(p.raw_value_bytes, 1 + 2 + 3 + 5, "user values only");

        let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
        b.add_with_meta(b"a", 1, Kind::Put, b"x", meta(7, 0))
            .expect("put");
        let (_, s) = b.finish().expect("finish");
        assert_eq!((s.properties.expiring, s.properties.min_expires_ms), (0, 0));
    }

    #[test]
    fn entry_size_limit_counts_the_metadata_prefix() {
        // Zeroed and never written to: the allocation stays virtual.
        let value = vec![0u8; MAX_ENTRY_BYTES - 2];
        let meta = Some(EntryMeta {
            write_ms: 1,
            expires_ms: 1,
        });
        let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
        // 1 key byte + MAX - 2 value bytes fits without metadata, but the
        // 2-byte prefix takes it one byte over.
        match b.add_with_meta(b"k", 1, Kind::Put, &value, meta) {
            Err(ChunkError::InvalidInput { detail }) => {
                assert!(detail.contains("2 of them metadata"), "{detail}")
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert_eq!(b.entries(), 0);
        assert_eq!(b.estimated_size(), 0);
    }

    #[test]
    fn empty_finish_is_rejected() {
        let b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
        assert!(matches!(b.finish(), Err(ChunkError::Empty)));
    }

    #[test]
    fn blocks_are_streamed_and_sizes_add_up() {
        let opts = ChunkOptions {
            block_size: 1024,
            ..ChunkOptions::default()
        };
        let mut b = ChunkBuilder::new(opts, Vec::new());
        let mut written_during_build = 0;
        for i in 0..2000u32 {
            let value = format!("value-{i}-{}", i.wrapping_mul(2_654_435_761));
            b.add(
                format!("key{i:06}").as_bytes(),
                1,
                Kind::Put,
                value.as_bytes(),
            )
            .expect("add");
            written_during_build = b.out.len();
        }
        assert!(
            written_during_build > 0,
            "blocks are written while building"
        );
        assert!(b.estimated_size() >= written_during_build as u64);
        let (file, s) = b.finish().expect("finish");
        assert_eq!(s.size, file.len() as u64);
        assert_eq!(s.meta_len, s.size - s.meta_offset);
        let p = &s.properties;
        assert!(p.blocks > 20);
        assert_eq!(p.data_bytes, s.meta_offset);
        assert!(s.meta_len > p.index_bytes + p.filter_bytes + crate::FOOTER_LEN as u64);
        assert_eq!(&file[file.len() - 12..file.len() - 4], b"FIRNCHNK");
    }

    struct FailingWriter(usize);
    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn io_errors_surface_and_poison_the_builder() {
        let opts = ChunkOptions {
            block_size: 64,
            ..ChunkOptions::default()
        };
        let mut b = ChunkBuilder::new(opts, FailingWriter(100));
        let mut saw_io = false;
        for i in 0..100u32 {
            match b.add(format!("k{i:04}").as_bytes(), 1, Kind::Put, &[b'v'; 40]) {
                Ok(()) => {}
                Err(ChunkError::Io(_)) => {
                    saw_io = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(saw_io);
        assert!(matches!(
            b.add(b"zzz", 1, Kind::Put, b""),
            Err(ChunkError::InvalidInput { .. })
        ));
        assert!(b.finish().is_err());
    }
}

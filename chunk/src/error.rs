//! The error type of this crate.

use std::fmt;

/// Everything that can go wrong while building or reading a chunk.
///
/// Decoding errors carry the absolute file offset of the block or region that
/// failed, so that a caller can name the object and the offset in its own
/// message ("corrupt chunk data at offset 81920: block checksum mismatch").
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// A checksum did not match, or a structure inside a checksummed region is
    /// malformed. `offset` is the absolute file offset of the bad block or region.
    #[error("corrupt chunk data at offset {offset}: {detail}")]
    Corrupt {
        /// Absolute file offset of the block or region that failed.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// The input is shorter than the structure it must contain.
    #[error("truncated chunk: have {size} bytes, need at least {needed}")]
    Truncated {
        /// How many bytes were available.
        size: u64,
        /// How many bytes are needed at least.
        needed: u64,
    },
    /// The bytes do not end with the chunk magic: this is not a chunk file.
    #[error("not a chunk: {detail}")]
    NotAChunk {
        /// What was found instead.
        detail: String,
    },
    /// The chunk was written by a newer (or unknown) format version.
    #[error(
        "unsupported chunk format version {found} (this build reads versions up to {supported})"
    )]
    UnsupportedVersion {
        /// The version found in the footer.
        found: u32,
        /// The newest version this build can read.
        supported: u32,
    },
    /// A local index file ([`ChunkIndex::decode_local`](crate::ChunkIndex::decode_local))
    /// was written by a newer (or unknown) local index format version.
    #[error(
        "unsupported local index format version {found} (this build reads versions up to {supported})"
    )]
    UnsupportedLocalIndexVersion {
        /// The version found in the local index header.
        found: u32,
        /// The newest version this build can read.
        supported: u32,
    },
    /// [`ChunkBuilder::add`](crate::ChunkBuilder::add) was called with an entry
    /// that does not sort strictly after the previous one.
    #[error(
        "entry ({}, seq {seq}) does not sort after the previous entry ({}, seq {prev_seq})",
        KeyDisplay(key),
        KeyDisplay(prev_key)
    )]
    OutOfOrder {
        /// The rejected user key.
        key: Vec<u8>,
        /// The rejected sequence number.
        seq: u64,
        /// The previous (accepted) user key.
        prev_key: Vec<u8>,
        /// The previous (accepted) sequence number.
        prev_seq: u64,
    },
    /// [`ChunkBuilder::finish`](crate::ChunkBuilder::finish) was called before
    /// any entry was added: a chunk always holds at least one entry.
    #[error("a chunk must hold at least one entry")]
    Empty,
    /// An entry that cannot be represented in the format (sequence number above
    /// [`MAX_SEQ`](crate::MAX_SEQ), key or value too large).
    #[error("invalid entry: {detail}")]
    InvalidInput {
        /// What was wrong.
        detail: String,
    },
    /// Reading or writing the underlying file failed.
    #[error("chunk I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl ChunkError {
    /// Shorthand for [`ChunkError::Corrupt`].
    pub(crate) fn corrupt(offset: u64, detail: impl Into<String>) -> ChunkError {
        ChunkError::Corrupt {
            offset,
            detail: detail.into(),
        }
    }
}

/// Displays a key as escaped ASCII, shortened when long.
struct KeyDisplay<'a>(&'a [u8]);

impl fmt::Display for KeyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        let shown = &self.0[..self.0.len().min(MAX)];
        write!(f, "\"{}\"", shown.escape_ascii())?;
        if self.0.len() > MAX {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_offsets_and_keys() {
        let e = ChunkError::corrupt(81920, "block checksum mismatch");
        assert_eq!(
            e.to_string(),
            "corrupt chunk data at offset 81920: block checksum mismatch"
        );
        let e = ChunkError::OutOfOrder {
            key: b"a\x00".to_vec(),
            seq: 3,
            prev_key: vec![b'z'; 100],
            prev_seq: 4,
        };
        let msg = e.to_string();
        assert!(msg.contains("\"a\\x00\", seq 3"), "{msg}");
        assert!(msg.contains("(100 bytes)"), "{msg}");
    }
}

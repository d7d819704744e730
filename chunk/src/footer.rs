//! The fixed-size footer at the end of every chunk.
//!
//! ```text
//! offset  size  field
//!      0     8  index handle offset      (= meta_offset)
//!      8     8  index handle len
//!     16     8  filter handle offset     (= index end)
//!     24     8  filter handle len
//!     32     8  properties handle offset (= filter end)
//!     40     8  properties handle len    (properties end = footer start)
//!     48     8  meta_offset
//!     56     4  format_version
//!     60     8  magic "FIRNCHNK"
//!     68     4  crc32 over bytes 0..68
//! ```

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::block::{BlockHandle, BLOCK_TRAILER_LEN};
use crate::coding::{crc32, get_u32_le, get_u64_le};
use crate::{ChunkError, FORMAT_VERSION};

/// Size of the footer in bytes.
pub const FOOTER_LEN: usize = 72;

/// The 8 bytes that identify a chunk file, just before the footer's CRC.
pub const MAGIC: [u8; 8] = *b"FIRNCHNK";

const VERSION_AT: usize = 56;
const MAGIC_AT: usize = 60;
const CRC_AT: usize = 68;

/// The decoded footer: where the metadata blocks are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Handle of the index block.
    pub index: BlockHandle,
    /// Handle of the filter block.
    pub filter: BlockHandle,
    /// Handle of the properties block.
    pub properties: BlockHandle,
    /// Start of the metadata region (index block through footer, to EOF).
    pub meta_offset: u64,
    /// Format version the chunk was written with.
    pub format_version: u32,
}

impl Footer {
    /// Encodes the footer.
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let fields = [
            self.index.offset,
            self.index.len,
            self.filter.offset,
            self.filter.len,
            self.properties.offset,
            self.properties.len,
            self.meta_offset,
        ];
        for (slot, v) in out.chunks_exact_mut(8).zip(fields) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        out[VERSION_AT..MAGIC_AT].copy_from_slice(&self.format_version.to_le_bytes());
        out[MAGIC_AT..CRC_AT].copy_from_slice(&MAGIC);
        let crc = crc32(&[&out[..CRC_AT]]);
        out[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and validates the footer from the last bytes of a chunk file.
    ///
    /// `last_bytes` is any suffix of the file at least [`FOOTER_LEN`] long (the
    /// footer is its last `FOOTER_LEN` bytes); `file_size` is the size of the
    /// whole file, used to check that the handles tile the metadata region
    /// `[meta_offset, file_size - FOOTER_LEN)` without gaps.
    pub fn decode(last_bytes: &[u8], file_size: u64) -> Result<Footer, ChunkError> {
        let needed = FOOTER_LEN as u64;
        if file_size < needed {
            return Err(ChunkError::Truncated {
                size: file_size,
                needed,
            });
        }
        if (last_bytes.len() as u64) < needed {
            return Err(ChunkError::Truncated {
                size: last_bytes.len() as u64,
                needed,
            });
        }
        let footer_start = file_size.saturating_sub(needed);
        if last_bytes.len() as u64 > file_size {
            return Err(ChunkError::corrupt(
                footer_start,
                format!(
                    "{} trailing bytes given for a file of {file_size} bytes",
                    last_bytes.len()
                ),
            ));
        }
        let f = last_bytes
            .get(last_bytes.len().saturating_sub(FOOTER_LEN)..)
            .unwrap_or_default();
        let magic = f.get(MAGIC_AT..CRC_AT).unwrap_or_default();
        if magic != MAGIC {
            return Err(ChunkError::NotAChunk {
                detail: format!(
                    "expected magic \"FIRNCHNK\" before the last 4 bytes, found \"{}\"",
                    magic.escape_ascii()
                ),
            });
        }
        let field = |at: usize| get_u64_le(f, at).unwrap_or_default();
        let format_version = get_u32_le(f, VERSION_AT).unwrap_or_default();
        if format_version > FORMAT_VERSION {
            return Err(ChunkError::UnsupportedVersion {
                found: format_version,
                supported: FORMAT_VERSION,
            });
        }
        let crc = get_u32_le(f, CRC_AT).unwrap_or_default();
        if crc32(&[f.get(..CRC_AT).unwrap_or_default()]) != crc {
            return Err(ChunkError::corrupt(
                footer_start,
                "footer checksum mismatch",
            ));
        }
        if format_version == 0 {
            return Err(ChunkError::corrupt(footer_start, "footer format version 0"));
        }
        let footer = Footer {
            index: BlockHandle {
                offset: field(0),
                len: field(8),
            },
            filter: BlockHandle {
                offset: field(16),
                len: field(24),
            },
            properties: BlockHandle {
                offset: field(32),
                len: field(40),
            },
            meta_offset: field(48),
            format_version,
        };
        footer.check_layout(footer_start)?;
        Ok(footer)
    }

    /// Checks that index, filter and properties tile `[meta_offset, footer_start)`.
    fn check_layout(&self, footer_start: u64) -> Result<(), ChunkError> {
        let min = BLOCK_TRAILER_LEN as u64;
        let ok = self.index.offset == self.meta_offset
            && self.filter.offset == self.index.end()
            && self.properties.offset == self.filter.end()
            && self.properties.end() == footer_start
            && self.index.len >= min
            && self.filter.len >= min
            && self.properties.len >= min
            && self.meta_offset <= footer_start;
        if ok {
            Ok(())
        } else {
            Err(ChunkError::corrupt(
                footer_start,
                format!(
                    "footer handles do not tile the metadata region: meta_offset {}, \
                     index {:?}, filter {:?}, properties {:?}, footer at {footer_start}",
                    self.meta_offset, self.index, self.filter, self.properties
                ),
            ))
        }
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

    fn sample(file_size: u64) -> Footer {
        let footer_start = file_size - FOOTER_LEN as u64;
        Footer {
            index: BlockHandle {
                offset: 1000,
                len: 50,
            },
            filter: BlockHandle {
                offset: 1050,
                len: 30,
            },
            properties: BlockHandle {
                offset: 1080,
                len: footer_start - 1080,
            },
            meta_offset: 1000,
            format_version: FORMAT_VERSION,
        }
    }

    #[test]
    fn round_trip() {
        let f = sample(1200);
        let enc = f.encode();
        assert_eq!(&enc[60..68], b"FIRNCHNK");
        assert_eq!(Footer::decode(&enc, 1200).expect("decodes"), f);
        // A longer suffix works too.
        let mut longer = vec![7u8; 40];
        longer.extend_from_slice(&enc);
        assert_eq!(Footer::decode(&longer, 1200).expect("decodes"), f);
    }

    #[test]
    fn every_bit_flip_is_an_error() {
        let enc = sample(1200).encode();
        for i in 0..FOOTER_LEN {
            for bit in 0..8 {
                let mut bad = enc;
                bad[i] ^= 1 << bit;
                assert!(Footer::decode(&bad, 1200).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn specific_errors() {
        let enc = sample(1200).encode();
        assert!(matches!(
            Footer::decode(&enc[1..], 1200),
            Err(ChunkError::Truncated {
                size: 71,
                needed: 72
            })
        ));
        assert!(matches!(
            Footer::decode(&enc, 50),
            Err(ChunkError::Truncated { size: 50, .. })
        ));
        let text = [b'x'; FOOTER_LEN];
        assert!(matches!(
            Footer::decode(&text, 1000),
            Err(ChunkError::NotAChunk { .. })
        ));
        // A newer version is reported as such even though its CRC is valid.
        let mut newer = sample(1200);
        newer.format_version = FORMAT_VERSION + 1;
        assert!(matches!(
            Footer::decode(&newer.encode(), 1200),
            Err(ChunkError::UnsupportedVersion { found, supported })
                if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION
        ));
        // Every version up to this build's decodes.
        for v in 1..=FORMAT_VERSION {
            let mut older = sample(1200);
            older.format_version = v;
            assert_eq!(
                Footer::decode(&older.encode(), 1200).expect("decodes"),
                older
            );
        }
        // A CRC mismatch names the footer's absolute offset.
        let mut bad = enc;
        bad[0] ^= 1;
        match Footer::decode(&bad, 1200) {
            Err(ChunkError::Corrupt { offset, detail }) => {
                assert_eq!(offset, 1128);
                assert!(detail.contains("checksum"));
            }
            other => panic!("{other:?}"),
        }
        // Valid CRC but the handles do not match the file size.
        assert!(matches!(
            Footer::decode(&enc, 1300),
            Err(ChunkError::Corrupt { .. })
        ));
    }
}

//! The properties block: counts, key and sequence ranges, sizes.
//!
//! Payload (FORMAT.md, "Properties block"): the fields below in this order,
//! integers as varints, keys as `varint length ++ bytes`; nothing may follow.
//!
//! ```text
//! version 1:  format_version entries tombstones blocks min_seq max_seq
//!             raw_key_bytes raw_value_bytes data_bytes index_bytes filter_bytes
//!             min_key max_key
//! version 2:  (the version 1 fields) expiring min_expires_ms
//! version 3:  (the version 2 fields) range_tombstones
//! ```
//!
//! The layout is chosen by the block's own `format_version` (its first field),
//! both when decoding and when encoding, so that a version 1 block re-encodes
//! (e.g. into a local index file) to exactly its version 1 bytes.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::coding::{put_varint, Decoder};
use crate::range_del::RangeTombstones;
use crate::{ChunkError, FORMAT_VERSION};

/// The first format version whose properties end with `expiring` and
/// `min_expires_ms`.
const EXPIRY_FIELDS_VERSION: u32 = 2;

/// The first format version whose properties end with the range
/// tombstones (and whose chunks may hold range tombstones only).
pub(crate) const RANGE_TOMBSTONES_VERSION: u32 = 3;

/// Summary statistics of one chunk, stored in its properties block.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Properties {
    /// Format version the chunk was written with.
    pub format_version: u32,
    /// Number of entries (puts and tombstones).
    pub entries: u64,
    /// Number of [`Kind::Delete`](crate::Kind::Delete) entries.
    pub tombstones: u64,
    /// Number of data blocks.
    pub blocks: u64,
    /// Smallest user key.
    pub min_key: Vec<u8>,
    /// Largest user key.
    pub max_key: Vec<u8>,
    /// Smallest sequence number.
    pub min_seq: u64,
    /// Largest sequence number.
    pub max_seq: u64,
    /// Sum of the user key lengths of all entries.
    pub raw_key_bytes: u64,
    /// Sum of the user value lengths of all entries (metadata prefixes of
    /// puts with an [`EntryMeta`](crate::EntryMeta) not included).
    pub raw_value_bytes: u64,
    /// Stored bytes of all data blocks (= the offset of the index block).
    pub data_bytes: u64,
    /// Stored bytes of the index block (including its trailer).
    pub index_bytes: u64,
    /// Stored bytes of the filter block (including its trailer).
    pub filter_bytes: u64,
    /// Number of entries with an expiry
    /// ([`EntryMeta::expires_ms`](crate::EntryMeta::expires_ms) `!= 0`).
    /// 0 in a version 1 chunk.
    pub expiring: u64,
    /// The earliest expiry in the chunk: the smallest nonzero
    /// [`EntryMeta::expires_ms`](crate::EntryMeta::expires_ms), 0 when no entry
    /// expires (and in a version 1 chunk).
    pub min_expires_ms: u64,
    /// The chunk's range tombstones, fragmented (empty before version 3).
    /// The key range (`min_key`, `max_key`) and the seq range cover them
    /// too; a chunk of range tombstones alone has no entries and no blocks.
    pub range_tombstones: RangeTombstones,
}

impl Properties {
    /// Encodes the properties block payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let keys = self.min_key.len().saturating_add(self.max_key.len());
        let mut out = Vec::with_capacity(keys.saturating_add(96));
        put_varint(&mut out, self.format_version as u64);
        for v in [
            self.entries,
            self.tombstones,
            self.blocks,
            self.min_seq,
            self.max_seq,
            self.raw_key_bytes,
            self.raw_value_bytes,
            self.data_bytes,
            self.index_bytes,
            self.filter_bytes,
        ] {
            put_varint(&mut out, v);
        }
        for key in [&self.min_key, &self.max_key] {
            put_varint(&mut out, key.len() as u64);
            out.extend_from_slice(key);
        }
        if self.format_version >= EXPIRY_FIELDS_VERSION {
            put_varint(&mut out, self.expiring);
            put_varint(&mut out, self.min_expires_ms);
        }
        if self.format_version >= RANGE_TOMBSTONES_VERSION {
            self.range_tombstones.encode(&mut out);
        }
        out
    }

    /// Decodes a properties payload. `offset` names the block in errors.
    pub(crate) fn decode(payload: &[u8], offset: u64) -> Result<Properties, ChunkError> {
        let bad = |what: &str| ChunkError::corrupt(offset, format!("properties block: {what}"));
        let mut d = Decoder::new(payload);
        let mut int = || d.varint().ok_or_else(|| bad("truncated field"));
        let format_version =
            u32::try_from(int()?).map_err(|_| bad("format version out of range"))?;
        if format_version == 0 {
            return Err(bad("format version 0"));
        }
        if format_version > FORMAT_VERSION {
            // A newer layout: the fields below may mean something else.
            return Err(ChunkError::UnsupportedVersion {
                found: format_version,
                supported: FORMAT_VERSION,
            });
        }
        let mut p = Properties {
            format_version,
            entries: int()?,
            tombstones: int()?,
            blocks: int()?,
            min_seq: int()?,
            max_seq: int()?,
            raw_key_bytes: int()?,
            raw_value_bytes: int()?,
            data_bytes: int()?,
            index_bytes: int()?,
            filter_bytes: int()?,
            ..Properties::default()
        };
        p.min_key = d
            .length_prefixed()
            .ok_or_else(|| bad("truncated min key"))?
            .to_vec();
        p.max_key = d
            .length_prefixed()
            .ok_or_else(|| bad("truncated max key"))?
            .to_vec();
        if format_version >= EXPIRY_FIELDS_VERSION {
            p.expiring = d.varint().ok_or_else(|| bad("truncated field"))?;
            p.min_expires_ms = d.varint().ok_or_else(|| bad("truncated field"))?;
        }
        if format_version >= RANGE_TOMBSTONES_VERSION {
            p.range_tombstones = RangeTombstones::decode(&mut d).map_err(|e| bad(&e))?;
        }
        if !d.is_empty() {
            return Err(bad(&format!(
                "{} trailing bytes",
                payload.len().saturating_sub(d.position())
            )));
        }
        // A chunk holds entries (in blocks), or range tombstones alone (no
        // entries, no blocks).
        let tombstones_only = p.entries == 0 && p.blocks == 0 && !p.range_tombstones.is_empty();
        if p.tombstones > p.entries
            || p.blocks > p.entries
            || (!tombstones_only && (p.entries == 0 || p.blocks == 0))
        {
            return Err(bad("inconsistent entry/tombstone/block counts"));
        }
        if p.min_seq > p.max_seq || p.min_key > p.max_key {
            return Err(bad("inverted key or sequence range"));
        }
        if let Some((lo, hi)) = p.range_tombstones.key_bounds() {
            if lo < p.min_key.as_slice() || hi > p.max_key.as_slice() {
                return Err(bad("range tombstones outside the key range"));
            }
        }
        if let Some((lo, hi)) = p.range_tombstones.seq_range() {
            if lo < p.min_seq || hi > p.max_seq {
                return Err(bad("range tombstones outside the sequence range"));
            }
        }
        // Only puts expire, and the earliest expiry is set exactly when some
        // entry expires.
        let puts = p.entries.saturating_sub(p.tombstones);
        if p.expiring > puts || (p.expiring == 0) != (p.min_expires_ms == 0) {
            return Err(bad("inconsistent expiring count / earliest expiry"));
        }
        Ok(p)
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

    fn sample_v1() -> Properties {
        Properties {
            format_version: 1,
            entries: 10,
            tombstones: 2,
            blocks: 3,
            min_key: b"a".to_vec(),
            max_key: b"zz".to_vec(),
            min_seq: 4,
            max_seq: 400,
            raw_key_bytes: 30,
            raw_value_bytes: 9000,
            data_bytes: 5000,
            index_bytes: 60,
            filter_bytes: 20,
            expiring: 0,
            min_expires_ms: 0,
            range_tombstones: RangeTombstones::default(),
        }
    }

    fn sample() -> Properties {
        Properties {
            format_version: 2,
            expiring: 3,
            min_expires_ms: 1_764_547_200_000,
            ..sample_v1()
        }
    }

    fn sample_v3() -> Properties {
        Properties {
            format_version: 3,
            range_tombstones: RangeTombstones::fragment(&[crate::RangeTombstone {
                start: b"b".to_vec(),
                end: b"m".to_vec(),
                seq: 9,
            }]),
            ..sample()
        }
    }

    #[test]
    fn version_3_adds_range_tombstones_and_allows_a_chunk_of_them_alone() {
        let p = sample_v3();
        let enc = p.encode();
        assert_eq!(Properties::decode(&enc, 0).expect("decodes"), p);
        for cut in 0..enc.len() {
            assert!(Properties::decode(&enc[..cut], 0).is_err(), "cut {cut}");
        }
        // Version 3 appends the range tombstones to the version 2 layout.
        let v2 = sample().encode();
        assert_eq!(&enc[1..v2.len()], &v2[1..]);
        let only = Properties {
            entries: 0,
            tombstones: 0,
            blocks: 0,
            expiring: 0,
            min_expires_ms: 0,
            ..sample_v3()
        };
        assert_eq!(
            Properties::decode(&only.encode(), 0).expect("decodes"),
            only
        );
        // Without range tombstones a chunk still needs entries.
        let empty = Properties {
            range_tombstones: RangeTombstones::default(),
            ..only.clone()
        };
        assert!(Properties::decode(&empty.encode(), 0).is_err());
        // The key and seq ranges must cover the tombstones.
        for bad in [
            Properties {
                min_key: b"c".to_vec(),
                ..sample_v3()
            },
            Properties {
                max_key: b"l".to_vec(),
                ..sample_v3()
            },
            Properties {
                max_seq: 8,
                min_seq: 1,
                ..sample_v3()
            },
        ] {
            assert!(Properties::decode(&bad.encode(), 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let p = sample();
        let enc = p.encode();
        assert_eq!(Properties::decode(&enc, 0).expect("decodes"), p);
        for cut in 0..enc.len() {
            assert!(Properties::decode(&enc[..cut], 0).is_err(), "cut {cut}");
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert!(Properties::decode(&longer, 0).is_err());
    }

    #[test]
    fn version_1_layout_has_no_expiry_fields() {
        let v1 = sample_v1();
        let enc = v1.encode();
        assert_eq!(Properties::decode(&enc, 0).expect("decodes"), v1);
        for cut in 0..enc.len() {
            assert!(Properties::decode(&enc[..cut], 0).is_err(), "cut {cut}");
        }
        // Version 2 appends exactly the two varints.
        let mut v2 = v1.clone();
        v2.format_version = 2;
        let enc2 = v2.encode();
        assert_eq!(enc2[0], 2);
        assert_eq!(&enc2[1..enc2.len() - 2], &enc[1..]);
        assert_eq!(&enc2[enc2.len() - 2..], &[0, 0]);
        assert_eq!(Properties::decode(&enc2, 0).expect("decodes"), v2);
        // A version 1 block followed by the version 2 fields has trailing bytes.
        let mut longer = enc.clone();
        longer.extend_from_slice(&[0, 0]);
        assert!(Properties::decode(&longer, 0).is_err());
        // A version 2 block without them is truncated.
        let mut short = enc2.clone();
        short.truncate(enc2.len() - 2);
        assert!(Properties::decode(&short, 0).is_err());
    }

    #[test]
    fn unknown_versions_are_rejected() {
        let mut p = sample();
        p.format_version = 0;
        assert!(matches!(
            Properties::decode(&p.encode(), 5),
            Err(ChunkError::Corrupt { offset: 5, .. })
        ));
        p.format_version = FORMAT_VERSION + 1;
        assert!(matches!(
            Properties::decode(&p.encode(), 5),
            Err(ChunkError::UnsupportedVersion { found, supported })
                if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION
        ));
    }

    #[test]
    fn inconsistent_values_are_rejected() {
        for (expiring, min_expires_ms) in [(9, 1), (3, 0), (0, 1)] {
            let mut p = sample();
            p.expiring = expiring;
            p.min_expires_ms = min_expires_ms;
            assert!(
                Properties::decode(&p.encode(), 0).is_err(),
                "{expiring} {min_expires_ms}"
            );
        }
        let mut p = sample();
        p.expiring = 8; // every put expires
        assert!(Properties::decode(&p.encode(), 0).is_ok());
        let mut p = sample();
        p.tombstones = 11;
        assert!(Properties::decode(&p.encode(), 0).is_err());
        let mut p = sample();
        p.min_seq = 401;
        assert!(Properties::decode(&p.encode(), 0).is_err());
        let mut p = sample();
        p.entries = 0;
        assert!(Properties::decode(&p.encode(), 9).is_err());
    }
}

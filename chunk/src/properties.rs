//! The properties block: counts, key and sequence ranges, sizes.
//!
//! Payload (FORMAT.md, "Properties block"): the fields below in this order,
//! integers as varints, keys as `varint length ++ bytes`; nothing may follow.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::coding::{put_varint, Decoder};
use crate::ChunkError;

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
    /// Sum of the value lengths of all entries.
    pub raw_value_bytes: u64,
    /// Stored bytes of all data blocks (= the offset of the index block).
    pub data_bytes: u64,
    /// Stored bytes of the index block (including its trailer).
    pub index_bytes: u64,
    /// Stored bytes of the filter block (including its trailer).
    pub filter_bytes: u64,
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
        out
    }

    /// Decodes a properties payload. `offset` names the block in errors.
    pub(crate) fn decode(payload: &[u8], offset: u64) -> Result<Properties, ChunkError> {
        let bad = |what: &str| ChunkError::corrupt(offset, format!("properties block: {what}"));
        let mut d = Decoder::new(payload);
        let mut int = || d.varint().ok_or_else(|| bad("truncated field"));
        let format_version =
            u32::try_from(int()?).map_err(|_| bad("format version out of range"))?;
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
        if !d.is_empty() {
            return Err(bad(&format!(
                "{} trailing bytes",
                payload.len().saturating_sub(d.position())
            )));
        }
        if p.entries == 0 || p.tombstones > p.entries || p.blocks == 0 || p.blocks > p.entries {
            return Err(bad("inconsistent entry/tombstone/block counts"));
        }
        if p.min_seq > p.max_seq || p.min_key > p.max_key {
            return Err(bad("inverted key or sequence range"));
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

    fn sample() -> Properties {
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
    fn inconsistent_values_are_rejected() {
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

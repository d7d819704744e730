//! Atomic write batches and their WAL encoding.
//!
//! A batch is one WAL record. Its payload (see `wal/FORMAT.md`):
//!
//! ```text
//! +--------------+-------------+------------------------------------------+
//! | first_seq u64| count u32   | op * count                               |
//! +--------------+-------------+------------------------------------------+
//! op = kind u8 | key_len varint | key | rest
//!   kind 0 delete:          rest = (nothing)
//!   kind 1 put:             rest = value_len varint | value
//!   kind 2 expiring put:    rest = value_len varint | value | ttl_ms varint
//!   kind 3 range delete:    key = start, rest = end_len varint | end
//! ```
//! (op kinds are frozen: never renumber). An expiring put's value expires
//! `ttl_ms` after its record's commit time. A range delete removes every
//! key in `[start, end)` written before it, with one seq.
//! Op `i` gets sequence number `first_seq + i`; all integers little-endian,
//! varints are LEB128.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};

/// One change inside a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// Set `key` to `value` until `ttl` after the write commits; from then
    /// on every read finds the key absent, and compaction drops it.
    PutExpiring {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
        /// How long the value lives, from its commit (whole milliseconds).
        ttl: Duration,
    },
    /// Remove every key in `start..end` (start included, end excluded)
    /// written before this op: one op and one seq however many keys.
    DeleteRange {
        /// First key removed.
        start: Bytes,
        /// First key kept (after the range).
        end: Bytes,
    },
}

impl BatchOp {
    /// The key this op changes (the first key of a range delete).
    pub fn key(&self) -> &Bytes {
        match self {
            BatchOp::Put { key, .. }
            | BatchOp::Delete { key }
            | BatchOp::PutExpiring { key, .. } => key,
            BatchOp::DeleteRange { start, .. } => start,
        }
    }

    /// The value a put writes (`None` for a delete).
    pub fn value(&self) -> Option<&Bytes> {
        match self {
            BatchOp::Put { value, .. } | BatchOp::PutExpiring { value, .. } => Some(value),
            BatchOp::Delete { .. } | BatchOp::DeleteRange { .. } => None,
        }
    }
}

/// Op kinds in the WAL encoding (frozen: never renumber).
const OP_DELETE: u8 = 0;
const OP_PUT: u8 = 1;
const OP_PUT_EXPIRING: u8 = 2;
const OP_DELETE_RANGE: u8 = 3;

/// The longest TTL a write may ask for (about 292 million years would fit
/// a u64 of ms; this keeps expiry times far from overflow).
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A group of puts and deletes applied atomically: readers see all of it or
/// none of it, and a crash keeps all of it or none of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// The WAL record of a bulk ingest: one delete of the empty key, which
    /// no user batch can hold (empty keys are refused). It takes the ingest's
    /// sequence number in the log, so the log's seqs stay gapless, and
    /// changes nothing when applied (see `wal/FORMAT.md`, "Ingest markers").
    pub(crate) fn ingest_marker() -> WriteBatch {
        let mut batch = WriteBatch::new();
        batch.delete(Bytes::new());
        batch
    }

    /// True for the record of a bulk ingest ([`WriteBatch::ingest_marker`]).
    pub(crate) fn is_ingest_marker(&self) -> bool {
        matches!(self.ops.as_slice(), [BatchOp::Delete { key }] if key.is_empty())
    }

    /// Adds a put.
    pub fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        // Saturates: a batch that large fails `validate` anyway.
        self.bytes = self
            .bytes
            .saturating_add(key.len().saturating_add(value.len()).saturating_add(12));
        self.ops.push(BatchOp::Put { key, value });
        self
    }

    /// Adds a put whose value expires `ttl` after the batch commits (in
    /// whole milliseconds; at most [`MAX_TTL`]). From then on every read
    /// finds the key absent, and compaction drops the value.
    pub fn put_with_ttl(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        self.bytes = self
            .bytes
            .saturating_add(key.len().saturating_add(value.len()).saturating_add(22));
        self.ops.push(BatchOp::PutExpiring { key, value, ttl });
        self
    }

    /// Gives every plain put of the batch `ttl` (an options' default TTL).
    pub(crate) fn with_default_ttl(mut self, ttl: Duration) -> WriteBatch {
        for op in &mut self.ops {
            if let BatchOp::Put { key, value } = op {
                *op = BatchOp::PutExpiring {
                    key: std::mem::take(key),
                    value: std::mem::take(value),
                    ttl,
                };
                self.bytes = self.bytes.saturating_add(10);
            }
        }
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: impl Into<Bytes>) -> &mut Self {
        let key = key.into();
        self.bytes = self.bytes.saturating_add(key.len().saturating_add(6));
        self.ops.push(BatchOp::Delete { key });
        self
    }

    /// Adds a range delete: every key in `start..end` (start included, end
    /// excluded) written before this batch reads as absent from then on.
    /// One op and one seq, however many keys the range holds; compaction
    /// drops the keys it covers. `start` must sort before `end`.
    pub fn delete_range(&mut self, start: impl Into<Bytes>, end: impl Into<Bytes>) -> &mut Self {
        let (start, end) = (start.into(), end.into());
        self.bytes = self
            .bytes
            .saturating_add(start.len().saturating_add(end.len()).saturating_add(12));
        self.ops.push(BatchOp::DeleteRange { start, end });
        self
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch has no ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The ops in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Approximate encoded size in bytes.
    pub fn approximate_size(&self) -> usize {
        self.bytes.saturating_add(12)
    }

    /// Checks every key and value against the limits; nothing is written when
    /// this fails.
    pub(crate) fn validate(&self, max_key: usize, max_value: usize) -> Result<()> {
        if self.ops.is_empty() {
            return Err(Error::InvalidArgument("empty write batch".into()));
        }
        if self.bytes > MAX_BATCH_BYTES {
            return Err(Error::InvalidArgument(format!(
                "write batch of {} bytes exceeds the limit of {MAX_BATCH_BYTES} bytes; split it",
                self.bytes
            )));
        }
        for (i, op) in self.ops.iter().enumerate() {
            let key = op.key();
            if key.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "op {i}: empty keys are not allowed"
                )));
            }
            if key.len() > max_key {
                return Err(Error::InvalidArgument(format!(
                    "op {i}: key of {} bytes exceeds the key size limit of {max_key} bytes (Options::max_key_size)",
                    key.len()
                )));
            }
            if let BatchOp::DeleteRange { start, end } = op {
                if end.len() > max_key {
                    return Err(Error::InvalidArgument(format!(
                        "op {i}: range end of {} bytes exceeds the key size limit of {max_key} bytes (Options::max_key_size)",
                        end.len()
                    )));
                }
                if start >= end {
                    return Err(Error::InvalidArgument(format!(
                        "op {i}: a range delete needs start < end (start is included, end excluded); got start {:?} and end {:?}",
                        start.escape_ascii().to_string(),
                        end.escape_ascii().to_string()
                    )));
                }
            }
            if let BatchOp::PutExpiring { ttl, .. } = op {
                if ttl.is_zero() || *ttl > MAX_TTL {
                    return Err(Error::InvalidArgument(format!(
                        "op {i}: a TTL of {ttl:?} is out of range (1 ms ..= {MAX_TTL:?})"
                    )));
                }
            }
            if let Some(value) = op.value() {
                if value.len() > max_value {
                    return Err(Error::InvalidArgument(format!(
                        "op {i}: value of {} bytes exceeds the value size limit of {max_value} bytes (Options::max_value_size)",
                        value.len()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Appends the WAL payload of this batch, numbered from `first_seq`.
    pub(crate) fn encode_into(&self, first_seq: u64, out: &mut Vec<u8>) {
        out.reserve(self.bytes.saturating_add(12));
        out.extend_from_slice(&first_seq.to_le_bytes());
        out.extend_from_slice(&(self.ops.len() as u32).to_le_bytes());
        for op in &self.ops {
            match op {
                BatchOp::Put { key, value } => {
                    out.push(OP_PUT);
                    put_varint(out, key.len() as u64);
                    out.extend_from_slice(key);
                    put_varint(out, value.len() as u64);
                    out.extend_from_slice(value);
                }
                BatchOp::Delete { key } => {
                    out.push(OP_DELETE);
                    put_varint(out, key.len() as u64);
                    out.extend_from_slice(key);
                }
                BatchOp::PutExpiring { key, value, ttl } => {
                    out.push(OP_PUT_EXPIRING);
                    put_varint(out, key.len() as u64);
                    out.extend_from_slice(key);
                    put_varint(out, value.len() as u64);
                    out.extend_from_slice(value);
                    put_varint(out, ttl_ms(*ttl));
                }
                BatchOp::DeleteRange { start, end } => {
                    out.push(OP_DELETE_RANGE);
                    put_varint(out, start.len() as u64);
                    out.extend_from_slice(start);
                    put_varint(out, end.len() as u64);
                    out.extend_from_slice(end);
                }
            }
        }
    }

    /// Decodes a WAL payload; returns the first sequence number and the batch.
    /// Keys and values are zero-copy slices of `payload`.
    pub(crate) fn decode(payload: &Bytes) -> std::result::Result<(u64, WriteBatch), String> {
        let mut pos = 0usize;
        let first_seq = u64::from_le_bytes(
            take(payload, &mut pos, 8)?
                .try_into()
                .map_err(|_| "short seq")?,
        );
        let count = u32::from_le_bytes(
            take(payload, &mut pos, 4)?
                .try_into()
                .map_err(|_| "short count")?,
        );
        let mut batch = WriteBatch::new();
        for i in 0..count {
            let kind = *take(payload, &mut pos, 1)?.first().ok_or("short kind")?;
            let klen = get_varint(payload, &mut pos)?;
            let key = take_bytes(payload, &mut pos, klen)?;
            match kind {
                OP_PUT => {
                    let vlen = get_varint(payload, &mut pos)?;
                    let value = take_bytes(payload, &mut pos, vlen)?;
                    batch.put(key, value);
                }
                OP_DELETE => {
                    batch.delete(key);
                }
                OP_PUT_EXPIRING => {
                    let vlen = get_varint(payload, &mut pos)?;
                    let value = take_bytes(payload, &mut pos, vlen)?;
                    let ttl = get_varint(payload, &mut pos)?;
                    batch.put_with_ttl(key, value, Duration::from_millis(ttl));
                }
                OP_DELETE_RANGE => {
                    let elen = get_varint(payload, &mut pos)?;
                    let end = take_bytes(payload, &mut pos, elen)?;
                    batch.delete_range(key, end);
                }
                other => return Err(format!("op {i}: unknown kind {other}")),
            }
        }
        if pos != payload.len() {
            return Err(format!(
                "{} trailing bytes after {count} ops",
                payload.len().saturating_sub(pos)
            ));
        }
        if count == 0 {
            return Err("batch with no ops".into());
        }
        Ok((first_seq, batch))
    }
}

/// A TTL in whole milliseconds (at least 1).
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Largest accepted batch (encoded), well under the WAL's u32 record length.
pub const MAX_BATCH_BYTES: usize = 1 << 30;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> std::result::Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos = pos.checked_add(1).ok_or("varint past the end")?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> std::result::Result<&'a [u8], String> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| {
            format!(
                "needs {n} bytes at offset {pos}, only {} remain",
                buf.len().saturating_sub(*pos)
            )
        })?;
    let s = buf.get(*pos..end).ok_or("range past the end")?;
    *pos = end;
    Ok(s)
}

fn take_bytes(buf: &Bytes, pos: &mut usize, n: u64) -> std::result::Result<Bytes, String> {
    let n = usize::try_from(n).map_err(|_| "length overflows usize")?;
    let start = *pos;
    take(buf, pos, n)?;
    Ok(buf.slice(start..*pos))
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
    fn round_trip() {
        let mut b = WriteBatch::new();
        b.put(&b"k1"[..], &b"v1"[..])
            .delete(&b"k2"[..])
            .put_with_ttl(&b"k4"[..], &b"v4"[..], Duration::from_secs(90))
            .delete_range(&b"a"[..], &b"c"[..])
            .put(&b"k3"[..], Bytes::new());
        let mut out = Vec::new();
        b.encode_into(42, &mut out);
        let (seq, back) = WriteBatch::decode(&Bytes::from(out)).unwrap();
        assert_eq!(seq, 42);
        assert_eq!(back.ops(), b.ops());
    }

    #[test]
    fn limits_are_enforced() {
        let mut b = WriteBatch::new();
        b.put(vec![1u8; 11], &b"v"[..]);
        let err = b.validate(10, 100).unwrap_err().to_string();
        assert!(err.contains("key size limit of 10"), "{err}");
        let mut b = WriteBatch::new();
        b.put(&b"k"[..], vec![0u8; 101]);
        assert!(b
            .validate(10, 100)
            .unwrap_err()
            .to_string()
            .contains("value size limit of 100"));
        let mut b = WriteBatch::new();
        b.delete(Bytes::new());
        assert!(b
            .validate(10, 100)
            .unwrap_err()
            .to_string()
            .contains("empty keys"));
        assert!(WriteBatch::new().validate(10, 100).is_err());
        let mut b = WriteBatch::new();
        b.put_with_ttl(&b"k"[..], &b"v"[..], Duration::ZERO);
        assert!(b.validate(10, 100).unwrap_err().to_string().contains("TTL"));
        for (start, end) in [("b", "a"), ("a", "a"), ("", "a")] {
            let mut b = WriteBatch::new();
            b.delete_range(start, end);
            assert!(b.validate(10, 100).is_err(), "{start:?}..{end:?}");
        }
        let mut b = WriteBatch::new();
        b.delete_range("a", vec![b'z'; 11]);
        assert!(b
            .validate(10, 100)
            .unwrap_err()
            .to_string()
            .contains("range end"));
        let mut b = WriteBatch::new();
        b.delete_range("a", "b");
        assert!(b.validate(10, 100).is_ok());
        let mut b = WriteBatch::new();
        b.put_with_ttl(&b"k"[..], vec![0u8; 101], Duration::from_secs(1));
        assert!(
            b.validate(10, 100).is_err(),
            "the value limit holds for TTL puts"
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = WriteBatch::decode(&Bytes::from(data));
        }
    }
}

//! The payload of a WAL record, in both layouts (see `FORMAT.md`):
//!
//! ```text
//! version 1 (Plain):  batch
//! version 2 (Timed):  commit_time_ms u64 LE | batch
//! batch = first_seq u64 | count u32 | op * count
//! ```
//!
//! A segment's header, and a shipped object's, carries the format version
//! that says which layout its records have. This build writes version 2:
//! every record says when its commit group was written (milliseconds since
//! the Unix epoch, never decreasing within a writer), so a restore to a
//! time is exact to the record.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use bytes::Bytes;

use crate::write::batch::WriteBatch;

/// Format version of segments and shipped objects whose records are plain
/// batches (frozen: never renumber).
pub(crate) const PLAIN_RECORDS_VERSION: u32 = 1;
/// Format version of segments and shipped objects whose records start with
/// their commit time (frozen: never renumber).
pub(crate) const TIMED_RECORDS_VERSION: u32 = 2;
/// Bytes of the commit time in front of a timed record's batch.
const TIME_LEN: usize = 8;

/// How the records of a segment or shipped object are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordLayout {
    /// Format version 1: the payload is the batch.
    Plain,
    /// Format version 2: the commit time, then the batch.
    Timed,
}

impl RecordLayout {
    /// The layout of format `version`; `None` for a version this build
    /// does not know.
    pub(crate) fn of_version(version: u32) -> Option<RecordLayout> {
        match version {
            PLAIN_RECORDS_VERSION => Some(RecordLayout::Plain),
            TIMED_RECORDS_VERSION => Some(RecordLayout::Timed),
            _ => None,
        }
    }

    /// The format version that has this layout.
    pub(crate) fn version(self) -> u32 {
        match self {
            RecordLayout::Plain => PLAIN_RECORDS_VERSION,
            RecordLayout::Timed => TIMED_RECORDS_VERSION,
        }
    }

    /// The commit time and the batch bytes of `payload`.
    fn split(self, payload: &[u8]) -> Option<(Option<u64>, &[u8])> {
        match self {
            RecordLayout::Plain => Some((None, payload)),
            RecordLayout::Timed => {
                let time: [u8; TIME_LEN] = payload.get(..TIME_LEN)?.try_into().ok()?;
                Some((Some(u64::from_le_bytes(time)), payload.get(TIME_LEN..)?))
            }
        }
    }
}

/// One decoded WAL record.
pub(crate) struct WalRecord {
    /// When its commit group was written (ms since the Unix epoch); `None`
    /// in a version 1 segment or object.
    pub time_ms: Option<u64>,
    /// Sequence numbers of its first and last op.
    pub first: u64,
    pub last: u64,
    pub batch: WriteBatch,
}

/// Decodes a record payload of `layout` (keys and values are zero-copy
/// slices of `payload`).
pub(crate) fn decode_record(
    payload: &Bytes,
    layout: RecordLayout,
) -> std::result::Result<WalRecord, String> {
    let (time_ms, batch_bytes) = layout
        .split(payload)
        .ok_or("record shorter than its commit time")?;
    let offset = payload.len().saturating_sub(batch_bytes.len());
    let (first, batch) = WriteBatch::decode(&payload.slice(offset..))?;
    let ops = batch.len() as u64;
    let last = ops
        .checked_sub(1)
        .and_then(|n| first.checked_add(n))
        .ok_or_else(|| format!("batch with {ops} ops at seq {first} is out of range"))?;
    Ok(WalRecord {
        time_ms,
        first,
        last,
        batch,
    })
}

/// The first and last sequence number of a record payload of `layout`,
/// without decoding its ops.
pub(crate) fn record_seqs(payload: &[u8], layout: RecordLayout) -> Option<(u64, u64)> {
    let (_, batch) = layout.split(payload)?;
    let first = u64::from_le_bytes(batch.get(0..8)?.try_into().ok()?);
    let count = u32::from_le_bytes(batch.get(8..12)?.try_into().ok()?);
    let last = first.checked_add(u64::from(count).checked_sub(1)?)?;
    Some((first, last))
}

/// Appends the payload of a timed record (the layout this build writes):
/// the commit time, then `batch` numbered from `first_seq`.
pub(crate) fn encode_timed(out: &mut Vec<u8>, time_ms: u64, first_seq: u64, batch: &WriteBatch) {
    out.extend_from_slice(&time_ms.to_le_bytes());
    batch.encode_into(first_seq, out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_decode_and_a_cut_time_is_an_error() {
        let mut batch = WriteBatch::new();
        batch.put("k", "v").delete("gone");
        let mut plain = Vec::new();
        batch.encode_into(7, &mut plain);
        let mut timed = Vec::new();
        encode_timed(&mut timed, 1_700_000_000_123, 7, &batch);
        let r = decode_record(&Bytes::from(plain.clone()), RecordLayout::Plain).unwrap();
        assert_eq!((r.time_ms, r.first, r.last, r.batch.len()), (None, 7, 8, 2));
        let r = decode_record(&Bytes::from(timed.clone()), RecordLayout::Timed).unwrap();
        assert_eq!(
            (r.time_ms, r.first, r.last),
            (Some(1_700_000_000_123), 7, 8)
        );
        assert_eq!(record_seqs(&timed, RecordLayout::Timed), Some((7, 8)));
        assert_eq!(record_seqs(&plain, RecordLayout::Plain), Some((7, 8)));
        assert!(decode_record(&Bytes::from(timed[..5].to_vec()), RecordLayout::Timed).is_err());
        assert_eq!(RecordLayout::of_version(3), None);
    }
}

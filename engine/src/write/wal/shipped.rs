//! Shipped WAL objects: the local WAL's records, uploaded to the bucket as
//! immutable objects `wal/<20-digit id>.wal` (see `FORMAT.md`, "Shipped
//! WAL objects").
//!
//! ```text
//! offset  size  field
//! 0       8     magic "FIRNSHIP"
//! 8       4     format version (u32) = 2 (1: records without commit times)
//! 12      4     flags (u32): bit 0 = body is zstd-compressed; others 0
//! 16      8     writer epoch (u64)
//! 24      8     first_seq (u64): first sequence number in the object (0: none)
//! 32      8     last_seq (u64): last sequence number in the object (0: none)
//! 40      4     record count (u32)
//! 44      4     body length uncompressed (u32)
//! 48      4     body length stored (u32)
//! 52      4     CRC-32 of the stored body
//! 56      4     CRC-32 of bytes 0..56
//! 60      ...   body: WAL records exactly as in a local segment, back to back
//! ```
//!
//! An object with no record is a *fence*: a writer that took over the
//! database created it at the next id, so the writer it replaced finds the
//! id taken when it next ships, and learns it is fenced.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use bytes::Bytes;

use super::reader::parse_record;
use super::record::{decode_record, record_seqs, RecordLayout};
use crate::error::{Error, Result};
use crate::write::batch::WriteBatch;

/// Magic at the start of a shipped WAL object (never change).
pub(crate) const SHIPPED_MAGIC: &[u8; 8] = b"FIRNSHIP";
/// The shipped WAL object format version this build writes: the version of
/// its records' layout ([`RecordLayout`]; version 1 is still read).
pub(crate) const SHIPPED_FORMAT_VERSION: u32 = super::record::TIMED_RECORDS_VERSION;
/// Bytes in the header.
pub(crate) const SHIPPED_HEADER_LEN: usize = 60;
/// Flag bit: the body is zstd-compressed (never renumber).
const FLAG_ZSTD: u32 = 1;
/// Largest uncompressed body an object may hold.
pub(crate) const MAX_SHIPPED_BODY: usize = 1 << 30;
/// zstd level for shipped bodies: fast, and WAL batches compress well.
const ZSTD_LEVEL: i32 = 1;

/// A decoded shipped WAL object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShippedObject {
    /// The epoch of the writer that shipped it.
    pub epoch: u64,
    /// First and last sequence number (both 0 for a fence).
    pub first_seq: u64,
    pub last_seq: u64,
    /// Record payloads, in order.
    pub records: Vec<Bytes>,
    /// How the payloads are laid out (by the object's format version).
    pub layout: RecordLayout,
}

impl ShippedObject {
    /// True for a fence (no records).
    pub(crate) fn is_fence(&self) -> bool {
        self.records.is_empty()
    }

    /// The write batches of the object `object` (its name, for errors), in
    /// order, each with its first and last sequence number and commit time.
    /// A record that is not a batch, or an empty one, is a corruption error.
    pub(crate) fn batches(&self, object: &str) -> Result<Vec<ShippedBatch>> {
        self.records
            .iter()
            .map(|payload| {
                let r = decode_record(payload, self.layout).map_err(|why| {
                    Error::corruption(object, None, format!("bad batch in shipped WAL: {why}"))
                })?;
                Ok(ShippedBatch {
                    first: r.first,
                    last: r.last,
                    time_ms: r.time_ms,
                    batch: r.batch,
                })
            })
            .collect()
    }
}

/// One write batch of a shipped object.
pub(crate) struct ShippedBatch {
    pub first: u64,
    pub last: u64,
    /// When its commit group was written (ms since the Unix epoch); `None`
    /// in a version 1 object.
    pub time_ms: Option<u64>,
    pub batch: WriteBatch,
}

/// The sequence range of a run of framed records (a slice of a segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRun {
    pub first_seq: u64,
    pub last_seq: u64,
    pub records: u32,
}

/// Checks the framed records in `body` and returns their sequence range
/// (`None` for an empty body). Every record must be whole and valid, and
/// sequence numbers must increase.
pub(crate) fn scan_records(
    body: &Bytes,
    layout: RecordLayout,
) -> std::result::Result<Option<RecordRun>, String> {
    let mut pos = 0usize;
    let mut run: Option<RecordRun> = None;
    while pos < body.len() {
        let (payload, next) =
            parse_record(body, pos).map_err(|why| format!("record at body offset {pos}: {why}"))?;
        let (first, last) = record_seqs(&payload, layout)
            .ok_or_else(|| format!("record at body offset {pos}: not a write batch"))?;
        run = Some(match run {
            None => RecordRun {
                first_seq: first,
                last_seq: last,
                records: 1,
            },
            Some(r) if first > r.last_seq => RecordRun {
                first_seq: r.first_seq,
                last_seq: last,
                records: r.records.saturating_add(1),
            },
            Some(r) => {
                return Err(format!(
                    "record at body offset {pos}: sequence {first} after {}",
                    r.last_seq
                ))
            }
        });
        pos = next;
    }
    Ok(run)
}

/// Encodes an object of `epoch` holding `body` (whole framed records of
/// `layout` whose range is `run`; `None` and an empty body make a fence).
pub(crate) fn encode(
    epoch: u64,
    body: &[u8],
    run: Option<RecordRun>,
    layout: RecordLayout,
) -> Result<Vec<u8>> {
    let raw_len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_SHIPPED_BODY)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "a shipped WAL object of {} bytes exceeds the limit",
                body.len()
            ))
        })?;
    let (flags, stored) = if body.is_empty() {
        (0, Vec::new())
    } else {
        let compressed = zstd::bulk::compress(body, ZSTD_LEVEL)
            .map_err(|e| Error::Background(format!("compressing a shipped WAL object: {e}")))?;
        (FLAG_ZSTD, compressed)
    };
    let stored_len = u32::try_from(stored.len())
        .map_err(|_| Error::Background("compressed WAL object too large".into()))?;
    let run = run.unwrap_or(RecordRun {
        first_seq: 0,
        last_seq: 0,
        records: 0,
    });
    let mut out = Vec::with_capacity(SHIPPED_HEADER_LEN.saturating_add(stored.len()));
    out.extend_from_slice(SHIPPED_MAGIC);
    out.extend_from_slice(&layout.version().to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&run.first_seq.to_le_bytes());
    out.extend_from_slice(&run.last_seq.to_le_bytes());
    out.extend_from_slice(&run.records.to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    out.extend_from_slice(&stored_len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&stored).to_le_bytes());
    let header_crc = crc32fast::hash(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&stored);
    Ok(out)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    Some(u32::from_le_bytes(b.get(at..end)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    Some(u64::from_le_bytes(b.get(at..end)?.try_into().ok()?))
}

/// The header fields of an object: epoch, first_seq, last_seq, records.
/// Reads only the header (a ranged GET of [`SHIPPED_HEADER_LEN`] bytes is
/// enough).
pub(crate) fn decode_header(data: &[u8], object: &str) -> Result<(u64, RecordRun)> {
    let (epoch, run, _) = header_fields(data, object)?;
    Ok((epoch, run))
}

/// [`decode_header`], and the layout of the object's records.
fn header_fields(data: &[u8], object: &str) -> Result<(u64, RecordRun, RecordLayout)> {
    let bad = |offset: u64, what: String| Error::corruption(object, Some(offset), what);
    let header = data.get(..SHIPPED_HEADER_LEN).ok_or_else(|| {
        bad(
            0,
            format!(
                "shipped WAL object is {} bytes, shorter than its {SHIPPED_HEADER_LEN}-byte header",
                data.len()
            ),
        )
    })?;
    if header.get(..8) != Some(&SHIPPED_MAGIC[..]) {
        return Err(bad(0, "not a shipped WAL object (bad magic)".into()));
    }
    let crc_at = SHIPPED_HEADER_LEN.saturating_sub(4);
    let stored_crc = u32_at(header, crc_at);
    if header.get(..crc_at).map(crc32fast::hash) != stored_crc {
        return Err(bad(crc_at as u64, "header checksum mismatch".into()));
    }
    let field = |at: usize| u64_at(header, at).ok_or_else(|| bad(at as u64, "cut short".into()));
    let word = |at: usize| u32_at(header, at).ok_or_else(|| bad(at as u64, "cut short".into()));
    let version = word(8)?;
    let Some(layout) = RecordLayout::of_version(version) else {
        return Err(bad(
            8,
            format!(
                "shipped WAL format version {version} is not supported (this build reads \
                 versions 1 to {SHIPPED_FORMAT_VERSION}); upgrade Firn"
            ),
        ));
    };
    let run = RecordRun {
        first_seq: field(24)?,
        last_seq: field(32)?,
        records: word(40)?,
    };
    Ok((field(16)?, run, layout))
}

/// Decodes and checks a whole object: header, body checksum, every record's
/// checksum, and that the records match the header's range and count.
pub(crate) fn decode(data: &[u8], object: &str) -> Result<ShippedObject> {
    let bad = |offset: u64, what: String| Error::corruption(object, Some(offset), what);
    let (epoch, run, layout) = header_fields(data, object)?;
    let word = |at: usize| u32_at(data, at).ok_or_else(|| bad(at as u64, "cut short".into()));
    let flags = word(12)?;
    let raw_len = word(44)? as usize;
    let stored_len = word(48)? as usize;
    let body_crc = word(52)?;
    if flags & !FLAG_ZSTD != 0 {
        return Err(bad(12, format!("unknown flags {flags:#x}")));
    }
    let end = SHIPPED_HEADER_LEN
        .checked_add(stored_len)
        .ok_or_else(|| bad(48, "stored length out of range".into()))?;
    let stored = data.get(SHIPPED_HEADER_LEN..end).ok_or_else(|| {
        bad(
            SHIPPED_HEADER_LEN as u64,
            format!(
                "body cut short: {} bytes of {stored_len}",
                data.len().saturating_sub(SHIPPED_HEADER_LEN)
            ),
        )
    })?;
    if data.len() != end {
        return Err(bad(end as u64, "trailing bytes after the body".into()));
    }
    if crc32fast::hash(stored) != body_crc {
        return Err(bad(
            SHIPPED_HEADER_LEN as u64,
            "body checksum mismatch".into(),
        ));
    }
    if raw_len > MAX_SHIPPED_BODY {
        return Err(bad(44, format!("body length {raw_len} out of range")));
    }
    let body = if flags & FLAG_ZSTD != 0 {
        let raw = zstd::bulk::decompress(stored, raw_len).map_err(|e| {
            bad(
                SHIPPED_HEADER_LEN as u64,
                format!("body does not decompress: {e}"),
            )
        })?;
        if raw.len() != raw_len {
            return Err(bad(
                44,
                format!(
                    "body decompresses to {} bytes, header says {raw_len}",
                    raw.len()
                ),
            ));
        }
        Bytes::from(raw)
    } else {
        if stored.len() != raw_len {
            return Err(bad(44, "uncompressed body length mismatch".into()));
        }
        Bytes::copy_from_slice(stored)
    };
    let found = scan_records(&body, layout).map_err(|why| bad(SHIPPED_HEADER_LEN as u64, why))?;
    let expected = (run.records > 0).then_some(run);
    if found != expected {
        return Err(bad(
            24,
            format!("header says {expected:?}, the records hold {found:?}"),
        ));
    }
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos < body.len() {
        let (payload, next) = parse_record(&body, pos)
            .map_err(|why| bad(SHIPPED_HEADER_LEN as u64, why.to_string()))?;
        records.push(payload);
        pos = next;
    }
    Ok(ShippedObject {
        epoch,
        first_seq: run.first_seq,
        last_seq: run.last_seq,
        records,
        layout,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::frame_record;
    use super::*;

    fn records(seqs: &[(u64, u32)]) -> Vec<u8> {
        let mut buf = Vec::new();
        for &(first, count) in seqs {
            frame_record(&mut buf, |out| {
                out.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
                out.extend_from_slice(&first.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
                out.extend_from_slice(b"ops");
            });
        }
        buf
    }

    #[test]
    fn round_trip_and_every_flipped_bit_is_caught() {
        let body = records(&[(5, 2), (7, 1), (10, 3)]);
        let run = scan_records(&Bytes::from(body.clone()), RecordLayout::Timed).unwrap();
        assert_eq!(
            run,
            Some(RecordRun {
                first_seq: 5,
                last_seq: 12,
                records: 3
            })
        );
        let bytes = encode(4, &body, run, RecordLayout::Timed).unwrap();
        let obj = decode(&bytes, "wal/x").unwrap();
        assert_eq!((obj.epoch, obj.first_seq, obj.last_seq), (4, 5, 12));
        assert_eq!(obj.records.len(), 3);
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                assert!(decode(&bad, "wal/x").is_err(), "flip at {i}");
            }
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], "wal/x").is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_fence_has_no_records() {
        let bytes = encode(9, &[], None, RecordLayout::Timed).unwrap();
        let obj = decode(&bytes, "wal/f").unwrap();
        assert!(obj.is_fence());
        assert_eq!(obj.epoch, 9);
        assert_eq!(decode_header(&bytes, "wal/f").unwrap().0, 9);
    }

    #[test]
    fn decreasing_sequences_are_refused() {
        let body = Bytes::from(records(&[(10, 1), (9, 1)]));
        assert!(scan_records(&body, RecordLayout::Timed).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = decode(&data, "wal/p");
            let mut framed = SHIPPED_MAGIC.to_vec();
            framed.extend_from_slice(&data);
            let _ = decode(&framed, "wal/p");
        }
    }
}

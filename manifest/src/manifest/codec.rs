//! The byte format of a manifest object (see also `FORMAT.md`).
//!
//! ```text
//! offset  size  field
//! ------  ----  -----------------------------------------------------------------
//!      0     8  magic            b"FIRNMNFT"
//!      8     4  format_version   u32 little-endian (this build writes 5, reads 1 to 5)
//!     12     4  payload_len      u32 little-endian, = N
//!     16     N  payload          postcard encoding of `Manifest`
//!   16+N     4  crc32            u32 little-endian, CRC-32 (IEEE) of bytes [0, 16+N)
//! ```
//!
//! The object is exactly `20 + N` bytes; trailing bytes are corruption. A reader checks, in this
//! order: length of the header, magic, format version (a newer one is
//! [`ManifestError::UnsupportedVersion`], since its layout past the version may differ), total
//! length, checksum, then decodes the payload, which must be consumed exactly.
//!
//! Format versions (never renumber):
//!
//! | version | payload |
//! |---|---|
//! | 1 | `ManifestV1`: every field of [`Manifest`] up to `claims` (the last 64 writer claims) |
//! | 2 | `ManifestV2`: version 1 plus `fenced`, `writer_clean`, `fence_records_since` |
//! | 3 | `ManifestV3`: version 2 plus `wal_objects_from` |
//! | 4 | [`Manifest`]: version 3 plus `sources` (the databases a clone reads chunks from) and `history_retention_ms` |
//!
//! A version 1 object decodes into a [`Manifest`] whose fence records are derived from the
//! claims it remembers ([`upgrade_v1`]); versions 1 and 2 have `wal_objects_from` 0 (unknown:
//! an open reads every shipped WAL object); versions 1 to 3 have no `sources` (no clones
//! before version 4) and no retention window (`history_retention_ms` 0).

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use serde::Deserialize;

use super::model::{FencedWriter, Manifest, SortedRun, Totals, WriterClaim};
use crate::error::ManifestError;

/// The 8 bytes every manifest object starts with.
pub const MAGIC: [u8; 8] = *b"FIRNMNFT";

/// The manifest format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 5;

/// The first format version: no fence records (frozen: never renumber).
const FORMAT_V1: u32 = 1;

/// The second format version: no `wal_objects_from` (frozen: never renumber).
const FORMAT_V2: u32 = 2;

/// The third format version: no `sources`, no `history_retention_ms` (frozen: never
/// renumber).
const FORMAT_V3: u32 = 3;

/// The fourth format version: the payload of version 5, but no chunk was bulk-ingested (every
/// chunk object carries its entries' own sequence numbers). Frozen: never renumber.
const FORMAT_V4: u32 = 4;

/// Bytes before the payload: magic, format version, payload length.
pub const HEADER_LEN: usize = 16;

/// Bytes after the payload: the CRC-32.
pub const TRAILER_LEN: usize = 4;

/// Encodes a manifest into the bytes of its object.
#[allow(
    clippy::expect_used,
    reason = "postcard encoding of plain structs into a Vec cannot fail, and a payload is far \
              below 4 GiB; an encoder has no input to distrust"
)]
pub fn encode(m: &Manifest) -> Vec<u8> {
    // Serialising plain structs of integers and byte vectors into a Vec cannot fail.
    let payload = postcard::to_allocvec(m).expect("postcard encoding of a Manifest into a Vec");
    let payload_len =
        u32::try_from(payload.len()).expect("a manifest payload is far smaller than 4 GiB");
    let mut out = Vec::with_capacity(payload.len().saturating_add(HEADER_LEN + TRAILER_LEN));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the bytes of a manifest object. `object` names it in errors. Never panics: any
/// malformed input is [`ManifestError::Corrupt`] (with the offset of the problem) or, for a
/// newer format, [`ManifestError::UnsupportedVersion`].
pub fn decode(bytes: &[u8], object: &str) -> Result<Manifest, ManifestError> {
    let corrupt = |offset: usize, detail: String| ManifestError::Corrupt {
        object: object.to_string(),
        offset: offset as u64,
        detail,
    };

    let Some(magic) = bytes.get(0..8) else {
        return Err(corrupt(
            0,
            format!(
                "object is {} bytes, shorter than the {}-byte manifest header",
                bytes.len(),
                HEADER_LEN
            ),
        ));
    };
    if magic != MAGIC {
        return Err(corrupt(
            0,
            format!("bad magic {magic:02x?}, expected \"FIRNMNFT\": not a manifest object"),
        ));
    }
    let Some(version) = read_u32(bytes, 8) else {
        return Err(corrupt(
            8,
            format!("object is {} bytes, header truncated", bytes.len()),
        ));
    };
    if version > FORMAT_VERSION {
        return Err(ManifestError::UnsupportedVersion {
            object: object.to_string(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt(8, "format version 0 was never written".to_string()));
    }
    let Some(payload_len) = read_u32(bytes, 12) else {
        return Err(corrupt(
            12,
            format!("object is {} bytes, header truncated", bytes.len()),
        ));
    };
    // In u64 so that no length can overflow, whatever the platform.
    let expected_len = u64::from(payload_len).saturating_add((HEADER_LEN + TRAILER_LEN) as u64);
    if bytes.len() as u64 != expected_len {
        let offset = (bytes.len() as u64).min(expected_len);
        return Err(ManifestError::Corrupt {
            object: object.to_string(),
            offset,
            detail: format!(
                "object is {} bytes, but its header announces a {payload_len}-byte payload \
                 ({expected_len} bytes in all)",
                bytes.len()
            ),
        });
    }
    // The length check above makes this the exact end of the payload.
    let payload_end = bytes.len().saturating_sub(TRAILER_LEN);
    let (Some(body), Some(stored_crc)) = (bytes.get(..payload_end), read_u32(bytes, payload_end))
    else {
        return Err(corrupt(payload_end, "checksum missing".to_string()));
    };
    let actual_crc = crc32fast::hash(body);
    if stored_crc != actual_crc {
        return Err(corrupt(
            payload_end,
            format!("checksum mismatch: stored {stored_crc:#010x}, computed {actual_crc:#010x}"),
        ));
    }
    let payload = body.get(HEADER_LEN..).unwrap_or_default();
    let undecodable = |e: postcard::Error| corrupt(HEADER_LEN, format!("undecodable payload: {e}"));
    let (manifest, rest) = if version == FORMAT_V1 {
        let (v1, rest) = postcard::take_from_bytes::<ManifestV1>(payload).map_err(undecodable)?;
        (upgrade_v1(v1), rest)
    } else if version == FORMAT_V2 {
        let (v2, rest) = postcard::take_from_bytes::<ManifestV2>(payload).map_err(undecodable)?;
        (upgrade_v2(v2), rest)
    } else if version == FORMAT_V3 {
        let (v3, rest) = postcard::take_from_bytes::<ManifestV3>(payload).map_err(undecodable)?;
        (upgrade_v3(v3), rest)
    } else {
        // Versions 4 and 5 share the payload: version 5 only allows chunks whose entries
        // take their sequence number from the manifest (bulk ingest, see `ChunkMeta`).
        const _: () = assert!(FORMAT_V4 + 1 == FORMAT_VERSION);
        postcard::take_from_bytes::<Manifest>(payload).map_err(undecodable)?
    };
    if !rest.is_empty() {
        return Err(corrupt(
            payload_end.saturating_sub(rest.len()),
            format!("{} unexpected bytes after the payload", rest.len()),
        ));
    }
    Ok(manifest)
}

/// The payload of format version 1 (frozen: the layout of objects already written).
#[derive(Deserialize)]
struct ManifestV1 {
    version: u64,
    db_id: [u8; 16],
    epoch: u64,
    nonce: u64,
    wal_watermark: u64,
    next_chunk_id: u64,
    next_run_id: u64,
    l0: Vec<super::model::ChunkMeta>,
    runs: Vec<SortedRun>,
    published_at_ms: u64,
    totals: Totals,
    claims: Vec<WriterClaim>,
}

/// The payload of format version 2 (frozen: the layout of objects already written).
#[derive(Deserialize)]
struct ManifestV2 {
    version: u64,
    db_id: [u8; 16],
    epoch: u64,
    nonce: u64,
    wal_watermark: u64,
    next_chunk_id: u64,
    next_run_id: u64,
    l0: Vec<super::model::ChunkMeta>,
    runs: Vec<SortedRun>,
    published_at_ms: u64,
    totals: Totals,
    claims: Vec<WriterClaim>,
    fenced: Vec<FencedWriter>,
    writer_clean: bool,
    fence_records_since: u64,
}

/// The payload of format version 3 (frozen: the layout of objects already written).
#[derive(Deserialize)]
struct ManifestV3 {
    version: u64,
    db_id: [u8; 16],
    epoch: u64,
    nonce: u64,
    wal_watermark: u64,
    next_chunk_id: u64,
    next_run_id: u64,
    l0: Vec<super::model::ChunkMeta>,
    runs: Vec<SortedRun>,
    published_at_ms: u64,
    totals: Totals,
    claims: Vec<WriterClaim>,
    fenced: Vec<FencedWriter>,
    writer_clean: bool,
    fence_records_since: u64,
    wal_objects_from: u64,
}

/// A version 3 manifest as a current one: it owns all its chunks (no `sources`).
fn upgrade_v3(v3: ManifestV3) -> Manifest {
    Manifest {
        version: v3.version,
        db_id: v3.db_id,
        epoch: v3.epoch,
        nonce: v3.nonce,
        wal_watermark: v3.wal_watermark,
        next_chunk_id: v3.next_chunk_id,
        next_run_id: v3.next_run_id,
        l0: v3.l0,
        runs: v3.runs,
        published_at_ms: v3.published_at_ms,
        totals: v3.totals,
        claims: v3.claims,
        fenced: v3.fenced,
        writer_clean: v3.writer_clean,
        fence_records_since: v3.fence_records_since,
        wal_objects_from: v3.wal_objects_from,
        sources: Vec::new(),
        history_retention_ms: 0,
    }
}

/// A version 2 manifest as a current one: which shipped WAL objects hold only flushed writes
/// is unknown (`wal_objects_from` 0).
fn upgrade_v2(v2: ManifestV2) -> Manifest {
    Manifest {
        version: v2.version,
        db_id: v2.db_id,
        epoch: v2.epoch,
        nonce: v2.nonce,
        wal_watermark: v2.wal_watermark,
        next_chunk_id: v2.next_chunk_id,
        next_run_id: v2.next_run_id,
        l0: v2.l0,
        runs: v2.runs,
        published_at_ms: v2.published_at_ms,
        totals: v2.totals,
        claims: v2.claims,
        fenced: v2.fenced,
        writer_clean: v2.writer_clean,
        fence_records_since: v2.fence_records_since,
        wal_objects_from: 0,
        sources: Vec::new(),
        history_retention_ms: 0,
    }
}

/// A version 1 manifest as a current one. Its fence records are rebuilt by replaying the claims
/// it remembers (each claim by another directory fences the previous claimant, a directory's
/// own claim clears its record); epochs older than the oldest remembered claim stay unknown
/// (`fence_records_since`).
fn upgrade_v1(v1: ManifestV1) -> Manifest {
    let mut fenced: Vec<FencedWriter> = Vec::new();
    let mut previous: Option<&WriterClaim> = None;
    for claim in &v1.claims {
        if let Some(prev) = previous {
            if prev.writer_id != claim.writer_id && prev.writer_id != [0; 16] {
                fenced.retain(|f| f.writer_id != prev.writer_id);
                fenced.push(FencedWriter {
                    writer_id: prev.writer_id,
                    epoch: prev.epoch,
                    wal_watermark: claim.wal_watermark,
                    fenced_by_epoch: claim.epoch,
                    fenced_at_ms: claim.claimed_at_ms,
                });
            }
        }
        fenced.retain(|f| f.writer_id != claim.writer_id || claim.writer_id == [0; 16]);
        previous = Some(claim);
    }
    // The first remembered claim is complete history only if it is the database's first.
    let fence_records_since = match v1.claims.first() {
        Some(first) if first.epoch > 1 => first.epoch,
        Some(_) => 0,
        None if v1.epoch > 0 => v1.epoch,
        None => 0,
    };
    Manifest {
        version: v1.version,
        db_id: v1.db_id,
        epoch: v1.epoch,
        nonce: v1.nonce,
        wal_watermark: v1.wal_watermark,
        next_chunk_id: v1.next_chunk_id,
        next_run_id: v1.next_run_id,
        l0: v1.l0,
        runs: v1.runs,
        published_at_ms: v1.published_at_ms,
        totals: v1.totals,
        claims: v1.claims,
        fenced,
        writer_clean: false,
        fence_records_since,
        wal_objects_from: 0,
        sources: Vec::new(),
        history_retention_ms: 0,
    }
}

/// Reads a little-endian u32 at `at`, if the bytes are there.
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
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
    fn layout() -> Result<(), ManifestError> {
        let m = Manifest::new([7; 16]);
        let bytes = encode(&m);
        assert_eq!(&bytes[..8], b"FIRNMNFT");
        assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
        let n = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        assert_eq!(bytes.len(), 16 + n + 4);
        let crc = crc32fast::hash(&bytes[..16 + n]);
        assert_eq!(bytes[16 + n..], crc.to_le_bytes());
        assert_eq!(decode(&bytes, "manifest/x")?, m);
        Ok(())
    }

    #[test]
    fn errors_name_object_and_offset() {
        let mut bytes = encode(&Manifest::new([7; 16]));
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let err = decode(&bytes, "manifest/00000000000000000003").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("manifest/00000000000000000003"), "{msg}");
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert!(
            matches!(err, ManifestError::Corrupt { offset, .. } if offset == (last - 3) as u64)
        );

        let err = decode(b"hello world, not a manifest", "m").unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
        let err = decode(b"", "m").unwrap_err();
        assert!(err.to_string().contains("0 bytes"), "{err}");
    }
}

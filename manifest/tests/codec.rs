//! The manifest byte format: round trips, and errors (never panics) on damaged input.

use firn_manifest::manifest::{FORMAT_VERSION, HEADER_LEN};
use firn_manifest::{
    decode, encode, ChunkId, ChunkMeta, Manifest, ManifestError, SortedRun, WriterClaim,
};
use proptest::collection::vec;
use proptest::prelude::*;

const OBJECT: &str = "manifest/00000000000000000042";

fn chunk_meta() -> impl Strategy<Value = ChunkMeta> {
    (
        (any::<u64>(), any::<u64>()),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        vec(any::<u8>(), 0..24),
        vec(any::<u8>(), 0..24),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(
                (epoch, id),
                size,
                meta_offset,
                meta_len,
                entries,
                tombstones,
                min_key,
                max_key,
                min_seq,
                max_seq,
            )| {
                ChunkMeta {
                    id: ChunkId { epoch, id },
                    size,
                    meta_offset,
                    meta_len,
                    entries,
                    tombstones,
                    min_key,
                    max_key,
                    min_seq,
                    max_seq,
                }
            },
        )
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        (any::<u64>(), any::<[u8; 16]>(), any::<u64>(), any::<u64>()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        vec(chunk_meta(), 0..6),
        vec((any::<u64>(), vec(chunk_meta(), 0..5)), 0..4),
        vec(any::<(u64, u64, u64, u64)>(), 0..4),
    )
        .prop_map(
            |(
                (version, db_id, epoch, nonce),
                (wal_watermark, next_chunk_id, next_run_id, published_at_ms),
                l0,
                runs,
                claims,
            )| Manifest {
                version,
                db_id,
                epoch,
                nonce,
                wal_watermark,
                next_chunk_id,
                next_run_id,
                l0,
                runs: runs
                    .into_iter()
                    .map(|(id, chunks)| SortedRun { id, chunks })
                    .collect(),
                published_at_ms,
                totals: firn_manifest::Totals {
                    flushes: wal_watermark ^ 1,
                    flush_bytes: next_chunk_id,
                    compactions: next_run_id,
                    compaction_bytes_read: epoch,
                    compaction_bytes_written: nonce,
                    gc_chunks_deleted: version,
                    gc_bytes_reclaimed: published_at_ms ^ 7,
                },
                claims: claims
                    .into_iter()
                    .map(
                        |(epoch, version, wal_watermark, claimed_at_ms)| WriterClaim {
                            epoch,
                            writer_id: [epoch as u8; 16],
                            version,
                            wal_watermark,
                            claimed_at_ms,
                        },
                    )
                    .collect(),
            },
        )
}

fn assert_corrupt(result: Result<Manifest, ManifestError>) -> Result<(), TestCaseError> {
    match result {
        Err(ManifestError::Corrupt { object, .. }) => {
            prop_assert_eq!(object, OBJECT);
            Ok(())
        }
        Err(ManifestError::UnsupportedVersion { object, .. }) => {
            prop_assert_eq!(object, OBJECT);
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "expected a decode error, got {other:?}"
        ))),
    }
}

proptest! {
    #[test]
    fn round_trip(m in manifest()) {
        let bytes = encode(&m);
        prop_assert_eq!(decode(&bytes, OBJECT).map_err(|e| TestCaseError::fail(e.to_string()))?, m);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        // Almost always an error; the point is that it returns.
        let _ = decode(&bytes, OBJECT);
    }

    #[test]
    fn random_payload_behind_a_valid_header_never_panics(payload in vec(any::<u8>(), 0..512)) {
        let mut bytes = b"FIRNMNFT".to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        // The checksum is right, so this exercises the payload decoder on garbage.
        let _ = decode(&bytes, OBJECT);
    }

    #[test]
    fn truncations_are_errors(m in manifest(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&m);
        let len = cut.index(bytes.len());
        assert_corrupt(decode(&bytes[..len], OBJECT))?;
    }

    #[test]
    fn trailing_bytes_are_errors(m in manifest(), extra in vec(any::<u8>(), 1..8)) {
        let mut bytes = encode(&m);
        bytes.extend_from_slice(&extra);
        assert_corrupt(decode(&bytes, OBJECT))?;
    }

    #[test]
    fn bit_flips_are_errors(m in manifest(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encode(&m);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // A flip in the version field may read as a newer version; anything else is corruption.
        assert_corrupt(decode(&bytes, OBJECT))?;
    }
}

#[test]
fn newer_format_version_is_unsupported() {
    let mut bytes = encode(&Manifest::new([9; 16]));
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    // A valid checksum too, so the version alone decides.
    let end = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    match decode(&bytes, OBJECT) {
        Err(ManifestError::UnsupportedVersion {
            object,
            found,
            supported,
        }) => {
            assert_eq!(object, OBJECT);
            assert_eq!(found, FORMAT_VERSION + 1);
            assert_eq!(supported, FORMAT_VERSION);
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    let msg = decode(&bytes, OBJECT)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains(OBJECT) && msg.contains("format version 2"),
        "{msg}"
    );
}

#[test]
fn payload_errors_point_past_the_header() {
    let m = Manifest::new([1; 16]);
    let mut bytes = encode(&m);
    // Claim a payload one byte shorter and drop the last payload byte: header, length and
    // checksum agree, so only the payload decoder can notice.
    let payload_len = bytes.len() - HEADER_LEN - 4 - 1;
    bytes.truncate(HEADER_LEN + payload_len);
    bytes[12..16].copy_from_slice(&(payload_len as u32).to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    match decode(&bytes, OBJECT) {
        Err(ManifestError::Corrupt { offset, detail, .. }) => {
            assert_eq!(offset, HEADER_LEN as u64, "{detail}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

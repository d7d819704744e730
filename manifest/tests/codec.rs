//! The manifest byte format: round trips, and errors (never panics) on damaged input.

use firn_manifest::manifest::{FORMAT_VERSION, HEADER_LEN};
use firn_manifest::{
    decode, encode, ChunkId, ChunkMeta, ChunkSource, FencedWriter, Manifest, ManifestError,
    SortedRun, Totals, WriterClaim,
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
        (
            vec(any::<([u8; 16], u64, u64, u64, u64)>(), 0..4),
            any::<bool>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (version, db_id, epoch, nonce),
                (wal_watermark, next_chunk_id, next_run_id, published_at_ms),
                l0,
                runs,
                claims,
                (fenced, writer_clean, fence_records_since),
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
                fenced: fenced
                    .into_iter()
                    .map(
                        |(writer_id, epoch, wal_watermark, fenced_by_epoch, fenced_at_ms)| {
                            FencedWriter {
                                writer_id,
                                epoch,
                                wal_watermark,
                                fenced_by_epoch,
                                fenced_at_ms,
                            }
                        },
                    )
                    .collect(),
                writer_clean,
                fence_records_since,
                wal_objects_from: fence_records_since ^ 3,
                sources: (0..(fence_records_since % 3))
                    .map(|i| ChunkSource {
                        url: format!("s3://bucket/source-{i}"),
                        db_id: [i as u8; 16],
                        max_epoch: i + 1,
                        pinned_version: version ^ i,
                        pin: format!("clone-{i}"),
                    })
                    .collect(),
                history_retention_ms: published_at_ms % 1_000_000,
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
        msg.contains(OBJECT) && msg.contains(&format!("format version {}", FORMAT_VERSION + 1)),
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

/// The payload of manifest format version 1, as older builds wrote it.
#[derive(serde::Serialize)]
struct ManifestV1 {
    version: u64,
    db_id: [u8; 16],
    epoch: u64,
    nonce: u64,
    wal_watermark: u64,
    next_chunk_id: u64,
    next_run_id: u64,
    l0: Vec<ChunkMeta>,
    runs: Vec<SortedRun>,
    published_at_ms: u64,
    totals: Totals,
    claims: Vec<WriterClaim>,
}

fn frame_v1(m: &ManifestV1) -> Vec<u8> {
    let payload = postcard::to_allocvec(m).unwrap();
    let mut bytes = b"FIRNMNFT".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&payload);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fn claim(epoch: u64, writer: u8, wal_watermark: u64) -> WriterClaim {
    WriterClaim {
        epoch,
        writer_id: [writer; 16],
        version: epoch * 10,
        wal_watermark,
        claimed_at_ms: epoch * 1000,
    }
}

/// A version 1 manifest still opens: its fence records are rebuilt from the claims it
/// remembers, and epochs before the oldest remembered claim are marked unknown.
#[test]
fn format_version_1_decodes_with_fence_records_rebuilt() {
    let v1 = |claims: Vec<WriterClaim>| ManifestV1 {
        version: 42,
        db_id: [3; 16],
        epoch: claims.last().map_or(0, |c| c.epoch),
        nonce: 7,
        wal_watermark: 500,
        next_chunk_id: 9,
        next_run_id: 2,
        l0: Vec::new(),
        runs: Vec::new(),
        published_at_ms: 123,
        totals: Totals::default(),
        claims,
    };
    // A (1) is fenced by B (2) at 10; B reopens (3: no fence); A's wal was dealt with and A
    // claims (4) at 30, fencing B; C claims (5) at 40, fencing A.
    let claims = vec![
        claim(1, 0xA, 0),
        claim(2, 0xB, 10),
        claim(3, 0xB, 20),
        claim(4, 0xA, 30),
        claim(5, 0xC, 40),
    ];
    let m = decode(&frame_v1(&v1(claims.clone())), OBJECT).unwrap();
    assert_eq!(m.version, 42);
    assert_eq!(m.claims, claims);
    assert_eq!(
        m.fence_records_since, 0,
        "every claim since epoch 1 is remembered"
    );
    assert!(!m.writer_clean);
    let records: Vec<_> = m
        .fenced
        .iter()
        .map(|f| (f.writer_id[0], f.epoch, f.wal_watermark, f.fenced_by_epoch))
        .collect();
    assert_eq!(records, vec![(0xB, 3, 30, 4), (0xA, 4, 40, 5)]);
    // Re-encoded, it is written in the current format and reads back the same.
    let again = encode(&m);
    assert_eq!(again[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(decode(&again, OBJECT).unwrap(), m);

    // Only the last claims remembered: older epochs are unknown.
    let m = decode(&frame_v1(&v1(claims[2..].to_vec())), OBJECT).unwrap();
    assert_eq!(m.fence_records_since, 3);
    assert_eq!(m.fenced.len(), 2);
}

// Golden fixtures (tests/fixtures/): a manifest object of every format version, checked in and
// decoded to its known contents, so a silent layout change fails here even when encoder and
// decoder change together. Written only by `FIRN_BLESS_FIXTURES=1 cargo test -p firn-manifest
// --test codec golden`, when a version is added on purpose; older ones stay and must decode.

fn golden(name: &str, fresh: &[u8]) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("FIRN_BLESS_FIXTURES").is_some() {
        std::fs::write(&path, fresh).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "golden fixture {} is missing ({e}); write it with FIRN_BLESS_FIXTURES=1",
            path.display()
        )
    })
}

fn known_chunk(epoch: u64, id: u64, keys: (&str, &str), seqs: (u64, u64)) -> ChunkMeta {
    ChunkMeta {
        id: ChunkId { epoch, id },
        size: 4096 + id,
        meta_offset: 4000,
        meta_len: 96 + id,
        entries: 100 * id,
        tombstones: id,
        min_key: keys.0.as_bytes().to_vec(),
        max_key: keys.1.as_bytes().to_vec(),
        min_seq: seqs.0,
        max_seq: seqs.1,
    }
}

fn known_totals() -> Totals {
    Totals {
        flushes: 3,
        flush_bytes: 12_345,
        compactions: 1,
        compaction_bytes_read: 8_000,
        compaction_bytes_written: 7_000,
        gc_chunks_deleted: 2,
        gc_bytes_reclaimed: 8_192,
    }
}

fn known_v1() -> ManifestV1 {
    ManifestV1 {
        version: 17,
        db_id: [0x5A; 16],
        epoch: 4,
        nonce: 0xDEAD_BEEF,
        wal_watermark: 230,
        next_chunk_id: 9,
        next_run_id: 3,
        l0: vec![known_chunk(4, 8, ("a", "m"), (201, 230))],
        runs: vec![SortedRun {
            id: 2,
            chunks: vec![
                known_chunk(3, 5, ("a", "f"), (1, 200)),
                known_chunk(3, 6, ("g", "z\u{ff}"), (2, 199)),
            ],
        }],
        published_at_ms: 1_700_000_000_000,
        totals: known_totals(),
        claims: vec![claim(3, 0xB, 100), claim(4, 0xA, 200)],
    }
}

#[test]
fn golden_manifest_v1_decodes_to_its_known_contents() {
    let bytes = golden("v1.manifest", &frame_v1(&known_v1()));
    assert_eq!(bytes[8..12], 1u32.to_le_bytes());
    let m = decode(&bytes, OBJECT).unwrap();
    let v1 = known_v1();
    assert_eq!(
        (m.version, m.db_id, m.epoch, m.nonce, m.wal_watermark),
        (17, [0x5A; 16], 4, 0xDEAD_BEEF, 230)
    );
    assert_eq!((m.next_chunk_id, m.next_run_id), (9, 3));
    assert_eq!((m.l0.clone(), m.runs.clone()), (v1.l0, v1.runs));
    assert_eq!(m.published_at_ms, 1_700_000_000_000);
    assert_eq!(m.totals, known_totals());
    assert_eq!(m.claims, v1.claims);
    // Upgraded: B (epoch 3) was fenced by A's claim at watermark 200; epochs before 3 unknown.
    assert_eq!(
        m.fenced,
        vec![FencedWriter {
            writer_id: [0xB; 16],
            epoch: 3,
            wal_watermark: 200,
            fenced_by_epoch: 4,
            fenced_at_ms: 4000,
        }]
    );
    assert!(!m.writer_clean);
    assert_eq!(m.fence_records_since, 3);
}

/// The contents of the version 2, 3 and 4 fixtures (version 2 has no `wal_objects_from`,
/// versions 2 and 3 no `sources`).
fn known_current(wal_objects_from: u64, sources: Vec<ChunkSource>) -> Manifest {
    let v1 = known_v1();
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
        fenced: vec![FencedWriter {
            writer_id: [0xB; 16],
            epoch: 3,
            wal_watermark: 200,
            fenced_by_epoch: 4,
            fenced_at_ms: 4000,
        }],
        writer_clean: true,
        fence_records_since: 0,
        wal_objects_from,
        history_retention_ms: if sources.is_empty() {
            0
        } else {
            7 * 86_400_000
        },
        sources,
    }
}

/// The sources of the version 4 fixture: a clone of a clone.
fn known_sources() -> Vec<ChunkSource> {
    vec![
        ChunkSource {
            url: "s3://bucket/origin".into(),
            db_id: [0x11; 16],
            max_epoch: 2,
            pinned_version: 9,
            pin: "clone-5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a".into(),
        },
        ChunkSource {
            url: "file:///srv/firn/first-clone/objects".into(),
            db_id: [0x22; 16],
            max_epoch: 3,
            pinned_version: 12,
            pin: "clone-5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a".into(),
        },
    ]
}

#[test]
fn golden_manifest_v2_decodes_to_its_known_contents() {
    let bytes = golden_existing("v2.manifest");
    assert_eq!(bytes[8..12], 2u32.to_le_bytes());
    // Version 2 did not know which shipped WAL objects were flushed: 0, read them all.
    assert_eq!(
        decode(&bytes, OBJECT).unwrap(),
        known_current(0, Vec::new())
    );
}

#[test]
fn golden_manifest_v3_decodes_to_its_known_contents() {
    let bytes = golden_existing("v3.manifest");
    assert_eq!(bytes[8..12], 3u32.to_le_bytes());
    // Version 3 had no clones: no sources.
    assert_eq!(
        decode(&bytes, OBJECT).unwrap(),
        known_current(42, Vec::new())
    );
}

#[test]
fn golden_manifest_v4_decodes_to_its_known_contents() {
    let bytes = golden_existing("v4.manifest");
    assert_eq!(bytes[8..12], 4u32.to_le_bytes());
    let m = decode(&bytes, OBJECT).unwrap();
    assert_eq!(m, known_current(42, known_sources()));
    // Chunks of epochs 1-2 are the origin's, 3 the first clone's, 4 on its own.
    let at = |epoch| m.source_of(ChunkId { epoch, id: 1 }).map(|s| s.db_id);
    assert_eq!(
        (at(1), at(2), at(3), at(4)),
        (Some([0x11; 16]), Some([0x11; 16]), Some([0x22; 16]), None)
    );
}

/// The version 5 fixture: the version 4 contents plus a bulk-ingested run, whose chunk says
/// `min_seq == max_seq` (its entries take that seq from the manifest).
fn known_v5() -> Manifest {
    let mut m = known_current(42, known_sources());
    m.runs.insert(
        0,
        SortedRun {
            id: m.next_run_id,
            chunks: vec![ChunkMeta {
                id: ChunkId { epoch: 4, id: 77 },
                size: 9000,
                meta_offset: 8000,
                meta_len: 1000,
                entries: 500,
                tombstones: 0,
                min_key: b"ingest-000".to_vec(),
                max_key: b"ingest-499".to_vec(),
                min_seq: 321,
                max_seq: 321,
            }],
        },
    );
    m.next_run_id += 1;
    m
}

#[test]
fn golden_manifest_v5_decodes_to_its_known_contents_and_encodes_to_the_same_bytes() {
    assert_eq!(
        FORMAT_VERSION, 5,
        "a new manifest format version needs its own fixture"
    );
    let known = known_v5();
    let bytes = golden("v5.manifest", &encode(&known));
    assert_eq!(bytes[8..12], 5u32.to_le_bytes());
    let m = decode(&bytes, OBJECT).unwrap();
    assert_eq!(m, known);
    assert_eq!(encode(&known), bytes, "the manifest encoding changed");
    assert_eq!(m.runs[0].chunks[0].uniform_seq(), Some(321));
    assert_eq!(m.l0.iter().filter_map(|c| c.uniform_seq()).count(), 0);
}

/// A fixture of an older format version: never rewritten, only read.
fn golden_existing(name: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("golden fixture {}: {e}", path.display()))
}

//! The local index file: a round trip answers every query like the index it
//! was written from, and every damaged, truncated, extended or foreign file
//! is refused with an error, never a panic.

mod common;

use bytes::Bytes;
use common::{block_size, entries, sample_chunk, user_key, Owned};
use firn_chunk::{ChunkBuilder, ChunkError, ChunkIndex, ChunkOptions, ChunkReader, MAX_SEQ};
use proptest::prelude::*;

/// Offsets of the local index layout (FORMAT.md, "Local index file").
const VERSION_AT: usize = 8;
const META_OFFSET_AT: usize = 24;
const BLOOM_K_AT: usize = 56;
const PROPS_LEN_AT: usize = 60;
const PROPS_AT: usize = 64 + 72;

fn index_of(chunk: &[u8]) -> ChunkIndex {
    ChunkReader::open(chunk).expect("opens").index().clone()
}

fn sample_local() -> (ChunkIndex, Vec<u8>) {
    let idx = index_of(&sample_chunk(400, 1024));
    let enc = idx.encode_local();
    (idx, enc)
}

fn decode(bytes: &[u8]) -> Result<ChunkIndex, ChunkError> {
    ChunkIndex::decode_local(Bytes::copy_from_slice(bytes))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn entries_at(enc: &[u8]) -> usize {
    (PROPS_AT + u32_at(enc, PROPS_LEN_AT) as usize).next_multiple_of(8)
}

/// Recomputes the trailer CRC after an edit, so that the checks behind it run.
fn fix_crc(enc: &mut [u8]) {
    let at = enc.len() - 8;
    let crc = crc32fast::hash(&enc[..at]);
    enc[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Every query, on every block and on `probes`: must not panic.
fn query_everything(idx: &ChunkIndex, probes: &[(Vec<u8>, u64)]) {
    let _ = (
        idx.properties(),
        idx.footer(),
        idx.file_size(),
        idx.meta_offset(),
    );
    let _ = idx.memory_usage();
    for i in 0..idx.block_count() {
        let _ = idx.block_handle(i);
        let (k, s) = idx.separator(i);
        let _ = (idx.seek_block(k, s), idx.may_contain(k));
    }
    for (k, s) in probes {
        let _ = (idx.seek_block(k, *s), idx.may_contain(k));
    }
    let _ = idx.encode_local();
}

/// Asserts that `local` answers like `idx`, on every block and on `probes`.
fn assert_same_answers(idx: &ChunkIndex, local: &ChunkIndex, probes: &[(Vec<u8>, u64)]) {
    assert_eq!(local.properties(), idx.properties());
    assert_eq!(local.footer(), idx.footer());
    assert_eq!(local.file_size(), idx.file_size());
    assert_eq!(local.meta_offset(), idx.meta_offset());
    assert_eq!(local.block_count(), idx.block_count());
    assert_eq!(local.memory_usage(), idx.memory_usage());
    for i in 0..idx.block_count() {
        assert_eq!(local.block_handle(i), idx.block_handle(i), "block {i}");
        let (k, s) = idx.separator(i);
        assert_eq!(local.separator(i), (k, s), "separator {i}");
        for (key, seq) in [(k, s), (k, s.saturating_add(1)), (k, s.saturating_sub(1))] {
            assert_eq!(local.seek_block(key, seq), idx.seek_block(key, seq));
        }
        assert_eq!(local.may_contain(k), idx.may_contain(k));
    }
    for (k, s) in probes {
        assert_eq!(local.seek_block(k, *s), idx.seek_block(k, *s), "{k:?} {s}");
        assert_eq!(local.may_contain(k), idx.may_contain(k), "{k:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn local_round_trip_answers_every_query(
        input in entries(120),
        bs in block_size(),
        bloom_bits in prop::sample::select(vec![0u32, 1, 10, 40]),
        probes in prop::collection::vec((user_key(), prop_oneof![0u64..70, Just(MAX_SEQ)]), 40),
    ) {
        let opts = ChunkOptions { block_size: bs, bloom_bits_per_key: bloom_bits, ..ChunkOptions::default() };
        let mut b = ChunkBuilder::new(opts, Vec::new());
        for (k, s, kind, v) in &input {
            b.add(k, *s, *kind, v).expect("sorted input");
        }
        let (file, _) = b.finish().expect("non-empty");
        let idx = index_of(&file);
        let enc = idx.encode_local();
        let local = ChunkIndex::decode_local(Bytes::from(enc.clone())).expect("decodes");
        let mut all: Vec<(Vec<u8>, u64)> =
            input.iter().map(|e: &Owned| (e.0.clone(), e.1)).collect();
        all.extend(probes);
        assert_same_answers(&idx, &local, &all);
        for (k, _, _, _) in &input {
            prop_assert!(local.may_contain(k), "bloom false negative");
        }
        prop_assert_eq!(local.encode_local(), enc);
    }

    #[test]
    fn random_bytes_are_an_error(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        prefixed in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        if prefixed {
            // A valid magic, version and header length, so the checks behind
            // them run on the random rest.
            bytes.extend_from_slice(b"FIRNLIDX");
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&64u32.to_le_bytes());
        }
        bytes.extend_from_slice(&data);
        prop_assert!(decode(&bytes).is_err());
    }
}

#[test]
fn every_byte_change_is_detected() {
    let (_, enc) = sample_local();
    decode(&enc).expect("the intact file decodes");
    for pos in 0..enc.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = enc.clone();
            bad[pos] ^= mask;
            assert!(
                decode(&bad).is_err(),
                "change at byte {pos} (mask {mask:#x}) undetected"
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    let (_, enc) = sample_local();
    for cut in 0..enc.len() {
        assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
        // Dropping a prefix is refused too.
        assert!(
            decode(&enc[cut + 1..]).is_err(),
            "prefix of {} cut",
            cut + 1
        );
    }
    for extra in [&[0u8][..], b"FIDX", &[0; 64]] {
        let mut longer = enc.clone();
        longer.extend_from_slice(extra);
        assert!(
            matches!(decode(&longer), Err(ChunkError::Corrupt { offset, .. }) if offset == enc.len() as u64),
            "{} trailing bytes",
            extra.len()
        );
    }
    assert!(matches!(
        decode(&[]),
        Err(ChunkError::Truncated { size: 0, .. })
    ));
}

#[test]
fn a_newer_version_is_named() {
    let (_, enc) = sample_local();
    let mut newer = enc.clone();
    newer[VERSION_AT..VERSION_AT + 4].copy_from_slice(&2u32.to_le_bytes());
    // Named as such whether or not its checksum matches, and even if the rest
    // of a newer layout would not parse.
    for bytes in [newer.clone(), newer[..20].to_vec(), {
        fix_crc(&mut newer);
        newer
    }] {
        let err = decode(&bytes).expect_err("newer version");
        assert!(
            matches!(
                err,
                ChunkError::UnsupportedLocalIndexVersion {
                    found: 2,
                    supported: 1
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("local index format version 2"));
    }
    let mut zero = enc;
    zero[VERSION_AT..VERSION_AT + 4].copy_from_slice(&0u32.to_le_bytes());
    fix_crc(&mut zero);
    assert!(matches!(
        decode(&zero),
        Err(ChunkError::Corrupt { offset: 8, .. })
    ));
}

/// A chunk file or anything else is not a local index.
#[test]
fn foreign_files_are_refused() {
    let chunk = sample_chunk(50, 256);
    assert!(matches!(
        decode(&chunk),
        Err(ChunkError::Corrupt { offset: 0, .. })
    ));
    assert!(decode(b"FIRNLIDX").is_err());
}

/// Edits behind a recomputed CRC (what only a faulty writer produces): the
/// structural checks catch the inconsistent ones, and nothing panics.
#[test]
fn checks_behind_the_checksum() {
    let (idx, enc) = sample_local();
    let ents = entries_at(&enc);
    let n = idx.block_count();
    let edit = |at: usize, bytes: &[u8]| {
        let mut bad = enc.clone();
        bad[at..at + bytes.len()].copy_from_slice(bytes);
        fix_crc(&mut bad);
        decode(&bad)
    };
    let record = |i: usize, field: usize| ents + 32 * i + 8 * field;
    // Header disagrees with the footer.
    let meta = idx.meta_offset() + 1;
    assert!(edit(META_OFFSET_AT, &meta.to_le_bytes()).is_err());
    // Too many bloom probes.
    assert!(matches!(
        edit(BLOOM_K_AT, &31u32.to_le_bytes()),
        Err(ChunkError::Corrupt { offset: 56, .. })
    ));
    // Key ends: decreasing, past the keys, leaving bytes unused.
    assert!(edit(record(1, 0), &0u64.to_le_bytes()).is_err());
    assert!(edit(record(n - 1, 0), &u64::MAX.to_le_bytes()).is_err());
    let last_end = idx.separator(n - 1).0.len() as u64;
    let last_key_end = u64::from_le_bytes(enc[record(n - 1, 0)..][..8].try_into().expect("8"));
    assert!(last_end > 0);
    assert!(edit(record(n - 1, 0), &(last_key_end - 1).to_le_bytes()).is_err());
    // Separators out of order: an empty key after a non-empty one, or a
    // sequence number above MAX_SEQ.
    let (k0, _) = idx.separator(0);
    assert!(!k0.is_empty());
    let end0 = k0.len() as u64;
    match edit(record(1, 0), &end0.to_le_bytes()) {
        Err(ChunkError::Corrupt { offset, detail }) => {
            assert_eq!(offset, record(1, 0) as u64);
            assert!(detail.contains("out of order"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let err = edit(record(0, 1), &(MAX_SEQ + 1).to_le_bytes()).expect_err("seq");
    assert!(
        matches!(err, ChunkError::Corrupt { offset, .. } if offset == record(0, 0) as u64),
        "{err:?}"
    );
    // Handles that do not tile the data region.
    let h = idx.block_handle(1);
    assert!(edit(record(1, 2), &(h.offset + 1).to_le_bytes()).is_err());
    assert!(edit(record(n - 1, 3), &0u64.to_le_bytes()).is_err());
    // Nonzero padding, when there is any.
    let props_end = PROPS_AT + u32_at(&enc, PROPS_LEN_AT) as usize;
    if props_end < ents {
        assert!(edit(props_end, &[1]).is_err());
    }

    // Every single-byte change behind a fixed CRC: an error, or an index
    // that answers queries without panicking.
    let probes: Vec<(Vec<u8>, u64)> = (0..50u64)
        .map(|i| (format!("user/{:06}", i * 25).into_bytes(), 100 + i))
        .collect();
    for pos in 0..enc.len() - 8 {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = enc.clone();
            bad[pos] ^= mask;
            fix_crc(&mut bad);
            if let Ok(local) = decode(&bad) {
                query_everything(&local, &probes);
            }
        }
    }
}

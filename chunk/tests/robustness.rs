//! Robustness: every decoder returns an error, never panics, for garbage,
//! truncations and corruption; and because every byte of a chunk is covered by
//! a checksum, every single-byte change of a valid chunk is detected.

mod common;

use bytes::Bytes;
use common::{sample_chunk, seal};
use firn_chunk::{
    decode_block, BlockHandle, ChunkError, ChunkIndex, ChunkReader, Footer, FOOTER_LEN,
    FORMAT_VERSION,
};
use proptest::prelude::*;

/// Opens and fully checks a chunk; Ok only if everything is intact.
fn open_and_verify(bytes: &[u8]) -> Result<(), ChunkError> {
    let reader = ChunkReader::open(Bytes::copy_from_slice(bytes))?;
    reader.verify()?;
    for e in reader.entries() {
        e?;
    }
    Ok(())
}

/// Runs every decoder over `bytes`, ignoring results: must not panic.
fn poke_everything(bytes: &[u8]) {
    let size = bytes.len() as u64;
    let _ = Footer::decode(bytes, size);
    let _ = ChunkIndex::decode(bytes, 0, size);
    let _ = decode_block(
        bytes,
        BlockHandle {
            offset: 0,
            len: size,
        },
    );
    if let Ok(block) = decode_block(
        bytes,
        BlockHandle {
            offset: 0,
            len: size,
        },
    ) {
        let _ = block.get(b"user/000300", u64::MAX);
        let _ = block.get_with_meta(b"user/000301", u64::MAX);
        let mut it = block.iter();
        let _ = it.seek_to_first();
        while matches!(it.next(), Ok(true)) {
            let _ = (it.meta(), it.value_slice());
        }
    }
    if let Ok(reader) = ChunkReader::open(bytes) {
        let _ = reader.verify();
        let _ = reader.entries().count();
        let _ = reader.get(b"user/000300", u64::MAX);
        let _ = reader.get_with_meta(b"user/000003", u64::MAX);
        let _ = reader.entries_from(b"user/0001", 10).count();
    }
}

#[test]
fn every_single_byte_change_is_detected() {
    let chunk = sample_chunk(400, 1024);
    open_and_verify(&chunk).expect("the intact chunk verifies");
    // The sample holds both zstd-compressed and raw-stored data blocks.
    let reader = ChunkReader::open(chunk.as_slice()).expect("opens");
    let types: Vec<u8> = (0..reader.index().block_count())
        .map(|i| chunk[reader.index().block_handle(i).end() as usize - 5])
        .collect();
    assert!(types.contains(&0) && types.contains(&1), "{types:?}");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for pos in 0..chunk.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = chunk.clone();
            bad[pos] ^= mask;
            assert!(
                open_and_verify(&bad).is_err(),
                "change at byte {pos} (mask {mask:#x}) undetected"
            );
        }
        // And one random replacement value.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut bad = chunk.clone();
        let replacement = (x as u8).wrapping_add(1).max(1);
        bad[pos] ^= replacement;
        assert!(
            open_and_verify(&bad).is_err(),
            "change at byte {pos} undetected"
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    let chunk = sample_chunk(300, 512);
    let reader = ChunkReader::open(chunk.as_slice()).expect("opens");
    let meta = reader.index().meta_offset() as usize;
    for cut in 0..chunk.len() {
        let prefix = &chunk[..cut];
        assert!(
            ChunkReader::open(prefix).is_err(),
            "prefix of {cut} bytes opened"
        );
        assert!(
            Footer::decode(prefix, cut as u64).is_err(),
            "footer of prefix {cut}"
        );
        poke_everything(prefix);
        // Suffixes: what a wrong meta_offset would hand to the index decoder.
        let suffix = &chunk[cut..];
        if cut != meta {
            assert!(ChunkIndex::decode(suffix, cut as u64, chunk.len() as u64).is_err());
        }
    }
    // Every truncation of every stored block.
    for i in 0..reader.index().block_count() {
        let h = reader.index().block_handle(i);
        let raw = &chunk[h.offset as usize..h.end() as usize];
        decode_block(raw, h).expect("intact block");
        for cut in 0..raw.len() {
            assert!(decode_block(&raw[..cut], h).is_err());
            let short = BlockHandle {
                offset: h.offset,
                len: cut as u64,
            };
            assert!(decode_block(&raw[..cut], short).is_err());
        }
    }
}

#[test]
fn foreign_files_are_not_chunks() {
    let text =
        b"This is a plain text file that someone passed to chunk-dump by mistake.\n".repeat(3);
    assert!(matches!(
        ChunkReader::open(text.as_slice()),
        Err(ChunkError::NotAChunk { .. })
    ));
    assert!(matches!(
        ChunkReader::open(&b"short"[..]),
        Err(ChunkError::Truncated { size: 5, needed }) if needed == FOOTER_LEN as u64
    ));
    assert!(matches!(
        ChunkReader::open(&b""[..]),
        Err(ChunkError::Truncated { .. })
    ));
}

#[test]
fn newer_format_versions_are_refused_by_name() {
    let mut chunk = sample_chunk(50, 4096);
    let reader = ChunkReader::open(chunk.as_slice()).expect("opens");
    let mut footer = *reader.index().footer();
    footer.format_version = 7;
    let at = chunk.len() - FOOTER_LEN;
    chunk[at..].copy_from_slice(&footer.encode());
    match ChunkReader::open(chunk.as_slice()) {
        Err(ChunkError::UnsupportedVersion {
            found: 7,
            supported: FORMAT_VERSION,
        }) => {}
        other => panic!("expected UnsupportedVersion, got {:?}", other.err()),
    }
}

#[test]
fn corrupt_errors_name_the_absolute_offset() {
    let chunk = sample_chunk(300, 1024);
    let reader = ChunkReader::open(chunk.as_slice()).expect("opens");
    let h = reader.index().block_handle(3);
    let mut bad = chunk.clone();
    bad[h.offset as usize + 2] ^= 0x40;
    let reader = ChunkReader::open(bad.as_slice()).expect("metadata intact");
    match reader.verify() {
        Err(ChunkError::Corrupt { offset, detail }) => {
            assert_eq!(offset, h.offset);
            assert!(detail.contains("checksum"), "{detail}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(reader.read_block(3).is_err());
    assert!(reader.read_block(2).is_ok());
    let results: Vec<_> = reader.entries().collect();
    assert!(
        results.last().is_some_and(|r| r.is_err()),
        "iteration ends with the error"
    );
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
}

/// Builds a stored block from arbitrary contents with a valid checksum, so
/// that the structure parsers behind the CRC are exercised too.
fn forged_block(contents: &[u8], zstd: bool) -> Vec<u8> {
    if zstd {
        let frame = zstd::bulk::compress(contents, 1).expect("compress");
        let mut payload = Vec::new();
        let mut n = contents.len() as u64;
        while n >= 0x80 {
            payload.push(n as u8 | 0x80);
            n >>= 7;
        }
        payload.push(n as u8);
        payload.extend_from_slice(&frame);
        seal(&payload, 1)
    } else {
        seal(contents, 0)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let size = bytes.len() as u64;
        prop_assert!(Footer::decode(&bytes, size).is_err());
        prop_assert!(ChunkIndex::decode(&bytes, 0, size).is_err());
        let whole = BlockHandle { offset: 0, len: size };
        prop_assert!(decode_block(&bytes, whole).is_err());
        prop_assert!(ChunkReader::open(bytes.as_slice()).is_err());
        poke_everything(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_footer_magic(
        body in prop::collection::vec(any::<u8>(), 0..600),
        tail in prop::collection::vec(any::<u8>(), 60),
    ) {
        let mut bytes = body;
        bytes.extend_from_slice(&tail);
        bytes.extend_from_slice(b"FIRNCHNK");
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        prop_assert!(ChunkReader::open(bytes.as_slice()).is_err());
        poke_everything(&bytes);
    }

    #[test]
    fn random_flips_of_a_valid_chunk(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        bs in prop::sample::select(vec![64usize, 700, 4096]),
    ) {
        let mut chunk = sample_chunk(120, bs);
        for (pos, mask) in &flips {
            let i = pos.index(chunk.len());
            chunk[i] ^= mask;
        }
        // A set of flips can cancel out; then the chunk is intact again.
        let original = sample_chunk(120, bs);
        if chunk != original {
            prop_assert!(open_and_verify(&chunk).is_err());
        }
        poke_everything(&chunk);
    }

    #[test]
    fn garbage_block_contents_with_valid_checksums(
        contents in prop::collection::vec(any::<u8>(), 0..400),
        zstd in any::<bool>(),
        key in prop::collection::vec(any::<u8>(), 0..8),
        seq in any::<u64>(),
    ) {
        let raw = forged_block(&contents, zstd);
        let h = BlockHandle { offset: 10, len: raw.len() as u64 };
        if let Ok(block) = decode_block(&raw, h) {
            let _ = block.get(&key, seq);
            let mut it = block.iter();
            let _ = it.seek(&key, seq);
            while matches!(it.next(), Ok(true)) {
                let _ = (it.key(), it.seq(), it.kind(), it.value(), it.meta());
            }
            let _ = it.seek_to_first();
            for _ in 0..1000 {
                if !matches!(it.next(), Ok(true)) { break; }
            }
        }
    }

    #[test]
    fn garbage_zstd_payloads_with_valid_checksums(
        payload in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let raw = seal(&payload, 1);
        let h = BlockHandle { offset: 0, len: raw.len() as u64 };
        let _ = decode_block(&raw, h);
        let raw = seal(&payload, 2);
        let h = BlockHandle { offset: 0, len: raw.len() as u64 };
        prop_assert!(decode_block(&raw, h).is_err());
    }

    #[test]
    fn garbage_metadata_with_valid_checksums(
        index in prop::collection::vec(any::<u8>(), 0..120),
        filter in prop::collection::vec(any::<u8>(), 0..40),
        props in prop::collection::vec(any::<u8>(), 0..80),
        data_len in 0u64..64,
    ) {
        // A structurally valid footer and valid block checksums around
        // arbitrary block contents: the index, filter and properties parsers
        // and the consistency checks must reject (or accept) without panicking.
        let index = seal(&index, 0);
        let filter = seal(&filter, 0);
        let props = seal(&props, 0);
        let mut file = vec![0u8; data_len as usize];
        let meta_offset = data_len;
        let ih = BlockHandle { offset: meta_offset, len: index.len() as u64 };
        let fh = BlockHandle { offset: ih.end(), len: filter.len() as u64 };
        let ph = BlockHandle { offset: fh.end(), len: props.len() as u64 };
        file.extend_from_slice(&index);
        file.extend_from_slice(&filter);
        file.extend_from_slice(&props);
        let footer = Footer { index: ih, filter: fh, properties: ph, meta_offset, format_version: 1 };
        file.extend_from_slice(&footer.encode());
        let size = file.len() as u64;
        prop_assert_eq!(Footer::decode(&file, size).expect("footer is valid"), footer);
        let _ = ChunkIndex::decode(&file[meta_offset as usize..], meta_offset, size);
        poke_everything(&file);
    }

    #[test]
    fn mutated_metadata_with_valid_checksums(
        which in 0usize..3,
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        cut in any::<bool>(),
    ) {
        // Corrupt the contents of the index, filter or properties block, then
        // re-seal it with a valid checksum: what a buggy (not a damaged)
        // writer could produce. Decoding must still never panic.
        let chunk = sample_chunk(150, 300);
        let reader = ChunkReader::open(chunk.as_slice()).expect("opens");
        let f = *reader.index().footer();
        let contents = |h: BlockHandle| chunk[h.offset as usize..h.end() as usize - 5].to_vec();
        let mut parts = [contents(f.index), contents(f.filter), contents(f.properties)];
        let target = &mut parts[which];
        if !target.is_empty() {
            let i = pos.index(target.len());
            if cut { target.truncate(i); } else { target[i] ^= mask; }
        }
        let mut file = chunk[..f.meta_offset as usize].to_vec();
        let mut handles = Vec::new();
        for part in &parts {
            let sealed = seal(part, 0);
            handles.push(BlockHandle { offset: file.len() as u64, len: sealed.len() as u64 });
            file.extend_from_slice(&sealed);
        }
        let footer = Footer { index: handles[0], filter: handles[1], properties: handles[2], ..f };
        file.extend_from_slice(&footer.encode());
        poke_everything(&file);
    }

    #[test]
    fn mutated_block_contents_with_valid_checksums(
        block in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        probe in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        let chunk = sample_chunk(150, 300);
        let reader = ChunkReader::open(chunk.as_slice()).expect("opens");
        // Re-encode the decompressed contents with edits, valid CRC, stored raw.
        let h = reader.index().block_handle(block.index(reader.index().block_count()));
        let raw = &chunk[h.offset as usize..h.end() as usize];
        let mut contents = if raw[raw.len() - 5] == 1 {
            let payload = &raw[..raw.len() - 5];
            let skip = payload.iter().position(|&x| x < 0x80).expect("varint") + 1;
            zstd::bulk::decompress(&payload[skip..], 1 << 20).expect("zstd")
        } else {
            raw[..raw.len() - 5].to_vec()
        };
        for (pos, byte) in edits {
            let i = pos.index(contents.len());
            contents[i] = byte;
        }
        let sealed = seal(&contents, 0);
        let h = BlockHandle { offset: h.offset, len: sealed.len() as u64 };
        if let Ok(block) = decode_block(&sealed, h) {
            let _ = block.get(&probe, u64::MAX);
            let _ = block.get_with_meta(&probe, u64::MAX);
            let mut it = block.iter();
            let _ = it.seek(&probe, 5);
            let _ = it.seek_to_first();
            while matches!(it.next(), Ok(true)) {
                let _ = (it.meta(), it.value());
            }
        }
    }
}

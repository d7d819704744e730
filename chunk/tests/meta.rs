//! Entry metadata (format version 2): puts carry an [`EntryMeta`] (write time
//! and optional expiry) through builder, point lookups and iteration; the
//! properties count expiring entries; malformed metadata is a corruption
//! error, never a panic.

mod common;

use std::cmp::Ordering;

use bytes::Bytes;
use common::{
    block_contents, block_size, build_with_meta, encode_contents, entries_with_meta, get_varint,
    parse_contents, put_varint, seal, user_key, OwnedMeta,
};
use firn_chunk::{
    compare_internal, decode_block, BlockHandle, ChunkBuilder, ChunkError, ChunkOptions,
    ChunkReader, Entry, EntryMeta, Kind, FORMAT_VERSION,
};
use proptest::prelude::*;

fn to_owned(e: Entry) -> OwnedMeta {
    (e.key.to_vec(), e.seq, e.kind, e.value.to_vec(), e.meta)
}

type Found = (u64, Kind, Vec<u8>, Option<EntryMeta>);

/// Newest version of `key` with seq <= `max_seq`.
fn oracle_get(entries: &[OwnedMeta], key: &[u8], max_seq: u64) -> Option<Found> {
    entries
        .iter()
        .find(|e| e.0 == key && e.1 <= max_seq)
        .map(|e| (e.1, e.2, e.3.clone(), e.4))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn metadata_round_trips_through_lookups_and_iteration(
        input in entries_with_meta(100),
        bs in block_size(),
        probes in prop::collection::vec((user_key(), 0u64..70, any::<prop::sample::Index>(), any::<bool>()), 30),
    ) {
        let (file, summary) = build_with_meta(&input, bs);
        let reader = ChunkReader::open(Bytes::from(file)).expect("opens");
        reader.verify().expect("verifies");

        // Iteration gives back every entry with its metadata.
        let back: Vec<OwnedMeta> = reader.entries().map(|e| e.map(to_owned))
            .collect::<Result<_, _>>().expect("iterates");
        prop_assert_eq!(&back, &input);

        // Properties: expiring entries and the earliest expiry.
        let p = reader.index().properties();
        prop_assert_eq!(p, &summary.properties);
        prop_assert_eq!(p.format_version, FORMAT_VERSION);
        let expiries: Vec<u64> = input.iter()
            .filter_map(|e| e.4).map(|m| m.expires_ms).filter(|&x| x != 0).collect();
        prop_assert_eq!(p.expiring, expiries.len() as u64);
        prop_assert_eq!(p.min_expires_ms, expiries.iter().copied().min().unwrap_or(0));
        prop_assert_eq!(p.raw_value_bytes, input.iter().map(|e| e.3.len() as u64).sum::<u64>());
        prop_assert_eq!(p.tombstones, input.iter().filter(|e| e.2 == Kind::Delete).count() as u64);

        // Every entry by its own internal key: through the reader, and
        // through its block (point lookup and a positioned iterator).
        for e in &input {
            let got = reader.get_with_meta(&e.0, e.1).expect("get")
                .map(|(s, k, v, m)| (s, k, v.to_vec(), m));
            prop_assert_eq!(got, Some((e.1, e.2, e.3.clone(), e.4)));
            let b = reader.index().seek_block(&e.0, e.1).expect("in range");
            let block = reader.read_block(b).expect("block");
            let got = block.get_with_meta(&e.0, e.1).expect("block get")
                .map(|(s, k, v, m)| (s, k, v.to_vec(), m));
            prop_assert_eq!(got, Some((e.1, e.2, e.3.clone(), e.4)));
            let mut it = block.iter();
            it.seek(&e.0, e.1).expect("seek");
            prop_assert!(it.valid());
            prop_assert_eq!((it.kind(), it.meta(), it.value_slice()), (e.2, e.4, &e.3[..]));
        }

        // Random snapshots and keys agree with the oracle.
        for (random_key, max_seq, pick, use_existing) in probes {
            let key = if use_existing { input[pick.index(input.len())].0.clone() } else { random_key };
            let want = oracle_get(&input, &key, max_seq);
            let got = reader.get_with_meta(&key, max_seq).expect("get")
                .map(|(s, k, v, m)| (s, k, v.to_vec(), m));
            prop_assert_eq!(&got, &want, "get({:?}, {})", key, max_seq);
            let plain = reader.get(&key, max_seq).expect("get").map(|(s, k, v)| (s, k, v.to_vec()));
            prop_assert_eq!(plain, want.map(|w| (w.0, w.1, w.2)));
            let from = input.partition_point(|e| compare_internal(&e.0, e.1, &key, max_seq) == Ordering::Less);
            let tail: Vec<OwnedMeta> = reader.entries_from(&key, max_seq).map(|e| e.map(to_owned))
                .collect::<Result<_, _>>().expect("seek iterates");
            prop_assert_eq!(&tail[..], &input[from..]);
        }
    }

    #[test]
    fn any_kind_2_value_field_decodes_or_errs_like_the_spec(
        field in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..24),
            prop::collection::vec(prop::sample::select(vec![0x00u8, 0x01, 0x7f, 0x80, 0xff]), 0..24),
        ],
    ) {
        // A one-entry block whose entry has stored kind 2 and `field` as its
        // value field, with a valid checksum.
        let mut c = vec![0, 1];
        put_varint(&mut c, field.len() as u64);
        c.push(b'k');
        c.extend_from_slice(&((7u64 << 8) | 2).to_le_bytes());
        c.extend_from_slice(&field);
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&1u32.to_le_bytes());
        let raw = seal(&c, 0);
        let h = BlockHandle { offset: 640, len: raw.len() as u64 };
        let block = decode_block(&raw, h).expect("checksum and restarts are valid");

        // The reference decoding of FORMAT.md.
        let want = get_varint(&field).and_then(|(w, a)| {
            get_varint(&field[a..]).map(|(x, b)| (EntryMeta { write_ms: w, expires_ms: x }, a + b))
        });
        let got = block.get_with_meta(b"k", 7);
        let mut it = block.iter();
        let first = it.seek_to_first();
        match want {
            Some((meta, prefix)) => {
                let got = got.expect("well-formed").expect("present");
                prop_assert_eq!(got, (7, Kind::Put, Bytes::copy_from_slice(&field[prefix..]), Some(meta)));
                first.expect("iterates");
                prop_assert_eq!((it.meta(), it.value_slice()), (Some(meta), &field[prefix..]));
            }
            None => {
                match got {
                    Err(ChunkError::Corrupt { offset: 640, detail }) => {
                        prop_assert!(detail.contains("entry metadata"), "{}", detail);
                    }
                    other => prop_assert!(false, "expected a corruption error, got {:?}", other),
                }
                prop_assert!(first.is_err());
                prop_assert!(!it.valid());
                prop_assert_eq!(it.meta(), None);
            }
        }
    }
}

#[test]
fn delete_with_metadata_is_rejected() {
    let meta = Some(EntryMeta {
        write_ms: 10,
        expires_ms: 0,
    });
    let mut b = ChunkBuilder::new(ChunkOptions::default(), Vec::new());
    b.add_with_meta(b"a", 3, Kind::Put, b"v", meta)
        .expect("put with meta");
    assert!(matches!(
        b.add_with_meta(b"b", 2, Kind::Delete, b"", meta),
        Err(ChunkError::InvalidInput { .. })
    ));
    assert_eq!(b.entries(), 1, "the builder is unchanged");
    b.add_with_meta(b"b", 2, Kind::Delete, b"", None)
        .expect("a plain tombstone");
    let (file, s) = b.finish().expect("finish");
    assert_eq!((s.properties.entries, s.properties.tombstones), (2, 1));
    let reader = ChunkReader::open(file.as_slice()).expect("opens");
    assert_eq!(
        reader
            .get_with_meta(b"b", 9)
            .expect("get")
            .map(|(s, k, _, m)| (s, k, m)),
        Some((2, Kind::Delete, None))
    );
}

/// A chunk of raw-stored (incompressible) blocks whose puts all carry
/// metadata, and the handle of one of its blocks past the first.
fn raw_chunk_with_meta() -> (Vec<u8>, BlockHandle) {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let entries: Vec<OwnedMeta> = (0..60u64)
        .map(|i| {
            let value: Vec<u8> = (0..300).map(|_| next() as u8).collect();
            let meta = EntryMeta {
                write_ms: 1_764_547_200_000 + i,
                expires_ms: if i % 2 == 0 { 0 } else { 1_764_550_800_000 + i },
            };
            (
                format!("m{i:04}").into_bytes(),
                9,
                Kind::Put,
                value,
                Some(meta),
            )
        })
        .collect();
    let (file, _) = build_with_meta(&entries, 1024);
    let reader = ChunkReader::open(file.as_slice()).expect("opens");
    let idx = reader.index();
    assert!(idx.block_count() > 3);
    // Random values do not compress: the blocks are stored raw.
    let h = idx.block_handle(2);
    assert_eq!(file[h.end() as usize - 5], 0, "stored raw");
    (file, h)
}

#[test]
fn corrupt_metadata_prefix_in_a_chunk_is_reported_with_the_block_offset() {
    // Rewrite the value fields of the entries of one raw-stored block (same
    // lengths, re-sealed with a valid checksum, as a faulty writer would) so
    // that their metadata prefix is malformed: every read of the block fails
    // with the block's offset instead of panicking. (A prefix running past
    // the value field is `truncated_metadata_prefix_is_an_error`.)
    let (file, h) = raw_chunk_with_meta();
    let raw = &file[h.offset as usize..h.end() as usize];
    let entries = parse_contents(&block_contents(raw));
    assert!(entries.iter().all(|e| e.trailer as u8 == 2), "kind 2");
    type Mutation = fn(&mut Vec<u8>);
    let mutations: [(&str, Mutation); 4] = [
        ("every byte continues", |f| {
            f.iter_mut().for_each(|b| *b = 0x80)
        }),
        ("overlong write_ms", |f| {
            f[..11].iter_mut().for_each(|b| *b = 0x80);
            f[11] = 0;
        }),
        ("overlong expires_ms", |f| {
            f[0] = 1;
            f[1..].iter_mut().for_each(|b| *b = 0xff);
        }),
        ("write_ms overflows 64 bits", |f| {
            f[..9].iter_mut().for_each(|b| *b = 0xff);
            f[9] = 0x02;
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = entries.clone();
        bad.iter_mut().for_each(|e| mutate(&mut e.field));
        let contents = encode_contents(&bad);
        let sealed = seal(&contents, 0);
        assert_eq!(sealed.len() as u64, h.len, "{what}: same length");
        let mut chunk = file.clone();
        chunk[h.offset as usize..h.end() as usize].copy_from_slice(&sealed);

        let reader = ChunkReader::open(chunk.as_slice()).expect("metadata region intact");
        let check = |r: Result<(), ChunkError>| match r {
            Err(ChunkError::Corrupt { offset, detail }) => {
                assert_eq!(offset, h.offset, "{what}: {detail}");
                assert!(detail.contains("entry metadata"), "{what}: {detail}");
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        };
        check(reader.verify());
        let first_key = parse_first_key(&bad);
        check(reader.get_with_meta(&first_key, 9).map(drop));
        check(reader.get(&first_key, 9).map(drop));
        check(reader.read_block(2).and_then(|b| {
            let mut it = b.iter();
            it.seek_to_first()
        }));
        let results: Vec<_> = reader.entries().collect();
        assert!(results.last().is_some_and(|r| r.is_err()), "{what}");
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1, "{what}");
        // Other blocks still read.
        assert!(reader
            .get_with_meta(b"m0000", 9)
            .expect("block 0")
            .is_some());
    }
}

/// The full user key of the first entry of parsed block contents.
fn parse_first_key(entries: &[common::StoredEntry]) -> Vec<u8> {
    assert_eq!(entries[0].shared, 0);
    entries[0].delta.clone()
}

#[test]
fn truncated_metadata_prefix_is_an_error() {
    // Cut the value field of one kind-2 entry to every length shorter than
    // its metadata prefix (the rest of the block re-encoded around it).
    let (file, h) = raw_chunk_with_meta();
    let raw = &file[h.offset as usize..h.end() as usize];
    let entries = parse_contents(&block_contents(raw));
    for victim in [0, 1, entries.len() - 1] {
        let key = {
            // Rebuild the victim's full key from the entries before it.
            let mut k = Vec::new();
            for e in &entries[..=victim] {
                k.truncate(e.shared);
                k.extend_from_slice(&e.delta);
            }
            k
        };
        let (_, a) = get_varint(&entries[victim].field).expect("write_ms");
        let (_, b) = get_varint(&entries[victim].field[a..]).expect("expires_ms");
        for cut in 0..a + b {
            let mut bad = entries.clone();
            bad[victim].field.truncate(cut);
            let sealed = seal(&encode_contents(&bad), 0);
            let handle = BlockHandle {
                offset: h.offset,
                len: sealed.len() as u64,
            };
            let block = decode_block(&sealed, handle).expect("checksum and restarts valid");
            match block.get_with_meta(&key, 9) {
                Err(ChunkError::Corrupt { offset, detail }) => {
                    assert_eq!(offset, h.offset);
                    assert!(detail.contains("entry metadata"), "{detail}");
                }
                other => panic!("entry {victim} cut to {cut}: expected Corrupt, got {other:?}"),
            }
            let mut it = block.iter();
            let mut failed = it.seek_to_first().is_err();
            while !failed && it.valid() {
                failed = it.next().is_err();
            }
            assert!(failed, "iteration reaches the bad entry and fails");
        }
        // Cut exactly at the end of the prefix: an empty user value is fine.
        let mut ok = entries.clone();
        ok[victim].field.truncate(a + b);
        let sealed = seal(&encode_contents(&ok), 0);
        let handle = BlockHandle {
            offset: h.offset,
            len: sealed.len() as u64,
        };
        let block = decode_block(&sealed, handle).expect("valid");
        let (_, kind, value, meta) = block.get_with_meta(&key, 9).expect("get").expect("present");
        assert_eq!((kind, value.len()), (Kind::Put, 0));
        assert!(meta.is_some());
    }
}

#[test]
fn version_1_chunk_with_metadata_entries_fails_verification() {
    // Version 1 had no kind 2; a v1-labelled chunk holding one is corrupt.
    let (file, _) = build_with_meta(
        &[(
            b"k".to_vec(),
            1,
            Kind::Put,
            b"v".to_vec(),
            Some(EntryMeta {
                write_ms: 1,
                expires_ms: 0,
            }),
        )],
        4096,
    );
    let reader = ChunkReader::open(file.as_slice()).expect("opens");
    let idx = reader.index();
    let f = *idx.footer();
    // Rewrite properties (as version 1) and footer with valid checksums.
    let mut props = firn_chunk::Properties {
        format_version: 1,
        ..idx.properties().clone()
    };
    props.expiring = 0;
    let mut payload = Vec::new();
    put_varint(&mut payload, 1);
    for v in [
        props.entries,
        props.tombstones,
        props.blocks,
        props.min_seq,
        props.max_seq,
        props.raw_key_bytes,
        props.raw_value_bytes,
        props.data_bytes,
        props.index_bytes,
        props.filter_bytes,
    ] {
        put_varint(&mut payload, v);
    }
    for k in [&props.min_key, &props.max_key] {
        put_varint(&mut payload, k.len() as u64);
        payload.extend_from_slice(k);
    }
    let sealed = seal(&payload, 0);
    let mut chunk = file[..f.properties.offset as usize].to_vec();
    chunk.extend_from_slice(&sealed);
    let footer = firn_chunk::Footer {
        properties: BlockHandle {
            offset: f.properties.offset,
            len: sealed.len() as u64,
        },
        format_version: 1,
        ..f
    };
    chunk.extend_from_slice(&footer.encode());
    let reader = ChunkReader::open(chunk.as_slice()).expect("a valid v1 layout");
    assert_eq!(reader.index().properties(), &props);
    let err = reader.verify().expect_err("kind 2 in version 1");
    assert!(err.to_string().contains("version 1"), "{err}");
}

//! Golden fixtures: a chunk file and its local index file, written by this
//! format version and checked in (`tests/fixtures/`). Each is decoded to its
//! known contents, so a silent layout change fails here even when encoder and
//! decoder change together (which a round trip cannot catch).
//!
//! The fixtures are written only by `FIRN_BLESS_FIXTURES=1 cargo test -p
//! firn-chunk --test golden`, when a format version is added on purpose;
//! fixtures of older versions stay and must keep decoding.
//!
//! - `v1.chunk`: format version 1 (no entry metadata), never rewritten.
//! - `v1.idx`: its local index file (local index format 1).
//! - `v2.chunk`: format version 2: puts with and without metadata, with and
//!   without an expiry, and tombstones (never rewritten since version 3).
//! - `v3.chunk`: format version 3: the version 2 contents plus overlapping
//!   range tombstones (stored fragmented), one reaching past every entry.

use std::path::PathBuf;

use bytes::Bytes;
use firn_chunk::{
    ChunkBuilder, ChunkIndex, ChunkOptions, ChunkReader, EntryMeta, Kind, RangeTombstone,
    RangeTombstones, FORMAT_VERSION,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fixture of an older format version: never rewritten, only read.
fn load_existing(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("golden fixture {}: {e}", path.display()))
}

/// Reads a fixture, writing `fresh` there first when blessing.
fn load(name: &str, fresh: &[u8]) -> Vec<u8> {
    let path = fixture(name);
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

type Owned = (Vec<u8>, u64, Kind, Vec<u8>);

/// The known contents: puts and tombstones, several versions of a key, an
/// empty value, binary keys, a compressible value and enough entries for
/// several 256-byte blocks.
fn contents() -> Vec<Owned> {
    let mut out: Vec<Owned> = vec![
        (b"".to_vec(), 3, Kind::Put, b"empty key".to_vec()),
        (b"\x00\xff".to_vec(), 9, Kind::Put, vec![0xAB; 300]),
        (b"apple".to_vec(), 12, Kind::Delete, Vec::new()),
        (b"apple".to_vec(), 7, Kind::Put, b"red".to_vec()),
        (b"apple".to_vec(), 1, Kind::Put, b"green".to_vec()),
        (b"banana".to_vec(), 4, Kind::Put, Vec::new()),
    ];
    for i in 0..40u64 {
        out.push((
            format!("key{i:03}").into_bytes(),
            100 + i,
            Kind::Put,
            format!("value number {i}").into_bytes(),
        ));
    }
    out
}

fn options() -> ChunkOptions {
    ChunkOptions {
        block_size: 256,
        compression_level: 3,
        bloom_bits_per_key: 10,
    }
}

/// The v1 contents as this build writes them (now a version 2 chunk).
fn build() -> Vec<u8> {
    let mut b = ChunkBuilder::new(options(), Vec::new());
    for (k, s, kind, v) in contents() {
        b.add(&k, s, kind, &v).unwrap();
    }
    b.finish().unwrap().0
}

#[test]
fn chunk_v1_fixture_decodes_to_its_known_contents() {
    // Written by a version 1 writer; this build must keep opening it.
    let file = load_existing("v1.chunk");
    let reader = ChunkReader::open(Bytes::from(file.clone())).unwrap();
    reader.verify().unwrap();
    let back: Vec<Owned> = reader
        .entries()
        .map(|e| e.map(|e| (e.key.to_vec(), e.seq, e.kind, e.value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, contents());
    assert!(
        reader.entries().all(|e| e.unwrap().meta.is_none()),
        "version 1 has no entry metadata"
    );
    let p = reader.index().properties();
    assert_eq!(p.format_version, 1);
    assert_eq!(reader.index().footer().format_version, 1);
    assert_eq!((p.expiring, p.min_expires_ms), (0, 0));
    assert_eq!(p.entries, 46);
    assert_eq!(p.tombstones, 1);
    assert_eq!((p.min_seq, p.max_seq), (1, 139));
    assert_eq!(p.min_key, b"");
    assert_eq!(p.max_key, b"key039");
    assert!(reader.index().block_count() > 3, "several blocks");
    assert_eq!(
        reader
            .get(b"apple", 10)
            .unwrap()
            .map(|(s, k, v)| (s, k, v.to_vec())),
        Some((7, Kind::Put, b"red".to_vec()))
    );
    assert_eq!(
        reader.get(b"apple", 20).unwrap().map(|(s, k, _)| (s, k)),
        Some((12, Kind::Delete))
    );
}

#[test]
fn local_index_v1_fixture_decodes_to_its_chunk_index() {
    // The local index of the version 1 chunk (which is never rewritten).
    let chunk = load_existing("v1.chunk");
    let reader = ChunkReader::open(Bytes::from(chunk.clone())).unwrap();
    let fresh = reader.index().encode_local();
    let file = load("v1.idx", &fresh);
    // Our own encoding (no compression): the bytes are fixed.
    assert_eq!(file, fresh, "the local index encoding changed");
    let index = ChunkIndex::decode_local(Bytes::from(file)).unwrap();
    assert_eq!(index.block_count(), reader.index().block_count());
    assert_eq!(index.properties(), reader.index().properties());
    for (k, _, _, _) in contents() {
        assert!(index.may_contain(&k), "bloom false negative for {k:?}");
    }
}

#[test]
fn newer_versions_write_puts_without_metadata_exactly_as_version_1() {
    // Entries without metadata are stored as in version 1: rebuilding the v1
    // contents gives the same data, index and filter blocks; only the
    // properties (version and three appended fields) and the footer differ.
    let old = load_existing("v1.chunk");
    let fresh = build();
    let old_index = ChunkReader::open(old.as_slice()).unwrap().index().clone();
    let new_index = ChunkReader::open(fresh.as_slice()).unwrap().index().clone();
    let (of, nf) = (old_index.footer(), new_index.footer());
    assert_eq!((of.format_version, nf.format_version), (1, FORMAT_VERSION));
    assert_eq!((of.index, of.filter), (nf.index, nf.filter));
    let before_props = of.properties.offset as usize;
    assert_eq!(
        &old[..before_props],
        &fresh[..before_props],
        "data, index or filter bytes of entries without metadata changed"
    );
    assert_eq!(
        nf.properties.len,
        of.properties.len + 3,
        "three 1-byte zeros: expiring, min_expires_ms, no range tombstones"
    );
    let (op, np) = (old_index.properties(), new_index.properties());
    assert_eq!(
        &firn_chunk::Properties {
            format_version: FORMAT_VERSION,
            ..op.clone()
        },
        np
    );
}

/// An entry of the version 2 fixture: (user key, seq, kind, user value, meta).
type OwnedMeta = (Vec<u8>, u64, Kind, Vec<u8>, Option<EntryMeta>);

/// 2025-12-01T00:00:00Z.
const T0: u64 = 1_764_547_200_000;

fn meta(write_ms: u64, expires_ms: u64) -> Option<EntryMeta> {
    Some(EntryMeta {
        write_ms,
        expires_ms,
    })
}

/// The known contents of `v2.chunk`: puts without metadata (stored kind 1),
/// with metadata and no expiry, with an expiry, with an unknown write time,
/// with all-zero and with maximal metadata (10-byte varints), an empty and a
/// compressible value with metadata, a value that starts with varint-like
/// bytes, tombstones, several versions of a key, and enough entries for
/// several 256-byte blocks.
fn contents_v2() -> Vec<OwnedMeta> {
    let mut out: Vec<OwnedMeta> = vec![
        (b"".to_vec(), 3, Kind::Put, b"empty key".to_vec(), None),
        (
            b"\x00\xff".to_vec(),
            9,
            Kind::Put,
            vec![0xAB; 300],
            meta(T0, T0 + 3_600_000),
        ),
        (b"apple".to_vec(), 12, Kind::Delete, Vec::new(), None),
        (
            b"apple".to_vec(),
            7,
            Kind::Put,
            b"red".to_vec(),
            meta(T0 + 7, 0),
        ),
        (b"apple".to_vec(), 1, Kind::Put, b"green".to_vec(), None),
        (
            b"banana".to_vec(),
            4,
            Kind::Put,
            Vec::new(),
            meta(T0 + 4, T0 + 60_000),
        ),
        (
            b"cherry".to_vec(),
            6,
            Kind::Put,
            b"\x80\x80\x01 is not metadata".to_vec(),
            meta(0, T0 + 86_400_000),
        ),
    ];
    for i in 0..40u64 {
        let key = format!("key{i:03}").into_bytes();
        let value = format!("value number {i}").into_bytes();
        out.push(match i % 4 {
            0 => (key, 100 + i, Kind::Put, value, None),
            1 => (key, 100 + i, Kind::Put, value, meta(T0 + i, 0)),
            2 => (
                key,
                100 + i,
                Kind::Put,
                value,
                meta(T0 + i, T0 + 1_000_000 + i),
            ),
            _ => (key, 100 + i, Kind::Delete, Vec::new(), None),
        });
    }
    out.push((
        b"max".to_vec(),
        5,
        Kind::Put,
        b"extremes".to_vec(),
        meta(u64::MAX, u64::MAX),
    ));
    out.push((
        b"zero".to_vec(),
        2,
        Kind::Put,
        b"zeros".to_vec(),
        meta(0, 0),
    ));
    out
}

fn build_v2() -> Vec<u8> {
    let mut b = ChunkBuilder::new(options(), Vec::new());
    for (k, s, kind, v, m) in contents_v2() {
        b.add_with_meta(&k, s, kind, &v, m).unwrap();
    }
    b.finish().unwrap().0
}

#[test]
fn chunk_v2_fixture_decodes_to_its_known_contents() {
    // Written by a version 2 writer; this build must keep opening it.
    let file = load_existing("v2.chunk");
    let reader = ChunkReader::open(Bytes::from(file.clone())).unwrap();
    reader.verify().unwrap();
    assert_eq!(reader.index().footer().format_version, 2);

    // Every entry: key, seq, kind, user value and metadata.
    let back: Vec<OwnedMeta> = reader
        .entries()
        .map(|e| e.map(|e| (e.key.to_vec(), e.seq, e.kind, e.value.to_vec(), e.meta)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, contents_v2());

    // The same through point lookups at each entry's own seq.
    for (k, s, kind, v, m) in contents_v2() {
        let got = reader
            .get_with_meta(&k, s)
            .unwrap()
            .map(|(s, kind, v, m)| (s, kind, v.to_vec(), m));
        assert_eq!(got, Some((s, kind, v.clone(), m)), "{k:?} @ {s}");
        let plain = reader
            .get(&k, s)
            .unwrap()
            .map(|(s, kind, v)| (s, kind, v.to_vec()));
        assert_eq!(plain, Some((s, kind, v)));
    }
    assert_eq!(
        reader
            .get_with_meta(b"apple", 10)
            .unwrap()
            .map(|(s, k, v, m)| (s, k, v.to_vec(), m)),
        Some((7, Kind::Put, b"red".to_vec(), meta(T0 + 7, 0)))
    );
    assert_eq!(
        reader
            .get_with_meta(b"apple", 20)
            .unwrap()
            .map(|(s, k, _, m)| (s, k, m)),
        Some((12, Kind::Delete, None))
    );

    let p = reader.index().properties();
    assert_eq!(p.format_version, 2);
    assert_eq!(p.entries, 49);
    assert_eq!(p.tombstones, 11);
    assert_eq!((p.min_seq, p.max_seq), (1, 139));
    assert_eq!(p.min_key, b"");
    assert_eq!(p.max_key, b"zero");
    // \x00\xff, banana, cherry, max and the ten keys with i % 4 == 2.
    assert_eq!(p.expiring, 14);
    assert_eq!(p.min_expires_ms, T0 + 60_000, "banana expires first");
    let user_value_bytes: u64 = contents_v2().iter().map(|e| e.3.len() as u64).sum();
    assert_eq!(p.raw_value_bytes, user_value_bytes, "metadata not counted");
    assert!(reader.index().block_count() > 3, "several blocks");

    // The local index of a version 2 chunk keeps its properties.
    let index = ChunkIndex::decode_local(Bytes::from(reader.index().encode_local())).unwrap();
    assert_eq!(index.properties(), p);
}

/// The range tombstones of the version 3 fixture: overlapping ones, one
/// covering no entry, one reaching past every entry.
fn ranges_v3() -> Vec<RangeTombstone> {
    let t = |a: &str, b: &str, seq| RangeTombstone {
        start: a.into(),
        end: b.into(),
        seq,
    };
    vec![
        t("apple", "banana", 20),
        t("key010", "key020", 140),
        t("key015", "key030", 141),
        t("zzz", "zzzz", 5),
    ]
}

fn build_v3() -> Vec<u8> {
    let mut b = ChunkBuilder::new(options(), Vec::new());
    for (k, s, kind, v, m) in contents_v2() {
        b.add_with_meta(&k, s, kind, &v, m).unwrap();
    }
    b.set_range_tombstones(RangeTombstones::fragment(&ranges_v3()))
        .unwrap();
    b.finish().unwrap().0
}

#[test]
fn chunk_v3_fixture_decodes_to_its_known_contents() {
    assert_eq!(
        FORMAT_VERSION, 3,
        "a new chunk format version needs its own fixture"
    );
    let fresh = build_v3();
    let file = load("v3.chunk", &fresh);
    assert!(file == fresh, "the chunk encoding changed");
    let reader = ChunkReader::open(Bytes::from(file.clone())).unwrap();
    reader.verify().unwrap();
    assert_eq!(reader.index().footer().format_version, 3);
    let back: Vec<OwnedMeta> = reader
        .entries()
        .map(|e| e.map(|e| (e.key.to_vec(), e.seq, e.kind, e.value.to_vec(), e.meta)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, contents_v2(), "range tombstones are not entries");

    let p = reader.index().properties();
    assert_eq!(p.format_version, 3);
    assert_eq!(p.entries, 49);
    // The seq range covers the range tombstones (141), the key range their
    // ends ("zzzz", past the last key "zero").
    assert_eq!((p.min_seq, p.max_seq), (1, 141));
    assert_eq!(p.min_key, b"");
    assert_eq!(p.max_key, b"zzzz");
    let frags: Vec<(&[u8], &[u8], Vec<u64>)> = p
        .range_tombstones
        .fragments()
        .iter()
        .map(|f| (f.start.as_slice(), f.end.as_slice(), f.seqs.clone()))
        .collect();
    assert_eq!(
        frags,
        vec![
            (&b"apple"[..], &b"banana"[..], vec![20]),
            (b"key010", b"key015", vec![140]),
            (b"key015", b"key020", vec![141, 140]),
            (b"key020", b"key030", vec![141]),
            (b"zzz", b"zzzz", vec![5]),
        ]
    );
    assert_eq!(p.range_tombstones.cover(b"key017", 140), Some(140));
    assert_eq!(p.range_tombstones.cover(b"key017", 139), None);
    assert_eq!(p.range_tombstones, RangeTombstones::fragment(&ranges_v3()));

    // The stored bytes: the properties end with the fragments as FORMAT.md
    // gives them (count, then start, end, seq count and seqs of each).
    let mut tail = Vec::new();
    put_varint(&mut tail, 5);
    for (a, b, seqs) in &frags {
        for key in [a, b] {
            put_varint(&mut tail, key.len() as u64);
            tail.extend_from_slice(key);
        }
        put_varint(&mut tail, seqs.len() as u64);
        for s in seqs {
            put_varint(&mut tail, *s);
        }
    }
    let props = reader.index().footer().properties;
    let payload_end = (props.offset + props.len) as usize - 5;
    assert_eq!(&file[payload_end - tail.len()..payload_end], &tail[..]);

    // The local index keeps them (they are part of the properties).
    let index = ChunkIndex::decode_local(Bytes::from(reader.index().encode_local())).unwrap();
    assert_eq!(index.properties(), p);
}

#[test]
fn a_chunk_of_range_tombstones_alone_has_no_blocks_and_opens() {
    let mut b = ChunkBuilder::new(options(), Vec::new());
    b.set_range_tombstones(RangeTombstones::fragment(&ranges_v3()))
        .unwrap();
    let (file, summary) = b.finish().unwrap();
    let p = &summary.properties;
    assert_eq!((p.entries, p.blocks, p.data_bytes), (0, 0, 0));
    assert_eq!(
        (p.min_key.as_slice(), p.max_key.as_slice()),
        (&b"apple"[..], &b"zzzz"[..])
    );
    assert_eq!((p.min_seq, p.max_seq), (5, 141));
    let reader = ChunkReader::open(Bytes::from(file)).unwrap();
    reader.verify().unwrap();
    assert_eq!(reader.index().block_count(), 0);
    assert_eq!(reader.entries().count(), 0);
    assert!(reader.get(b"key017", 200).unwrap().is_none());
    assert!(reader.entries_from(b"a", 9).next().is_none());
    let index = ChunkIndex::decode_local(Bytes::from(reader.index().encode_local())).unwrap();
    assert_eq!(index.properties(), reader.index().properties());
    // Without tombstones or entries there is no chunk.
    let b = ChunkBuilder::new(options(), Vec::new());
    assert!(b.finish().is_err());
}

/// Minimal LEB128, written from FORMAT.md rather than taken from the crate.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(src: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = src[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
    }
    panic!("overlong varint");
}

/// Walks the data blocks of a chunk by the byte layout of FORMAT.md ("Stored
/// blocks", "Data blocks"), independently of the crate's block decoder:
/// (user key, seq, stored kind byte, whole value field) per entry.
fn stored_entries(file: &[u8]) -> Vec<(Vec<u8>, u64, u8, Vec<u8>)> {
    let reader = ChunkReader::open(file).unwrap();
    let mut out = Vec::new();
    for i in 0..reader.index().block_count() {
        let h = reader.index().block_handle(i);
        let raw = &file[h.offset as usize..h.end() as usize];
        let payload = &raw[..raw.len() - 5];
        let contents = match raw[raw.len() - 5] {
            0 => payload.to_vec(),
            1 => {
                let mut at = 0;
                let len = get_varint(payload, &mut at) as usize;
                let c = zstd::bulk::decompress(&payload[at..], len).unwrap();
                assert_eq!(c.len(), len);
                c
            }
            t => panic!("block type {t}"),
        };
        let n = u32::from_le_bytes(contents[contents.len() - 4..].try_into().unwrap()) as usize;
        let end = contents.len() - 4 - 4 * n;
        let (mut at, mut key) = (0, Vec::new());
        while at < end {
            let shared = get_varint(&contents, &mut at) as usize;
            let unshared = get_varint(&contents, &mut at) as usize;
            let value_len = get_varint(&contents, &mut at) as usize;
            key.truncate(shared);
            key.extend_from_slice(&contents[at..at + unshared]);
            at += unshared;
            let trailer = u64::from_le_bytes(contents[at..at + 8].try_into().unwrap());
            at += 8;
            let field = contents[at..at + value_len].to_vec();
            at += value_len;
            out.push((key.clone(), trailer >> 8, trailer as u8, field));
        }
        assert_eq!(at, end);
    }
    out
}

#[test]
fn chunk_v2_fixture_stores_metadata_as_specified() {
    // Kind 2 = put with metadata, value field = write_ms:varint ++
    // expires_ms:varint ++ user value; puts without metadata and tombstones
    // as in version 1 (kinds 1 and 0, the user value alone).
    let file = if std::env::var_os("FIRN_BLESS_FIXTURES").is_some() {
        build_v2() // the other test is writing the file
    } else {
        load_existing("v2.chunk")
    };
    let want: Vec<(Vec<u8>, u64, u8, Vec<u8>)> = contents_v2()
        .into_iter()
        .map(|(k, s, kind, v, m)| match m {
            Some(m) => {
                let mut field = Vec::new();
                put_varint(&mut field, m.write_ms);
                put_varint(&mut field, m.expires_ms);
                field.extend_from_slice(&v);
                (k, s, 2, field)
            }
            None => (k, s, kind as u8, v),
        })
        .collect();
    assert_eq!(stored_entries(&file), want);
    // The maximal metadata takes two 10-byte varints.
    let max = want.iter().find(|e| e.0 == b"max").unwrap();
    assert_eq!(max.3.len(), 20 + b"extremes".len());
}

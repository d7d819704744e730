//! Golden fixtures: a chunk file and its local index file, written by this
//! format version and checked in (`tests/fixtures/`). Each is decoded to its
//! known contents, so a silent layout change fails here even when encoder and
//! decoder change together (which a round trip cannot catch).
//!
//! The fixtures are written only by `FIRN_BLESS_FIXTURES=1 cargo test -p
//! firn-chunk --test golden`, when a format version is added on purpose;
//! fixtures of older versions stay and must keep decoding.

use std::path::PathBuf;

use bytes::Bytes;
use firn_chunk::{ChunkBuilder, ChunkIndex, ChunkOptions, ChunkReader, Kind, FORMAT_VERSION};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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

fn build() -> Vec<u8> {
    let opts = ChunkOptions {
        block_size: 256,
        compression_level: 3,
        bloom_bits_per_key: 10,
    };
    let mut b = ChunkBuilder::new(opts, Vec::new());
    for (k, s, kind, v) in contents() {
        b.add(&k, s, kind, &v).unwrap();
    }
    b.finish().unwrap().0
}

#[test]
fn chunk_v1_fixture_decodes_to_its_known_contents() {
    assert_eq!(
        FORMAT_VERSION, 1,
        "a new chunk format version needs its own fixture"
    );
    let file = load("v1.chunk", &build());
    let reader = ChunkReader::open(Bytes::from(file.clone())).unwrap();
    reader.verify().unwrap();
    let back: Vec<Owned> = reader
        .entries()
        .map(|e| e.map(|e| (e.key.to_vec(), e.seq, e.kind, e.value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, contents());
    let p = reader.index().properties();
    assert_eq!(p.format_version, 1);
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
    // The chunk is blessed by the other test; a fresh build stands in while
    // blessing, so the two never race on the file.
    let chunk = if std::env::var_os("FIRN_BLESS_FIXTURES").is_some() {
        build()
    } else {
        std::fs::read(fixture("v1.chunk")).unwrap()
    };
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

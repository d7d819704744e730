//! Shared generators and helpers for the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use firn_chunk::{ChunkBuilder, ChunkOptions, ChunkSummary, EntryMeta, Kind};
use proptest::prelude::*;

/// An entry as the tests see it: (user key, seq, kind, value).
pub type Owned = (Vec<u8>, u64, Kind, Vec<u8>);

/// An entry with its metadata: (user key, seq, kind, user value, meta).
pub type OwnedMeta = (Vec<u8>, u64, Kind, Vec<u8>, Option<EntryMeta>);

/// User keys from a tiny alphabet, so that keys share long prefixes, one key
/// is often a prefix of another, and the empty key shows up.
pub fn user_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(vec![0u8, b'a', b'b', 0xfe, 0xff]), 0..10),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
}

/// Values from 0 to 2000 bytes: random, repetitive (compressible) or empty.
pub fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..24),
        1 => prop::collection::vec(any::<u8>(), 0..2000),
        1 => (0..2000usize, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

/// Sorted entries: distinct user keys, 1 to 4 versions each (newest first),
/// puts and deletes (deletes have empty values).
pub fn entries(max_keys: usize) -> impl Strategy<Value = Vec<Owned>> {
    let versions = prop::collection::btree_set(0u64..64, 1..5);
    let version_data = prop::collection::vec((any::<bool>(), value()), 4);
    prop::collection::btree_map(user_key(), (versions, version_data), 1..max_keys).prop_map(
        |map: BTreeMap<Vec<u8>, _>| {
            let mut out = Vec::new();
            for (key, (seqs, data)) in map {
                for (seq, (put, v)) in seqs.into_iter().rev().zip(data) {
                    let (kind, v) = if put {
                        (Kind::Put, v)
                    } else {
                        (Kind::Delete, Vec::new())
                    };
                    out.push((key.clone(), seq, kind, v));
                }
            }
            out
        },
    )
}

/// Milliseconds: zero (unknown / never), small, realistic wall-clock times
/// and the extremes (1- to 10-byte varints).
pub fn millis() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        1 => 1u64..300,
        3 => 1_700_000_000_000u64..1_900_000_000_000,
        1 => any::<u64>(),
        1 => Just(u64::MAX),
    ]
}

/// No metadata, or metadata with and without an expiry.
pub fn entry_meta() -> impl Strategy<Value = Option<EntryMeta>> {
    prop_oneof![
        1 => Just(None),
        3 => (millis(), millis()).prop_map(|(write_ms, expires_ms)| Some(EntryMeta {
            write_ms,
            expires_ms,
        })),
    ]
}

/// [`entries`] where each put carries random metadata (or none); deletes
/// never do.
pub fn entries_with_meta(max_keys: usize) -> impl Strategy<Value = Vec<OwnedMeta>> {
    entries(max_keys).prop_flat_map(|es| {
        let n = es.len();
        (Just(es), prop::collection::vec(entry_meta(), n)).prop_map(|(es, metas)| {
            es.into_iter()
                .zip(metas)
                .map(|((k, s, kind, v), m)| {
                    let m = if kind == Kind::Put { m } else { None };
                    (k, s, kind, v, m)
                })
                .collect()
        })
    })
}

/// Block sizes from one entry per block to larger than most test chunks.
pub fn block_size() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![1usize, 40, 200, 1024, 4096, 65536])
}

/// Builds a chunk in memory.
pub fn build(entries: &[Owned], block_size: usize) -> (Vec<u8>, ChunkSummary) {
    let opts = ChunkOptions {
        block_size,
        ..ChunkOptions::default()
    };
    let mut b = ChunkBuilder::new(opts, Vec::new());
    for (k, s, kind, v) in entries {
        b.add(k, *s, *kind, v).expect("sorted input is accepted");
    }
    b.finish().expect("non-empty chunk")
}

/// Builds a chunk with metadata in memory.
pub fn build_with_meta(entries: &[OwnedMeta], block_size: usize) -> (Vec<u8>, ChunkSummary) {
    let opts = ChunkOptions {
        block_size,
        ..ChunkOptions::default()
    };
    let mut b = ChunkBuilder::new(opts, Vec::new());
    for (k, s, kind, v, m) in entries {
        b.add_with_meta(k, *s, *kind, v, *m)
            .expect("sorted input is accepted");
    }
    b.finish().expect("non-empty chunk")
}

/// A deterministic chunk with many blocks, compressed and raw ones, puts
/// (without metadata, with metadata, with and without an expiry) and
/// tombstones, used by the robustness tests.
pub fn sample_chunk(n: u64, block_size: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        let key = format!("user/{:06}", i * 3).into_bytes();
        let len = (next() % 300) as usize;
        // Runs of 32 keys with random (incompressible) values alternate with
        // runs of repetitive ones, so some blocks are stored raw.
        let value: Vec<u8> = if i % 64 < 32 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            vec![b'z'; len]
        };
        let meta = match i % 3 {
            0 => None,
            1 => Some(EntryMeta {
                write_ms: 1_764_547_200_000 + i,
                expires_ms: 0,
            }),
            _ => Some(EntryMeta {
                write_ms: 1_764_547_200_000 + i,
                expires_ms: 1_764_550_800_000 + next() % 1_000_000,
            }),
        };
        entries.push((key.clone(), 100 + i, Kind::Put, value, meta));
        if i % 7 == 0 {
            entries.push((key, 50, Kind::Delete, Vec::new(), None));
        }
    }
    build_with_meta(&entries, block_size).0
}

/// Wraps `payload` in a block trailer with the given type and a valid CRC,
/// exactly as FORMAT.md specifies.
pub fn seal(payload: &[u8], compression: u8) -> Vec<u8> {
    let mut out = payload.to_vec();
    out.push(compression);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Appends `v` as LEB128 (FORMAT.md, "Conventions").
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a LEB128 varint at the start of `src` by FORMAT.md's rules (at
/// most 10 bytes, no bits beyond 64): `(value, length)`, `None` if invalid or
/// truncated. A reference implementation, independent of the crate's.
pub fn get_varint(src: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *src.get(i)?;
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The decompressed contents of a stored block (type 0 or 1).
pub fn block_contents(stored: &[u8]) -> Vec<u8> {
    let payload = &stored[..stored.len() - 5];
    match stored[stored.len() - 5] {
        0 => payload.to_vec(),
        1 => {
            let (len, n) = get_varint(payload).expect("length");
            zstd::bulk::decompress(&payload[n..], len as usize).expect("zstd")
        }
        t => panic!("block type {t}"),
    }
}

/// One entry of data block contents, as FORMAT.md lays it out.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    /// Listed in the restart array.
    pub restart: bool,
    pub shared: usize,
    pub delta: Vec<u8>,
    /// `seq << 8 | stored kind`.
    pub trailer: u64,
    /// The whole value field (metadata prefix included).
    pub field: Vec<u8>,
}

/// Parses data block contents into entries.
pub fn parse_contents(c: &[u8]) -> Vec<StoredEntry> {
    let n = u32::from_le_bytes(c[c.len() - 4..].try_into().unwrap()) as usize;
    let end = c.len() - 4 - 4 * n;
    let restarts: Vec<usize> = (0..n)
        .map(|i| u32::from_le_bytes(c[end + 4 * i..end + 4 * i + 4].try_into().unwrap()) as usize)
        .collect();
    let mut out = Vec::new();
    let mut at = 0;
    let varint = |at: &mut usize| {
        let (v, n) = get_varint(&c[*at..]).expect("varint");
        *at += n;
        v as usize
    };
    while at < end {
        let restart = restarts.contains(&at);
        let shared = varint(&mut at);
        let unshared = varint(&mut at);
        let value_len = varint(&mut at);
        let delta = c[at..at + unshared].to_vec();
        at += unshared;
        let trailer = u64::from_le_bytes(c[at..at + 8].try_into().unwrap());
        at += 8;
        let field = c[at..at + value_len].to_vec();
        at += value_len;
        out.push(StoredEntry {
            restart,
            shared,
            delta,
            trailer,
            field,
        });
    }
    assert_eq!(at, end);
    out
}

/// Encodes entries back into data block contents.
pub fn encode_contents(entries: &[StoredEntry]) -> Vec<u8> {
    let mut c = Vec::new();
    let mut restarts = Vec::new();
    for e in entries {
        if e.restart {
            restarts.push(c.len() as u32);
        }
        put_varint(&mut c, e.shared as u64);
        put_varint(&mut c, e.delta.len() as u64);
        put_varint(&mut c, e.field.len() as u64);
        c.extend_from_slice(&e.delta);
        c.extend_from_slice(&e.trailer.to_le_bytes());
        c.extend_from_slice(&e.field);
    }
    for r in &restarts {
        c.extend_from_slice(&r.to_le_bytes());
    }
    c.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    c
}

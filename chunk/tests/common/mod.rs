//! Shared generators and helpers for the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use firn_chunk::{ChunkBuilder, ChunkOptions, ChunkSummary, Kind};
use proptest::prelude::*;

/// An entry as the tests see it: (user key, seq, kind, value).
pub type Owned = (Vec<u8>, u64, Kind, Vec<u8>);

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

/// A deterministic chunk with many blocks, compressed and raw ones, puts and
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
        entries.push((key.clone(), 100 + i, Kind::Put, value));
        if i % 7 == 0 {
            entries.push((key, 50, Kind::Delete, Vec::new()));
        }
    }
    build(&entries, block_size).0
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

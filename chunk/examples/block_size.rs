//! Measures what the data block size costs and buys.
//!
//! Builds a chunk of 200,000 entries (16-byte keys, 100-byte values that are
//! half random, half repetitive, as in db_bench) for block sizes 4..64 KiB
//! and prints, per size: stored data size, index+filter size, build
//! throughput, and the cost of a cold read (decode one block, then one point
//! lookup in it), averaged over many blocks.
//!
//! Run with `cargo run --release -p firn-chunk --example block_size`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use firn_chunk::{decode_block, ChunkBuilder, ChunkOptions, ChunkReader, Kind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ENTRIES: usize = 200_000;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const BUILD_RUNS: usize = 3;
const READ_SAMPLES: usize = 2_000;
/// Timed read rounds; the best round is reported (the machine may be shared).
const READ_ROUNDS: usize = 5;

/// db_bench-style value: the first half random printable bytes, the second
/// half a copy of the first (compresses to about 50%).
fn value(rng: &mut StdRng) -> Vec<u8> {
    let half: Vec<u8> = (0..VALUE_LEN / 2)
        .map(|_| rng.random_range(b' '..=b'~'))
        .collect();
    let mut v = half.clone();
    v.extend_from_slice(&half);
    v
}

fn main() {
    let mut rng = StdRng::seed_from_u64(0xF1A7);
    // Distinct sorted random keys, printed as 16 decimal digits like db_bench.
    let mut nums: Vec<u64> = (0..ENTRIES as u64 * 2).collect();
    for i in (1..nums.len()).rev() {
        let j = rng.random_range(0..=i);
        nums.swap(i, j);
    }
    nums.truncate(ENTRIES);
    nums.sort_unstable();
    let entries: Vec<(Vec<u8>, Vec<u8>)> = nums
        .iter()
        .map(|n| (format!("{n:0KEY_LEN$}").into_bytes(), value(&mut rng)))
        .collect();
    let raw_bytes: usize = entries.iter().map(|(k, v)| k.len() + v.len()).sum();

    println!(
        "{ENTRIES} entries, {KEY_LEN}-byte keys, {VALUE_LEN}-byte values ({:.1} MiB raw), zstd level 3, 10 bloom bits/key",
        raw_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "| block size | blocks | avg stored block | data (stored) | index + filter | build MB/s | cold read: decode + get | hot get |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    for kib in [4usize, 8, 16, 32, 64] {
        let opts = ChunkOptions {
            block_size: kib * 1024,
            ..ChunkOptions::default()
        };
        // Build (best of a few runs, to keep scheduler noise out).
        let mut best = Duration::MAX;
        let mut built = None;
        for _ in 0..BUILD_RUNS {
            let start = Instant::now();
            let mut b = ChunkBuilder::new(opts.clone(), Vec::with_capacity(raw_bytes));
            for (i, (k, v)) in entries.iter().enumerate() {
                b.add(k, i as u64 + 1, Kind::Put, v).expect("sorted input");
            }
            let out = b.finish().expect("finish");
            best = best.min(start.elapsed());
            built = Some(out);
        }
        let (file, summary) = built.expect("built at least once");
        let build_mbs = raw_bytes as f64 / 1e6 / best.as_secs_f64();
        let p = &summary.properties;

        let file = Bytes::from(file);
        let reader = ChunkReader::open(file.clone()).expect("open");
        let idx = reader.index();

        // Cold read: the stored block bytes are in memory (as after a ranged
        // GET); decode (CRC + zstd + restart check) and look one key up.
        let probes: Vec<(usize, &[u8], u64)> = (0..READ_SAMPLES)
            .map(|_| {
                let i = rng.random_range(0..entries.len());
                let key = entries[i].0.as_slice();
                let seq = i as u64 + 1;
                let block = idx.seek_block(key, u64::MAX >> 8).expect("in range");
                (block, key, seq)
            })
            .collect();
        let mut cold = Duration::MAX;
        for _ in 0..READ_ROUNDS {
            let start = Instant::now();
            for &(b, key, seq) in &probes {
                let h = idx.block_handle(b);
                let raw = file.slice(h.offset as usize..h.end() as usize);
                let block = decode_block(&raw, h).expect("decode");
                let (s, _, _) = block.get(key, u64::MAX >> 8).expect("get").expect("found");
                assert_eq!(s, seq);
            }
            cold = cold.min(start.elapsed() / READ_SAMPLES as u32);
        }

        // Hot get: lookups in already decoded blocks.
        let decoded: Vec<_> = probes
            .iter()
            .take(200)
            .map(|&(b, key, _)| (reader.read_block(b).expect("block"), key))
            .collect();
        let mut hot = Duration::MAX;
        for _ in 0..READ_ROUNDS {
            let start = Instant::now();
            for _ in 0..10 {
                for (block, key) in &decoded {
                    std::hint::black_box(block.get(key, u64::MAX >> 8).expect("get"));
                }
            }
            hot = hot.min(start.elapsed() / (10 * decoded.len()) as u32);
        }

        println!(
            "| {kib} KiB | {} | {:.1} KiB | {:.2} MiB | {:.0} KiB ({:.0} + {:.0}) | {build_mbs:.0} | {:.1} µs | {:.0} ns |",
            p.blocks,
            p.data_bytes as f64 / p.blocks as f64 / 1024.0,
            p.data_bytes as f64 / (1 << 20) as f64,
            (p.index_bytes + p.filter_bytes) as f64 / 1024.0,
            p.index_bytes as f64 / 1024.0,
            p.filter_bytes as f64 / 1024.0,
            cold.as_secs_f64() * 1e6,
            hot.as_nanos(),
        );
    }
}

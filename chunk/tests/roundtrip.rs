//! Property tests: whatever sorted entries go in come back out, and point
//! lookups and seeks agree with a simple oracle over the input.

mod common;

use std::cmp::Ordering;

use bytes::Bytes;
use common::{block_size, build, entries, user_key, Owned};
use firn_chunk::{compare_internal, ChunkIndex, ChunkReader, Entry, Kind, FORMAT_VERSION};
use proptest::prelude::*;

fn to_owned(e: Entry) -> Owned {
    (e.key.to_vec(), e.seq, e.kind, e.value.to_vec())
}

/// Newest version of `key` with seq <= `max_seq`.
fn oracle_get(entries: &[Owned], key: &[u8], max_seq: u64) -> Option<(u64, Kind, Vec<u8>)> {
    entries
        .iter()
        .find(|(k, s, _, _)| k == key && *s <= max_seq)
        .map(|(_, s, kind, v)| (*s, *kind, v.clone()))
}

/// Index of the first entry >= (key, seq).
fn oracle_seek(entries: &[Owned], key: &[u8], seq: u64) -> usize {
    entries.partition_point(|(k, s, _, _)| compare_internal(k, *s, key, seq) == Ordering::Less)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn build_then_read_back(
        input in entries(120),
        bs in block_size(),
        probes in prop::collection::vec((user_key(), 0u64..70, any::<prop::sample::Index>(), any::<bool>()), 40),
    ) {
        let (file, summary) = build(&input, bs);
        prop_assert_eq!(summary.size, file.len() as u64);
        let reader = ChunkReader::open(Bytes::from(file.clone())).expect("opens");
        reader.verify().expect("verifies");

        // Everything comes back, in order.
        let back: Vec<Owned> = reader.entries().map(|e| e.map(to_owned)).collect::<Result<_, _>>()
            .expect("iterates");
        prop_assert_eq!(&back, &input);

        // Properties describe the input.
        let p = reader.index().properties();
        prop_assert_eq!(p, &summary.properties);
        prop_assert_eq!(p.format_version, FORMAT_VERSION);
        prop_assert_eq!(p.entries, input.len() as u64);
        prop_assert_eq!(p.tombstones, input.iter().filter(|e| e.2 == Kind::Delete).count() as u64);
        prop_assert_eq!(&p.min_key, &input[0].0);
        prop_assert_eq!(&p.max_key, &input[input.len() - 1].0);
        prop_assert_eq!(p.min_seq, input.iter().map(|e| e.1).min().unwrap_or(0));
        prop_assert_eq!(p.max_seq, input.iter().map(|e| e.1).max().unwrap_or(0));
        prop_assert_eq!(p.raw_value_bytes, input.iter().map(|e| e.3.len() as u64).sum::<u64>());
        prop_assert_eq!(p.blocks as usize, reader.index().block_count());
        if bs == 1 {
            prop_assert_eq!(p.blocks, p.entries, "block size 1 puts one entry per block");
        }

        // The metadata region alone (what a manifest names) opens the chunk.
        let region = &file[summary.meta_offset as usize..];
        prop_assert_eq!(region.len() as u64, summary.meta_len);
        let idx = ChunkIndex::decode(region, summary.meta_offset, summary.size).expect("index");
        prop_assert_eq!(idx.block_count(), reader.index().block_count());

        for (random_key, max_seq, pick, use_existing) in probes {
            // Probe existing keys half of the time, random ones otherwise.
            let key = if use_existing { input[pick.index(input.len())].0.clone() } else { random_key };
            let want = oracle_get(&input, &key, max_seq);
            let got = reader.get(&key, max_seq).expect("get")
                .map(|(s, k, v)| (s, k, v.to_vec()));
            prop_assert_eq!(&got, &want, "get({:?}, {})", key, max_seq);
            if want.is_some() {
                prop_assert!(idx.may_contain(&key), "bloom false negative");
            }

            // Seeking gives exactly the oracle's suffix.
            let from = oracle_seek(&input, &key, max_seq);
            let tail: Vec<Owned> = reader.entries_from(&key, max_seq)
                .map(|e| e.map(to_owned)).collect::<Result<_, _>>().expect("seek iterates");
            prop_assert_eq!(&tail[..], &input[from..], "seek({:?}, {})", key, max_seq);

            // The block named by seek_block, alone, answers the point lookup.
            if let Some(b) = idx.seek_block(&key, max_seq) {
                let got_in_block = reader.read_block(b).expect("block").get(&key, max_seq)
                    .expect("block get").map(|(s, k, v)| (s, k, v.to_vec()));
                prop_assert_eq!(&got_in_block, &want);
            } else {
                prop_assert_eq!(want, None);
            }
        }
    }

    #[test]
    fn block_iterators_seek_like_the_oracle(
        input in entries(60),
        bs in block_size(),
        probes in prop::collection::vec((user_key(), 0u64..70), 20),
    ) {
        let (file, _) = build(&input, bs);
        let reader = ChunkReader::open(file.as_slice()).expect("opens");
        let idx = reader.index();
        for (key, seq) in probes {
            let from = oracle_seek(&input, &key, seq);
            match idx.seek_block(&key, seq) {
                None => prop_assert_eq!(from, input.len()),
                Some(b) => {
                    let block = reader.read_block(b).expect("block");
                    let mut it = block.iter();
                    it.seek(&key, seq).expect("seek");
                    if it.valid() {
                        let e = &input[from];
                        prop_assert_eq!((it.key(), it.seq(), it.kind()), (&e.0[..], e.1, e.2));
                        prop_assert_eq!(it.value_slice(), &e.3[..]);
                        // value() shares the block's memory.
                        prop_assert_eq!(it.value(), Bytes::copy_from_slice(&e.3));
                    } else {
                        // Past this block's last entry: the answer opens the next block.
                        let next = reader.read_block(b + 1).ok();
                        match next {
                            None => prop_assert_eq!(from, input.len()),
                            Some(nb) => {
                                let mut it = nb.iter();
                                it.seek_to_first().expect("first");
                                prop_assert_eq!((it.key(), it.seq()), (&input[from].0[..], input[from].1));
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn one_key_many_versions_across_blocks() {
    let input: Vec<Owned> = (0..500u64)
        .rev()
        .map(|s| {
            let kind = if s % 9 == 0 { Kind::Delete } else { Kind::Put };
            let v = if kind == Kind::Put {
                format!("v{s}").into_bytes()
            } else {
                Vec::new()
            };
            (b"hot".to_vec(), s * 3, kind, v)
        })
        .collect();
    let (file, summary) = build(&input, 128);
    assert!(summary.properties.blocks > 10);
    let reader = ChunkReader::open(Bytes::from(file)).expect("opens");
    reader.verify().expect("verifies");
    for max_seq in 0..1600u64 {
        let got = reader
            .get(b"hot", max_seq)
            .expect("get")
            .map(|(s, k, v)| (s, k, v.to_vec()));
        assert_eq!(
            got,
            oracle_get(&input, b"hot", max_seq),
            "max_seq {max_seq}"
        );
    }
    assert_eq!(reader.get(b"ho", 10_000).expect("get"), None);
    assert_eq!(reader.get(b"hott", 10_000).expect("get"), None);
}

#[test]
fn reads_from_a_file() {
    let input: Vec<Owned> = (0..1000u64)
        .map(|i| {
            (
                format!("k{i:05}").into_bytes(),
                1,
                Kind::Put,
                vec![(i % 251) as u8; 50],
            )
        })
        .collect();
    let (file, _) = build(&input, 2048);
    let path = std::env::temp_dir().join(format!("firn-chunk-test-{}.chunk", std::process::id()));
    std::fs::write(&path, &file).expect("write");
    let f = std::fs::File::open(&path).expect("open");
    let reader = ChunkReader::open(f).expect("chunk opens");
    reader.verify().expect("verifies");
    assert_eq!(reader.entries().count(), 1000);
    let (_, _, v) = reader.get(b"k00777", 1).expect("get").expect("present");
    assert_eq!(&v[..], &[(777 % 251) as u8; 50][..]);
    std::fs::remove_file(&path).expect("cleanup");
}

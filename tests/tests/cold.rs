//! Cold reads: what a read costs in object-store requests when the local
//! directory starts empty, and what the local tiers (mapped chunk indexes,
//! disk block cache) save once they are filled.
//!
//! * 200K keys, compacted into one sorted run of many chunks, closed; a
//!   fresh local directory opens without downloading the data. The first
//!   `get` costs exactly one GET of a data block plus at most one GET of the
//!   index of the chunk covering the key; the same `get` again costs nothing;
//!   after a restart on that local directory the key costs nothing (disk
//!   cache) and another key of the chunk costs exactly one GET (its index is
//!   local). With `preload_indexes`, the first `get` costs exactly one GET.
//! * A damaged local index file, a stale one (another chunk's) and a
//!   damaged disk cache entry are detected, discarded and fetched again, and
//!   the read returns the right value.
//! * `multi_get` agrees with `get` on every key (memtable, chunks, deleted,
//!   missing), and fetches a block several keys share once.
//! * A cold scan reads ahead (far fewer GETs than blocks); scanning the same
//!   range again makes no request.
//! * A cold reverse scan reads ahead too (windows of the blocks below), and
//!   a short one (10 rows from a key down, indexes preloaded) costs one
//!   block GET, two when its rows straddle a block boundary.
//! * With `cache_flushed_blocks`, reading back flushed data makes no request
//!   (without it, each block costs a GET).
//!
//! Every case runs on `memory://`, `file://` and the S3 server.

use std::collections::BTreeMap;

use firn::{ChunkMeta, Db, Metrics, Options, WriteBatch};
use firn_tests::{collect, settle, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

firn_tests::on_every_store!(
    a_cold_read_costs_one_get_and_a_repeat_costs_none,
    damaged_or_stale_local_files_are_discarded_and_fetched_again,
    multi_get_agrees_with_get_and_fetches_each_block_once,
    a_cold_scan_reads_ahead_and_a_cached_scan_makes_no_request,
    a_cold_reverse_scan_reads_ahead_and_a_short_one_costs_two_gets_at_most,
    flushed_blocks_can_be_kept_on_local_disk,
);

const KEYS: usize = 200_000;

fn key(i: usize) -> String {
    format!("key{i:08}")
}

/// About 100 bytes that compress poorly (hex of a hash), so chunks hold
/// what a real dataset would.
fn value(i: usize) -> String {
    let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut out = format!("value-{i:08}-");
    while out.len() < 100 {
        x ^= x >> 30;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        out.push_str(&format!("{x:016x}"));
    }
    out
}

/// Loads `n` keys in random order in batches of 1000.
async fn load(db: &Db, n: usize, seed: u64) {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    for batch_keys in order.chunks(1000) {
        let mut batch = WriteBatch::new();
        for &i in batch_keys {
            batch.put(key(i), value(i));
        }
        db.write(batch).await.expect("write");
    }
}

/// Options that give many chunks of many blocks.
fn many_chunks(mut opts: Options) -> Options {
    opts.memtable_size = 4 << 20;
    opts.compaction.target_chunk_size = 1 << 20;
    opts.block_size = 4096;
    opts
}

/// What one operation cost: the difference of two metric snapshots.
struct Cost {
    gets: u64,
    other_requests: u64,
    block_gets: u64,
    index_gets: u64,
    discarded: u64,
}

fn cost(before: &Metrics, after: &Metrics) -> Cost {
    let (b, a) = (&before.requests, &after.requests);
    Cost {
        gets: a.get - b.get,
        other_requests: (a.put + a.list + a.delete + a.head) - (b.put + b.list + b.delete + b.head),
        block_gets: after.cache.block_gets - before.cache.block_gets,
        index_gets: after.cache.index_gets - before.cache.index_gets,
        discarded: after.cache.discarded - before.cache.discarded,
    }
}

/// Reads `key(i)` and checks its value; returns what the read cost.
async fn get_cost(db: &Db, i: usize) -> Cost {
    let before = db.metrics();
    let got = db.get(key(i)).await.expect("get");
    assert_eq!(got.as_deref(), Some(value(i).as_bytes()), "{}", key(i));
    cost(&before, &db.metrics())
}

/// Chunks whose key range covers `k`.
fn covering(db: &Db, k: &str) -> usize {
    db.manifest().all_chunks().filter(|c| holds(c, k)).count()
}

/// Whether `k` falls inside chunk `c`'s key range.
fn holds(c: &ChunkMeta, k: &str) -> bool {
    c.min_key.as_slice() <= k.as_bytes() && k.as_bytes() <= c.max_key.as_slice()
}

async fn a_cold_read_costs_one_get_and_a_repeat_costs_none(kind: StoreKind) {
    let env = TestDb::new(kind, "cold-read");
    let db = env.open(many_chunks(env.options())).await;
    load(&db, KEYS, 5).await;
    // One sorted run: every key has exactly one covering chunk, so the count
    // of data-block GETs is exact (no bloom false positive can add one).
    db.compact().await.expect("compact");
    let chunks = db.manifest().all_chunks().count();
    let data_bytes: u64 = db.manifest().all_chunks().map(|c| c.size).sum();
    assert!(chunks >= 8, "expected many chunks, got {chunks}");
    db.close().await.expect("close");

    // A fresh machine: empty local directory.
    let fresh = many_chunks(env.options_with_local("fresh"));
    let db = Db::open(fresh.clone()).await.expect("open from the bucket");
    settle(&db).await;
    // The open reads manifests (the GC pass at open reads the versions
    // within the grace period), never a chunk.
    let opened = db.metrics();
    assert!(
        opened.requests.bytes_read < data_bytes / 100
            && opened.cache.block_gets == 0
            && opened.cache.index_gets == 0,
        "the open downloaded data: {} / {} for {chunks} chunks of {data_bytes} bytes",
        opened.requests,
        opened.cache
    );

    let mut rng = StdRng::seed_from_u64(17);
    let i = rng.random_range(0..KEYS);
    let first = get_cost(&db, i).await;
    assert_eq!(first.block_gets, 1, "one GET of the data block");
    assert!(
        first.index_gets <= covering(&db, &key(i)) as u64,
        "at most one index GET per covering chunk, got {}",
        first.index_gets
    );
    assert_eq!(first.gets, first.block_gets + first.index_gets);
    assert_eq!(first.other_requests, 0);

    let again = get_cost(&db, i).await;
    assert_eq!(
        (again.gets, again.other_requests),
        (0, 0),
        "a repeated get must be served locally"
    );
    db.close().await.expect("close");

    // Restart on the same local directory: the memory cache is gone, the
    // index file and the disk cache remain.
    let db = Db::open(fresh.clone()).await.expect("reopen");
    settle(&db).await;
    let warm = get_cost(&db, i).await;
    assert_eq!(
        (warm.gets, warm.other_requests),
        (0, 0),
        "the disk cache and local index serve a restarted process"
    );
    assert_eq!(db.metrics().cache.disk_hits, 1);
    // Another key of the same chunk, in another block: its index is local.
    let same_chunk = (0..KEYS)
        .map(|d| (i + 500 + d) % KEYS)
        .find(|&j| {
            db.manifest()
                .all_chunks()
                .any(|c| holds(c, &key(i)) && holds(c, &key(j)))
        })
        .expect("another key in the chunk");
    let local_index = get_cost(&db, same_chunk).await;
    assert_eq!(
        (
            local_index.gets,
            local_index.block_gets,
            local_index.index_gets
        ),
        (1, 1, 0),
        "with the index local a cold read is exactly one GET"
    );
    db.close().await.expect("close");

    // Preloading: every index comes in at open, then one GET per cold read.
    let mut preload = many_chunks(env.options_with_local("preload"));
    preload.preload_indexes = true;
    let db = Db::open(preload).await.expect("open with preload");
    settle(&db).await;
    assert_eq!(db.metrics().cache.index_gets, chunks as u64);
    for _ in 0..20 {
        let j = rng.random_range(0..KEYS);
        let c = get_cost(&db, j).await;
        assert!(
            c.index_gets == 0 && c.gets <= 1,
            "{}: {} GETs",
            key(j),
            c.gets
        );
    }
    db.close().await.expect("close");
}

async fn damaged_or_stale_local_files_are_discarded_and_fetched_again(kind: StoreKind) {
    let env = TestDb::new(kind, "cold-damage");
    let opts = many_chunks(env.options());
    let db = env.open(opts.clone()).await;
    load(&db, 30_000, 9).await;
    db.compact().await.expect("compact");
    let chunks: Vec<_> = db.manifest().all_chunks().cloned().collect();
    assert!(chunks.len() >= 2, "need two chunks, got {}", chunks.len());
    db.close().await.expect("close");

    // Fill the local index and the disk cache for one key of each of the
    // first two chunks, on a fresh local directory.
    let local = env.options_with_local("warm");
    let opts = Options {
        local_dir: local.local_dir.clone(),
        ..opts
    };
    let in_chunk = |c: usize| -> usize {
        (0..30_000)
            .find(|&i| holds(&chunks[c], &key(i)))
            .expect("a key in the chunk")
    };
    let (a, b) = (in_chunk(0), in_chunk(1));
    let db = Db::open(opts.clone()).await.expect("open");
    get_cost(&db, a).await;
    get_cost(&db, b).await;
    db.close().await.expect("close");

    let index_file = |c: usize| {
        let id = chunks[c].id;
        opts.local_dir
            .join("index")
            .join(format!("{:020}-{:020}.idx", id.epoch, id.id))
    };
    let cache_files = || -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(opts.local_dir.join("cache")).expect("cache dir") {
            for f in std::fs::read_dir(shard.expect("entry").path()).expect("shard") {
                out.push(f.expect("entry").path());
            }
        }
        out
    };
    assert!(index_file(0).exists() && index_file(1).exists());
    let cached = cache_files();
    assert_eq!(cached.len(), 2, "{cached:?}");

    // Damage: a flipped byte in chunk 0's index file, chunk 1's index file
    // replaced by chunk 0's (stale: intact but for another chunk), and a
    // flipped byte in every cache entry.
    let mut bytes = std::fs::read(index_file(0)).expect("index file");
    std::fs::copy(index_file(0), index_file(1)).expect("copy");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(index_file(0), &bytes).expect("damage");
    for f in &cached {
        let mut bytes = std::fs::read(f).expect("entry");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(f, &bytes).expect("damage");
    }

    let db = Db::open(opts.clone()).await.expect("open");
    settle(&db).await;
    for i in [a, b] {
        let c = get_cost(&db, i).await;
        assert_eq!(
            (c.index_gets, c.block_gets, c.discarded),
            (1, 1, 2),
            "{}: the bad index and the bad cache entry are discarded and fetched",
            key(i)
        );
    }
    db.close().await.expect("close");

    // The files were rewritten: a restart reads both keys with no request.
    let db = Db::open(opts).await.expect("open");
    settle(&db).await;
    for i in [a, b] {
        let c = get_cost(&db, i).await;
        assert_eq!((c.gets, c.discarded), (0, 0), "{}", key(i));
    }
    db.close().await.expect("close");
}

async fn multi_get_agrees_with_get_and_fetches_each_block_once(kind: StoreKind) {
    let env = TestDb::new(kind, "multi-get");
    let opts = many_chunks(env.options());
    let db = env.open(opts.clone()).await;
    load(&db, 20_000, 3).await;
    db.flush().await.expect("flush");
    // Newer versions in L0 and the memtable, some deletes.
    let mut model: BTreeMap<String, Option<String>> =
        (0..20_000).map(|i| (key(i), Some(value(i)))).collect();
    for i in (0..20_000).step_by(7) {
        db.put(key(i), format!("new-{i}")).await.expect("put");
        model.insert(key(i), Some(format!("new-{i}")));
    }
    db.flush().await.expect("flush");
    for i in (0..20_000).step_by(11) {
        db.delete(key(i)).await.expect("delete");
        model.insert(key(i), None);
    }
    let mut rng = StdRng::seed_from_u64(8);
    let mut keys: Vec<String> = (0..500).map(|_| key(rng.random_range(0..20_000))).collect();
    keys.push("absent".into());
    keys.push("key99999999".into());
    let got = db.multi_get(&keys).await.expect("multi_get");
    assert_eq!(got.len(), keys.len());
    for (k, v) in keys.iter().zip(&got) {
        let want = model.get(k).cloned().flatten();
        assert_eq!(v.as_deref(), want.as_deref().map(str::as_bytes), "{k}");
        let single = db.get(k).await.expect("get");
        assert_eq!(v, &single, "{k}: multi_get and get disagree");
    }
    db.close().await.expect("close");

    // Cold, fresh local directory: 40 adjacent keys share a few blocks,
    // which are fetched once each.
    let mut fresh = many_chunks(env.options_with_local("fresh"));
    fresh.preload_indexes = true;
    let db = Db::open(fresh).await.expect("open");
    settle(&db).await;
    let adjacent: Vec<String> = (1000..1040).map(key).collect();
    let before = db.metrics();
    let got = db.multi_get(&adjacent).await.expect("multi_get");
    let c = cost(&before, &db.metrics());
    for (k, v) in adjacent.iter().zip(&got) {
        assert_eq!(v.as_deref(), model[k].as_deref().map(str::as_bytes), "{k}");
    }
    // 40 keys of ~110 bytes span a few 4 KiB blocks in each of the three
    // chunks they live in (the load, the overwrites, the deletes); one GET
    // per key would be 40.
    assert!(
        c.block_gets <= 10 && c.gets == c.block_gets,
        "40 adjacent keys cost {} block GETs",
        c.block_gets
    );
    let before = db.metrics();
    db.multi_get(&adjacent).await.expect("multi_get");
    let again = cost(&before, &db.metrics());
    assert_eq!(again.gets, 0, "a repeated multi_get is served from cache");
    db.close().await.expect("close");
}

async fn a_cold_scan_reads_ahead_and_a_cached_scan_makes_no_request(kind: StoreKind) {
    let env = TestDb::new(kind, "cold-scan");
    let opts = many_chunks(env.options());
    let db = env.open(opts).await;
    load(&db, 50_000, 4).await;
    db.compact().await.expect("compact");
    let blocks: u64 = db.manifest().all_chunks().map(|c| c.size / 4096).sum();
    db.close().await.expect("close");

    let mut fresh = many_chunks(env.options_with_local("fresh"));
    fresh.scan_readahead = 1 << 20;
    let db = Db::open(fresh).await.expect("open");
    settle(&db).await;
    let before = db.metrics();
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    let c = cost(&before, &db.metrics());
    assert_eq!(all.len(), 50_000);
    for (n, (k, v)) in all.iter().enumerate() {
        assert_eq!(
            (k.as_ref(), v.as_ref()),
            (key(n).as_bytes(), value(n).as_bytes())
        );
    }
    assert!(
        c.block_gets * 8 < blocks,
        "a cold scan of ~{blocks} blocks made {} block GETs",
        c.block_gets
    );
    // Partly cached (random reads first, on another fresh local directory):
    // the read-ahead still covers whole windows, cached blocks and all.
    let mut partly = many_chunks(env.options_with_local("partly"));
    partly.scan_readahead = 1 << 20;
    let db2 = Db::open(partly).await.expect("open");
    settle(&db2).await;
    let mut rng = StdRng::seed_from_u64(12);
    for _ in 0..300 {
        let i = rng.random_range(0..50_000);
        get_cost(&db2, i).await;
    }
    let before = db2.metrics();
    let n = collect(db2.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan")
        .len();
    assert_eq!(n, 50_000);
    let c = cost(&before, &db2.metrics());
    assert!(
        c.block_gets * 8 < blocks,
        "a scan over a partly cached range of ~{blocks} blocks made {} block GETs",
        c.block_gets
    );
    db2.close().await.expect("close");

    // The same range again: every block is cached.
    let before = db.metrics();
    let again = collect(
        db.scan(key(10_000).as_bytes()..key(30_000).as_bytes())
            .expect("scan"),
    )
    .await
    .expect("scan");
    assert_eq!(again.len(), 20_000);
    let c = cost(&before, &db.metrics());
    assert_eq!(
        (c.gets, c.other_requests),
        (0, 0),
        "a cached scan made requests"
    );
    db.close().await.expect("close");
}

async fn a_cold_reverse_scan_reads_ahead_and_a_short_one_costs_two_gets_at_most(kind: StoreKind) {
    let env = TestDb::new(kind, "cold-reverse");
    let db = env.open(many_chunks(env.options())).await;
    load(&db, 50_000, 5).await;
    db.compact().await.expect("compact");
    let blocks: u64 = db.manifest().all_chunks().map(|c| c.size / 4096).sum();
    db.close().await.expect("close");

    let mut fresh = many_chunks(env.options_with_local("fresh"));
    fresh.scan_readahead = 1 << 20;
    fresh.preload_indexes = true;
    let db = Db::open(fresh).await.expect("open");
    settle(&db).await;

    // Ten rows down from a key in the middle: its block, and the one below
    // if the rows straddle a boundary (the index is local).
    let from = key(31_337);
    let before = db.metrics();
    let mut it = db.scan::<&[u8], _>(..).expect("scan").rev();
    it.seek(from.as_bytes());
    let mut short = Vec::new();
    while short.len() < 10 {
        short.push(it.next().await.expect("next").expect("a row"));
    }
    drop(it);
    let c = cost(&before, &db.metrics());
    for (j, (k, v)) in short.iter().enumerate() {
        let n = 31_337 - j;
        assert_eq!(
            (k.as_ref(), v.as_ref()),
            (key(n).as_bytes(), value(n).as_bytes())
        );
    }
    assert!(
        c.gets <= 2,
        "a cold 10-row reverse scan made {} GETs ({} of blocks)",
        c.gets,
        c.block_gets
    );

    // The whole range backwards on another fresh directory.
    let mut other = many_chunks(env.options_with_local("other"));
    other.scan_readahead = 1 << 20;
    let db2 = Db::open(other).await.expect("open");
    settle(&db2).await;
    let before = db2.metrics();
    let all = collect(db2.scan::<&[u8], _>(..).expect("scan").rev())
        .await
        .expect("reverse scan");
    let c = cost(&before, &db2.metrics());
    assert_eq!(all.len(), 50_000);
    for (j, (k, v)) in all.iter().enumerate() {
        let n = 49_999 - j;
        assert_eq!(
            (k.as_ref(), v.as_ref()),
            (key(n).as_bytes(), value(n).as_bytes())
        );
    }
    assert!(
        c.block_gets * 8 < blocks,
        "a cold reverse scan of ~{blocks} blocks made {} block GETs",
        c.block_gets
    );
    db2.close().await.expect("close");
    db.close().await.expect("close");
}

async fn flushed_blocks_can_be_kept_on_local_disk(kind: StoreKind) {
    for keep in [false, true] {
        let env = TestDb::new(kind, "cache-flushed");
        let mut opts = many_chunks(env.options());
        opts.cache_flushed_blocks = keep;
        let db = env.open(opts).await;
        load(&db, 5_000, 6).await;
        db.flush().await.expect("flush");
        // The blocks go to the disk cache in the background: wait until its
        // size stops growing.
        let mut last = u64::MAX;
        for _ in 0..100 {
            firn_store::clock::sleep(std::time::Duration::from_millis(50)).await;
            let now = db.metrics().cache.disk_bytes;
            if now == last && (now > 0 || !keep) {
                break;
            }
            last = now;
        }
        settle(&db).await;
        let before = db.metrics();
        for i in (0..5_000).step_by(97) {
            get_cost(&db, i).await;
        }
        let c = cost(&before, &db.metrics());
        if keep {
            assert_eq!(c.gets, 0, "flushed blocks were not served from local disk");
            assert!(db.metrics().cache.disk_hits > 0);
        } else {
            assert!(
                c.block_gets > 0,
                "without the option reads go to the bucket"
            );
        }
        db.close().await.expect("close");
    }
}

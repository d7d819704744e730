//! The on-disk tier of the block cache: raw (still compressed) data blocks
//! kept in the local directory, under a byte budget, evicted least recently
//! used first, and surviving restarts.
//!
//! One file per block, `<local_dir>/cache/<shard>/<epoch>-<id>-<block>.blk`.
//! A file is written to a temporary name and renamed into place, so a reader
//! sees a whole entry or none; it is never modified after that. Every entry is
//! checked on read (its header must name the block asked for, its checksum
//! must match); a bad entry is deleted and reported as a miss, so the caller
//! fetches the block again. Nothing here is needed for durability: the whole
//! folder may be deleted at any time.
//!
//! The recency order lives in memory and is rebuilt at open from the files'
//! modification times. A read-only handle reads entries but never writes or
//! deletes any (it does not own the directory).

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use firn_chunk::BlockHandle;
use firn_manifest::ChunkId;

use crate::lock;
use crate::read::block_cache::BlockKey;

// A cache entry file, all integers little-endian:
//
//   +----------------------+----------------+-------------------+
//   | magic "FIRNDBLK" (8) | version u32    | block index u32   |
//   +----------------------+----------------+-------------------+
//   | chunk epoch u64      | chunk id u64   |                   |
//   +----------------------+----------------+-------------------+
//   | block offset u64     | block len u64  |                   |
//   +----------------------+----------------+-------------------+
//   | raw block: exactly `block len` bytes, as stored in the chunk |
//   +-------------------------------------------------------------+
//   | crc32 u32 of every byte above                                |
//   +-------------------------------------------------------------+
//
// The header names the block so that a file renamed by mistake (or a chunk
// id reused by another database in the same folder) can never be served for
// the wrong block.

/// First bytes of every cache entry file.
const ENTRY_MAGIC: &[u8; 8] = b"FIRNDBLK";
/// Version of the entry layout; entries of another version are discarded.
const ENTRY_VERSION: u32 = 1;
/// Bytes before the raw block.
const ENTRY_HEADER_LEN: usize = 48;
/// Bytes after the raw block.
const ENTRY_TRAILER_LEN: usize = 4;
/// Subfolders entries are spread over (keeps folders small).
const SHARDS: u64 = 64;

/// Counters of the disk tier.
#[derive(Default)]
pub(crate) struct DiskCacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub inserts: AtomicU64,
    pub evictions: AtomicU64,
    pub discarded: AtomicU64,
}

struct Entry {
    size: u64,
    tick: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<BlockKey, Entry>,
    order: BTreeMap<u64, BlockKey>,
    next_tick: u64,
    used: u64,
}

impl Lru {
    fn touch(&mut self, key: &BlockKey) -> bool {
        let tick = self.next_tick;
        let Some(e) = self.entries.get_mut(key) else {
            return false;
        };
        self.order.remove(&e.tick);
        e.tick = tick;
        self.order.insert(tick, *key);
        self.next_tick = self.next_tick.wrapping_add(1);
        true
    }

    fn add(&mut self, key: BlockKey, size: u64) {
        if self.entries.contains_key(&key) {
            self.touch(&key);
            return;
        }
        let tick = self.next_tick;
        self.next_tick = self.next_tick.wrapping_add(1);
        self.entries.insert(key, Entry { size, tick });
        self.order.insert(tick, key);
        self.used = self.used.saturating_add(size);
    }

    fn remove(&mut self, key: &BlockKey) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.order.remove(&e.tick);
                self.used = self.used.saturating_sub(e.size);
                true
            }
            None => false,
        }
    }

    fn pop_oldest(&mut self) -> Option<BlockKey> {
        let (_, key) = self.order.pop_first()?;
        if let Some(e) = self.entries.remove(&key) {
            self.used = self.used.saturating_sub(e.size);
        }
        Some(key)
    }
}

/// The disk tier. A budget of 0 turns it off.
pub(crate) struct DiskCache {
    dir: PathBuf,
    budget: u64,
    writable: bool,
    lru: Mutex<Lru>,
    pub stats: DiskCacheStats,
}

impl DiskCache {
    /// Opens the cache folder `dir` (created if `writable`), indexing the
    /// entries already there, oldest first, and trimming them to `budget`.
    pub(crate) fn open(dir: PathBuf, budget: u64, writable: bool) -> DiskCache {
        let cache = DiskCache {
            dir,
            budget,
            writable,
            lru: Mutex::new(Lru::default()),
            stats: DiskCacheStats::default(),
        };
        if budget == 0 {
            return cache;
        }
        if writable {
            for shard in 0..SHARDS {
                // A folder that cannot be created only makes inserts fail
                // (they are best effort); reads then miss.
                let _ = fs::create_dir_all(cache.dir.join(format!("{shard:02x}")));
            }
        }
        let mut found = cache.scan();
        found.sort_by_key(|(_, _, mtime)| *mtime);
        {
            let mut lru = lock(&cache.lru);
            for (key, size, _) in found {
                lru.add(key, size);
            }
        }
        cache.trim();
        cache
    }

    /// The entries on disk, with their sizes and modification times. Stray
    /// temporary files (a crash between write and rename) are removed.
    fn scan(&self) -> Vec<(BlockKey, u64, std::time::SystemTime)> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            let Ok(listing) = fs::read_dir(self.dir.join(format!("{shard:02x}"))) else {
                continue;
            };
            for item in listing.flatten() {
                let name = item.file_name();
                let name = name.to_string_lossy();
                let Ok(meta) = item.metadata() else { continue };
                match parse_entry_name(&name) {
                    Some(key) => {
                        let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                        out.push((key, meta.len(), mtime));
                    }
                    None if self.writable => {
                        let _ = fs::remove_file(item.path());
                    }
                    None => {}
                }
            }
        }
        out
    }

    fn path(&self, key: &BlockKey) -> PathBuf {
        let (id, block) = key;
        let shard = (id.id ^ id.epoch.rotate_left(17) ^ u64::from(*block)) % SHARDS;
        self.dir
            .join(format!("{shard:02x}"))
            .join(format!("{:020}-{:020}-{block}.blk", id.epoch, id.id))
    }

    pub(crate) fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// Bytes of entries on disk (as far as this handle knows).
    pub(crate) fn used(&self) -> u64 {
        lock(&self.lru).used
    }

    /// The raw block `key` (at `handle` in its chunk), if cached and intact.
    pub(crate) fn get(&self, key: &BlockKey, handle: BlockHandle) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let known = lock(&self.lru).touch(key);
        // A read-only handle also looks for entries its writer added since.
        if !known && self.writable {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(_) => {
                if known {
                    lock(&self.lru).remove(key);
                }
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        match check_entry(&bytes, key, handle) {
            Ok(()) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                let mut bytes = Bytes::from(bytes);
                bytes.truncate(bytes.len().saturating_sub(ENTRY_TRAILER_LEN));
                Some(bytes.slice(ENTRY_HEADER_LEN..))
            }
            Err(why) => {
                tracing::warn!(
                    path = %path.display(),
                    "discarding a bad disk cache entry ({why}); the block is fetched again"
                );
                self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                lock(&self.lru).remove(key);
                if self.writable {
                    let _ = fs::remove_file(&path);
                }
                None
            }
        }
    }

    /// Whether `key` is cached (without reading it).
    pub(crate) fn contains(&self, key: &BlockKey) -> bool {
        self.enabled() && lock(&self.lru).entries.contains_key(key)
    }

    /// Stores raw block `key` (at `handle`). Best effort: a failed write only
    /// means a later miss.
    pub(crate) fn insert(&self, key: BlockKey, handle: BlockHandle, raw: &[u8]) {
        let size = raw
            .len()
            .saturating_add(ENTRY_HEADER_LEN + ENTRY_TRAILER_LEN) as u64;
        if !self.writable || size > self.budget || self.contains(&key) {
            return;
        }
        let path = self.path(&key);
        if let Err(e) = write_entry(&path, &key, handle, raw) {
            tracing::debug!(path = %path.display(), "disk cache write failed: {e}");
            return;
        }
        lock(&self.lru).add(key, size);
        self.stats.inserts.fetch_add(1, Ordering::Relaxed);
        self.trim();
    }

    /// Drops every entry of `chunks` (chunks that left the database).
    pub(crate) fn forget_chunks(&self, chunks: &[ChunkId]) {
        if !self.writable || !self.enabled() || chunks.is_empty() {
            return;
        }
        let doomed: Vec<BlockKey> = {
            let mut lru = lock(&self.lru);
            let keys: Vec<BlockKey> = lru
                .entries
                .keys()
                .filter(|(id, _)| chunks.contains(id))
                .copied()
                .collect();
            for k in &keys {
                lru.remove(k);
            }
            keys
        };
        for key in doomed {
            let _ = fs::remove_file(self.path(&key));
        }
    }

    /// Evicts the least recently used entries until within budget.
    fn trim(&self) {
        if !self.writable {
            return;
        }
        loop {
            let victim = {
                let mut lru = lock(&self.lru);
                if lru.used <= self.budget {
                    return;
                }
                lru.pop_oldest()
            };
            let Some(key) = victim else { return };
            let _ = fs::remove_file(self.path(&key));
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn parse_entry_name(name: &str) -> Option<BlockKey> {
    let stem = name.strip_suffix(".blk")?;
    let mut parts = stem.split('-');
    let epoch = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    let block = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((ChunkId { epoch, id }, block))
}

fn encode_header(key: &BlockKey, handle: BlockHandle) -> [u8; ENTRY_HEADER_LEN] {
    let mut h = [0u8; ENTRY_HEADER_LEN];
    h[0..8].copy_from_slice(ENTRY_MAGIC);
    h[8..12].copy_from_slice(&ENTRY_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&key.1.to_le_bytes());
    h[16..24].copy_from_slice(&key.0.epoch.to_le_bytes());
    h[24..32].copy_from_slice(&key.0.id.to_le_bytes());
    h[32..40].copy_from_slice(&handle.offset.to_le_bytes());
    h[40..48].copy_from_slice(&handle.len.to_le_bytes());
    h
}

pub(crate) fn write_entry(
    path: &Path,
    key: &BlockKey,
    handle: BlockHandle,
    raw: &[u8],
) -> std::io::Result<()> {
    let header = encode_header(key, handle);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    crc.update(raw);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(&header)?;
    tmp.write_all(raw)?;
    tmp.write_all(&crc.finalize().to_le_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Checks a whole entry file against the block it should hold.
pub(crate) fn check_entry(bytes: &[u8], key: &BlockKey, handle: BlockHandle) -> Result<(), String> {
    let expect_len = usize::try_from(handle.len)
        .ok()
        .and_then(|l| l.checked_add(ENTRY_HEADER_LEN + ENTRY_TRAILER_LEN))
        .ok_or("block length out of range")?;
    if bytes.len() != expect_len {
        return Err(format!(
            "entry is {} bytes, expected {expect_len}",
            bytes.len()
        ));
    }
    let (body, trailer) = bytes.split_at(bytes.len().saturating_sub(ENTRY_TRAILER_LEN));
    let stored: [u8; 4] = trailer.try_into().map_err(|_| "trailer cut short")?;
    if crc32fast::hash(body) != u32::from_le_bytes(stored) {
        return Err("checksum mismatch".into());
    }
    if body.get(..ENTRY_HEADER_LEN) != Some(&encode_header(key, handle)[..]) {
        return Err("header names another block or version".into());
    }
    Ok(())
}

/// Runs [`check_entry`] on arbitrary bytes, as the block its header names
/// and as a fixed one (fuzzing: it must return, never panic).
pub(crate) fn fuzz_check_entry(data: &[u8]) {
    let le = |at: usize| -> u64 {
        data.get(at..at.saturating_add(8))
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let named = (
        (
            ChunkId {
                epoch: le(16),
                id: le(24),
            },
            (le(8) >> 32) as u32,
        ),
        BlockHandle {
            offset: le(32),
            len: le(40),
        },
    );
    let fixed = (
        (ChunkId { epoch: 1, id: 1 }, 0),
        BlockHandle {
            offset: 0,
            len: data
                .len()
                .saturating_sub(ENTRY_HEADER_LEN + ENTRY_TRAILER_LEN) as u64,
        },
    );
    for (key, handle) in [named, fixed] {
        let _ = check_entry(data, &key, handle);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn key(i: u32) -> BlockKey {
        (ChunkId { epoch: 1, id: 7 }, i)
    }

    fn handle(i: u32, len: u64) -> BlockHandle {
        BlockHandle {
            offset: u64::from(i) * 1000,
            len,
        }
    }

    #[test]
    fn entries_survive_reopen_and_are_evicted_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let per = (ENTRY_HEADER_LEN + 100 + ENTRY_TRAILER_LEN) as u64;
        let cache = DiskCache::open(dir.path().join("cache"), 3 * per, true);
        for i in 0..3 {
            cache.insert(key(i), handle(i, 100), &[i as u8; 100]);
        }
        assert_eq!(cache.used(), 3 * per);
        // Touch 0, so 1 is the oldest when 3 arrives.
        assert!(cache.get(&key(0), handle(0, 100)).is_some());
        cache.insert(key(3), handle(3, 100), &[3; 100]);
        assert!(cache.get(&key(1), handle(1, 100)).is_none());
        assert_eq!(cache.stats.evictions.load(Ordering::Relaxed), 1);
        drop(cache);

        let cache = DiskCache::open(dir.path().join("cache"), 3 * per, true);
        assert_eq!(cache.used(), 3 * per);
        for i in [0, 2, 3] {
            let raw = cache.get(&key(i), handle(i, 100)).expect("cached");
            assert_eq!(&raw[..], &[i as u8; 100][..]);
        }
        // A smaller budget at reopen trims the folder.
        drop(cache);
        let cache = DiskCache::open(dir.path().join("cache"), per, true);
        assert_eq!(cache.used(), per);
    }

    #[test]
    fn a_damaged_or_misnamed_entry_is_discarded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = DiskCache::open(dir.path().join("cache"), 1 << 20, true);
        cache.insert(key(0), handle(0, 50), &[9; 50]);
        let path = cache.path(&key(0));
        let mut bytes = fs::read(&path).expect("entry");
        bytes[ENTRY_HEADER_LEN + 10] ^= 1;
        fs::write(&path, &bytes).expect("damage");
        assert!(cache.get(&key(0), handle(0, 50)).is_none());
        assert!(!path.exists(), "the bad entry was kept");
        assert_eq!(cache.stats.discarded.load(Ordering::Relaxed), 1);

        // Asking with another handle (the chunk is not the one cached) fails too.
        cache.insert(key(1), handle(1, 50), &[1; 50]);
        assert!(cache.get(&key(1), handle(1, 49)).is_none());
        assert!(cache.get(&key(1), handle(1, 50)).is_none(), "discarded");
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_entry_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = DiskCache::open(dir.path().join("cache"), 1 << 20, true);
        cache.insert(key(3), handle(3, 40), &[7; 40]);
        let good = fs::read(cache.path(&key(3))).expect("entry");
        assert!(check_entry(&good, &key(3), handle(3, 40)).is_ok());
        fuzz_check_entry(&good);
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..good.len() {
            // Every truncation, every byte changed.
            assert!(check_entry(&good[..i], &key(3), handle(3, 40)).is_err());
            let mut bad = good.clone();
            x = x.rotate_left(7) ^ 0x9E37_79B9;
            bad[i] ^= (x as u8) | 1;
            assert!(
                check_entry(&bad, &key(3), handle(3, 40)).is_err(),
                "byte {i}"
            );
            fuzz_check_entry(&bad);
            fuzz_check_entry(&bad[..i]);
        }
    }

    #[test]
    fn a_read_only_handle_reads_but_never_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = DiskCache::open(dir.path().join("cache"), 1 << 20, true);
        let reader = DiskCache::open(dir.path().join("cache"), 1 << 20, false);
        writer.insert(key(0), handle(0, 10), &[1; 10]);
        assert!(reader.get(&key(0), handle(0, 10)).is_some());
        reader.insert(key(1), handle(1, 10), &[1; 10]);
        assert!(!writer.path(&key(1)).exists());
    }
}

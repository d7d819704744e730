//! Reading chunks through the three tiers: decoded blocks in memory, raw
//! blocks and chunk indexes on local disk, and the object store.
//!
//! ```text
//! point read ─► index (mmapped local file, else 1 ranged GET, kept locally)
//!            ─► bloom + block index pick one block
//!            ─► memory cache ─► disk cache ─► 1 ranged GET (fills both)
//! ```

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{decode_block, Block, BlockHandle, ChunkIndex, ChunkSummary, EntryMeta, Kind};
use firn_manifest::{ChunkId, ChunkMeta, Manifest};
use firn_store::{ObjectStore, StoreError};

use crate::error::{Error, Result};
use crate::metrics::CacheCounts;
use crate::read::block_cache::{BlockCache, BlockKey};
use crate::read::disk_cache::DiskCache;
use crate::read::local_index::{LoadFailure, LocalIndexDir};
use crate::read::locator::ChunkLocator;
use crate::read::table::{ChunkTable, TableSet};

/// How a [`ChunkStore`] caches.
pub(crate) struct CacheConfig {
    /// Budget of the decoded-block cache in memory.
    pub memory_bytes: usize,
    /// Budget of the raw-block cache on disk (0: off).
    pub disk_bytes: u64,
    /// The local directory whose `index/` and `cache/` folders are used;
    /// `None` keeps everything in memory.
    pub local_dir: Option<PathBuf>,
    /// Whether this handle may write those folders (a writer; read-only
    /// handles only read them).
    pub writable: bool,
    /// Load every chunk's index when a table set is built, in parallel.
    pub preload_indexes: bool,
    /// Largest read-ahead window of a scan, per chunk list.
    pub scan_readahead: u64,
    /// The GC grace period: a view of the manifest older than this may
    /// reference chunks GC has deleted (for the error a read gets then).
    pub gc_grace: std::time::Duration,
}

/// The manifest version this handle reads and when it loaded it.
#[derive(Default)]
struct View {
    version: AtomicU64,
    loaded_at_ms: AtomicU64,
}

/// Counters of the read path's object-store traffic and local index use.
#[derive(Default)]
pub(crate) struct ReadStats {
    pub block_gets: AtomicU64,
    pub block_get_bytes: AtomicU64,
    pub index_gets: AtomicU64,
    pub index_get_bytes: AtomicU64,
    pub index_local_loads: AtomicU64,
    pub index_discarded: AtomicU64,
}

/// Reads chunks from the object store through the caches.
pub(crate) struct ChunkStore {
    /// This database's own store (where it writes chunks).
    pub store: ObjectStore,
    /// Where each chunk lives (own store or, for a clone, a source).
    pub locator: ChunkLocator,
    pub cache: BlockCache,
    pub disk: DiskCache,
    pub stats: ReadStats,
    pub scan_readahead: u64,
    local_index: Option<LocalIndexDir>,
    writable: bool,
    preload_indexes: bool,
    /// Every table handed out, weakly: a chunk whose table is still alive
    /// (an iterator pins an older table set) must not be deleted by GC.
    opened: std::sync::Mutex<HashMap<ChunkId, std::sync::Weak<ChunkTable>>>,
    gc_grace: std::time::Duration,
    view: View,
    /// Signalled when a read-only handle found a chunk collected under it.
    stale: tokio::sync::Notify,
    /// Background writes of flushed blocks into the disk cache still
    /// running, and whether the database is closing (they stop early).
    cache_writes: Arc<CacheWrites>,
}

/// The disk-cache writes running in the background (see
/// [`ChunkStore::cache_written_blocks`]): `close` stops them and waits, so
/// nothing lands in the local directory after it returns.
#[derive(Default)]
struct CacheWrites {
    running: AtomicU64,
    closing: std::sync::atomic::AtomicBool,
}

/// Chunk indexes loaded at once while preloading.
const PRELOAD_PARALLELISM: usize = 16;

impl ChunkStore {
    pub(crate) fn new(store: ObjectStore, config: CacheConfig) -> ChunkStore {
        let (local_index, disk) = match &config.local_dir {
            Some(dir) => (
                Some(LocalIndexDir::open(dir.join("index"), config.writable)),
                DiskCache::open(dir.join("cache"), config.disk_bytes, config.writable),
            ),
            None => (None, DiskCache::open(PathBuf::new(), 0, false)),
        };
        ChunkStore {
            locator: ChunkLocator::new(store.clone()),
            store,
            cache: BlockCache::new(config.memory_bytes),
            disk,
            stats: ReadStats::default(),
            scan_readahead: config.scan_readahead,
            local_index,
            writable: config.writable,
            preload_indexes: config.preload_indexes,
            opened: std::sync::Mutex::new(HashMap::new()),
            gc_grace: config.gc_grace,
            view: View::default(),
            stale: tokio::sync::Notify::new(),
            cache_writes: Arc::new(CacheWrites::default()),
        }
    }

    /// Stops the background disk-cache writes and waits (up to `timeout`)
    /// until none runs. Returns false if one was still running.
    pub(crate) async fn quiesce_local_writes(&self, timeout: std::time::Duration) -> bool {
        self.cache_writes.closing.store(true, Ordering::Release);
        let started = std::time::Instant::now();
        while self.cache_writes.running.load(Ordering::Acquire) > 0 {
            if started.elapsed() >= timeout {
                return false;
            }
            firn_store::clock::sleep(std::time::Duration::from_millis(1)).await;
        }
        true
    }

    /// The error for a failed read of `len` bytes at `offset` of the chunk
    /// `meta`. A chunk the manifest references that is missing, or shorter
    /// than the manifest says, is corruption naming the object and what the
    /// manifest expected — except on a read-only handle whose manifest was
    /// last confirmed current longer than the GC grace period ago: the
    /// writer has probably collected the chunk after a newer version
    /// replaced it ([`Error::Collected`]), and the handle refreshes.
    fn read_error(&self, meta: &ChunkMeta, offset: u64, len: u64, err: StoreError) -> Error {
        let what = match &err {
            StoreError::NotFound { .. } => "is missing from the bucket",
            StoreError::ShortObject { .. } => "is shorter than the manifest says",
            _ => return err.into(),
        };
        let version = self.view.version.load(Ordering::Relaxed);
        let age_ms = firn_store::clock::now_ms()
            .saturating_sub(self.view.loaded_at_ms.load(Ordering::Relaxed));
        let grace_ms = u64::try_from(self.gc_grace.as_millis()).unwrap_or(u64::MAX);
        if !self.writable && age_ms >= grace_ms && matches!(err, StoreError::NotFound { .. }) {
            // A reader that fell behind: refresh in the background.
            self.stale.notify_one();
            return Error::Collected {
                object: meta.id.object_name(),
                detail: format!(
                    "this handle last confirmed manifest version {version} as current {:.0} s \
                     ago, longer than the GC grace period ({:.0} s), and the writer has since \
                     replaced and collected chunk {}; the handle is refreshing now: retry the \
                     read (or call Db::refresh() first)",
                    age_ms as f64 / 1000.0,
                    self.gc_grace.as_secs_f64(),
                    meta.id
                ),
            };
        }
        let why = format!(
            "manifest version {version}, confirmed current {:.0} s ago, still references it, \
             so it was lost or altered outside Firn: run `firn verify` and restore the object",
            age_ms as f64 / 1000.0
        );
        Error::corruption(
            meta.id.object_name(),
            Some(offset),
            format!(
                "chunk {} {what}: the manifest records it as {} bytes, and reading {len} bytes \
                 at offset {offset} failed ({err}); {why}",
                meta.id, meta.size
            ),
        )
    }

    /// Resolves once a read found a chunk collected under this (read-only)
    /// handle: it should refresh.
    pub(crate) async fn stale(&self) {
        self.stale.notified().await;
    }

    /// Whether this handle's manifest was last confirmed current so long ago
    /// (half the GC grace period, a margin for the time between the check
    /// and its confirmation) that versions published since may have been
    /// superseded and collected: then following `version + 1, + 2, ...` can
    /// stop early at a hole, and only a LIST finds the newest version.
    /// Within it, every version published since is still in the bucket
    /// (GC keeps a superseded version for the grace period).
    pub(crate) fn versions_may_be_collected(&self) -> bool {
        let age_ms = firn_store::clock::now_ms()
            .saturating_sub(self.view.loaded_at_ms.load(Ordering::Relaxed));
        let grace_ms = u64::try_from(self.gc_grace.as_millis()).unwrap_or(u64::MAX);
        age_ms >= grace_ms / 2
    }

    /// A refresh found manifest `version` still the newest: its chunks are
    /// as current as if it had just been loaded.
    pub(crate) fn confirm_current(&self, version: u64) {
        if version >= self.view.version.load(Ordering::Relaxed) {
            self.view
                .loaded_at_ms
                .store(firn_store::clock::now_ms(), Ordering::Relaxed);
        }
    }

    /// The index of `table`: already loaded, else its local file, else one
    /// ranged GET of the metadata region (then written to a local file).
    /// Concurrent callers share one load.
    pub(crate) async fn index<'t>(&self, table: &'t ChunkTable) -> Result<&'t ChunkIndex> {
        table.index.get_or_try_init(|| self.load_index(table)).await
    }

    async fn load_index(&self, table: &ChunkTable) -> Result<ChunkIndex> {
        let meta = &table.meta;
        if let Some(local) = &self.local_index {
            match local.load(meta) {
                Ok(index) => {
                    self.stats.index_local_loads.fetch_add(1, Ordering::Relaxed);
                    return Ok(index);
                }
                Err(LoadFailure::Missing) => {}
                Err(LoadFailure::Bad) => {
                    self.stats.index_discarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let object = &table.object;
        let region = table
            .store
            .get_range(object, meta.meta_offset, meta.meta_len)
            .await
            .map_err(|e| self.read_error(meta, meta.meta_offset, meta.meta_len, e))?;
        self.stats.index_gets.fetch_add(1, Ordering::Relaxed);
        self.stats
            .index_get_bytes
            .fetch_add(region.len() as u64, Ordering::Relaxed);
        let index = ChunkIndex::decode(&region, meta.meta_offset, meta.size)
            .map_err(|e| Error::chunk(object, e))?;
        Ok(self.keep_locally(meta, index))
    }

    /// Writes `index` to the local index folder and returns the mapped copy
    /// (or `index` itself when it cannot be kept locally).
    fn keep_locally(&self, meta: &ChunkMeta, index: ChunkIndex) -> ChunkIndex {
        match &self.local_index {
            Some(local) => local.store(meta, &index).unwrap_or(index),
            None => index,
        }
    }

    /// A table for a chunk this process just built, its index decoded from
    /// the bytes in hand (no GET) and kept locally.
    pub(crate) fn adopt_built(
        &self,
        id: ChunkId,
        bytes: &[u8],
        summary: &ChunkSummary,
    ) -> Result<ChunkTable> {
        let meta = ChunkTable::meta_of_built(id, summary);
        let object = id.object_name();
        let start = usize::try_from(summary.meta_offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let index = ChunkIndex::decode(&bytes[start..], summary.meta_offset, summary.size)
            .map_err(|e| Error::chunk(&object, e))?;
        let index = self.keep_locally(&meta, index);
        Ok(ChunkTable::with_index(meta, self.store.clone(), index))
    }

    /// Puts every block of a chunk this process just wrote (`bytes`, the
    /// whole chunk) into the disk cache, on the blocking pool, in the
    /// background: recent data then reads from local disk.
    pub(crate) fn cache_written_blocks(self: &Arc<Self>, table: &Arc<ChunkTable>, bytes: Bytes) {
        if !self.writable || !self.disk.enabled() {
            return;
        }
        let (this, table) = (self.clone(), table.clone());
        let writes = self.cache_writes.clone();
        if writes.closing.load(Ordering::Acquire) {
            return;
        }
        writes.running.fetch_add(1, Ordering::AcqRel);
        firn_store::clock::spawn_blocking_detached(move || {
            struct Done(Arc<CacheWrites>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.running.fetch_sub(1, Ordering::AcqRel);
                }
            }
            let _done = Done(writes.clone());
            let Some(index) = table.index.get() else {
                return;
            };
            for i in 0..index.block_count() {
                if writes.closing.load(Ordering::Acquire) {
                    return;
                }
                let handle = index.block_handle(i);
                let range = usize::try_from(handle.offset)
                    .ok()
                    .zip(usize::try_from(handle.end()).ok())
                    .and_then(|(from, to)| bytes.get(from..to));
                if let Some(raw) = range {
                    this.disk.insert((table.meta.id, i as u32), handle, raw);
                }
            }
        });
    }

    /// Builds the table set for `manifest`, reusing the tables of `previous`
    /// (and `extra`, chunks just written). New tables load their index on
    /// first use, or here, in parallel, when preloading is on.
    pub(crate) async fn table_set_with(
        self: &Arc<Self>,
        manifest: Arc<Manifest>,
        previous: Option<&TableSet>,
        extra: Vec<Arc<ChunkTable>>,
    ) -> Result<TableSet> {
        let mut known: HashMap<ChunkId, Arc<ChunkTable>> = HashMap::new();
        if let Some(prev) = previous {
            for t in prev.tables() {
                known.insert(t.meta.id, t.clone());
            }
        }
        for t in extra {
            known.insert(t.meta.id, t);
        }
        if manifest.version >= self.view.version.load(Ordering::Relaxed) {
            self.view.version.store(manifest.version, Ordering::Relaxed);
            self.view
                .loaded_at_ms
                .store(firn_store::clock::now_ms(), Ordering::Relaxed);
        }
        let live: HashSet<ChunkId> = manifest.all_chunks().map(|c| c.id).collect();
        let mut fresh = Vec::new();
        for meta in manifest.all_chunks() {
            if let std::collections::hash_map::Entry::Vacant(slot) = known.entry(meta.id) {
                let store = self.locator.store_for(&manifest, meta.id).await?;
                let table = Arc::new(ChunkTable::new(meta.clone(), store));
                fresh.push(table.clone());
                slot.insert(table);
            }
        }
        if self.preload_indexes {
            self.preload(fresh).await?;
        }
        let gone: Vec<ChunkId> = {
            let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            opened.retain(|_, t| t.strong_count() > 0);
            for (id, t) in &known {
                opened.insert(*id, Arc::downgrade(t));
            }
            known
                .keys()
                .filter(|id| !live.contains(id))
                .copied()
                .collect()
        };
        if self.writable {
            // Chunks that left the database: their cached blocks and index
            // files go (a reader still holding a table keeps its mapping).
            // At open, a full sweep also clears files of chunks that left
            // while no writer ran here. Later sweeps would race with chunks
            // being built (their index files exist before they are live).
            self.disk.forget_chunks(&gone);
            if let Some(local) = &self.local_index {
                if previous.is_none() {
                    local.retain(&live);
                } else {
                    local.remove(&gone);
                }
            }
        }
        let pick = |m: &ChunkMeta| known.get(&m.id).cloned();
        let l0 = manifest.l0.iter().filter_map(pick).collect();
        let runs = manifest
            .runs
            .iter()
            .map(|r| r.chunks.iter().filter_map(pick).collect())
            .collect();
        Ok(TableSet { manifest, l0, runs })
    }

    /// Loads the indexes of `tables`, up to [`PRELOAD_PARALLELISM`] at once.
    async fn preload(self: &Arc<Self>, tables: Vec<Arc<ChunkTable>>) -> Result<()> {
        for group in tables.chunks(PRELOAD_PARALLELISM) {
            let mut tasks = tokio::task::JoinSet::new();
            for table in group {
                let (this, table) = (self.clone(), table.clone());
                tasks.spawn(async move { this.index(&table).await.map(|_| ()) });
            }
            while let Some(done) = tasks.join_next().await {
                done.map_err(|e| Error::Background(format!("loading a chunk index: {e}")))??;
            }
        }
        Ok(())
    }

    /// The per-tier counters.
    pub(crate) fn cache_counts(&self) -> CacheCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (memory_hits, memory_misses) = self.cache.stats();
        CacheCounts {
            memory_hits,
            memory_misses,
            memory_bytes: self.cache.used() as u64,
            disk_hits: get(&self.disk.stats.hits),
            disk_misses: get(&self.disk.stats.misses),
            disk_bytes: self.disk.used(),
            block_gets: get(&self.stats.block_gets),
            block_get_bytes: get(&self.stats.block_get_bytes),
            index_local: get(&self.stats.index_local_loads),
            index_gets: get(&self.stats.index_gets),
            index_get_bytes: get(&self.stats.index_get_bytes),
            discarded: get(&self.stats.index_discarded) + get(&self.disk.stats.discarded),
        }
    }

    /// Chunks whose table is still held by some reader.
    pub(crate) fn tables_in_use(&self) -> Vec<ChunkId> {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        opened
            .iter()
            .filter(|(_, t)| t.strong_count() > 0)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Block `key` from the memory tier, else the disk tier (which then
    /// fills the memory tier).
    fn cached_block(&self, key: &BlockKey, handle: BlockHandle, object: &str) -> Option<Block> {
        if let Some(block) = self.cache.get(key) {
            return Some(block);
        }
        let raw = self.disk.get(key, handle)?;
        match decode_block(&raw, handle) {
            Ok(block) => {
                self.cache.insert(*key, block.clone());
                Some(block)
            }
            Err(e) => {
                // The entry's own checksum passed, so the chunk block itself
                // is bad; the GET path reports it properly.
                tracing::warn!(object, "cached block does not decode: {e}");
                None
            }
        }
    }

    /// Data block `i` of `table`: from a cache, else one ranged GET.
    pub(crate) async fn block(&self, table: &ChunkTable, i: usize) -> Result<Block> {
        let index = self.index(table).await?;
        let handle = checked_handle(table, index, i)?;
        if let Some(block) = self.cached_block(&(table.meta.id, i as u32), handle, &table.object) {
            return Ok(block);
        }
        let mut fetched = self.fetch(table, index, i, i, true).await?;
        fetched
            .pop()
            .ok_or_else(|| Error::Background("empty block read".into()))
    }

    /// Data blocks `first..` of `table`: when the first is cached, it and
    /// the cached blocks right after it (within `max_bytes`); else one
    /// ranged GET covering as many adjacent blocks as fit in `max_bytes` (at
    /// least one). Fetched blocks fill both cache tiers only when
    /// `fill_cache` is set (compaction reads once and leaves them alone).
    pub(crate) async fn blocks(
        &self,
        table: &ChunkTable,
        first: usize,
        max_bytes: u64,
        fill_cache: bool,
    ) -> Result<Vec<Block>> {
        let index = self.index(table).await?;
        let count = index.block_count();
        let start = checked_handle(table, index, first)?;
        let within = |i: usize| {
            let h = index.block_handle(i);
            h.offset + h.len - start.offset <= max_bytes
        };
        if let Some(block) = self.cached_block(&(table.meta.id, first as u32), start, &table.object)
        {
            // Cached: hand out the cached blocks that follow it too (no GET).
            let mut out = vec![block];
            let mut i = first + 1;
            while i < count && within(i) {
                let key = (table.meta.id, i as u32);
                if !(self.cache.contains(&key) || self.disk.contains(&key)) {
                    break;
                }
                match self.cached_block(&key, index.block_handle(i), &table.object) {
                    Some(block) => out.push(block),
                    None => break,
                }
                i += 1;
            }
            return Ok(out);
        }
        // One GET for the whole window, even over blocks cached already:
        // a request costs more than the bytes, and a partly cached chunk
        // must not turn a scan into one GET per block.
        let mut last = first;
        while last + 1 < count && within(last + 1) {
            last += 1;
        }
        self.fetch(table, index, first, last, fill_cache).await
    }

    /// Blocks `first..=last` of `table` with one ranged GET, filling both
    /// cache tiers when `fill_cache` is set.
    async fn fetch(
        &self,
        table: &ChunkTable,
        index: &ChunkIndex,
        first: usize,
        last: usize,
        fill_cache: bool,
    ) -> Result<Vec<Block>> {
        let start = index.block_handle(first);
        let end = index.block_handle(last);
        let len = end.offset + end.len - start.offset;
        let raw = table
            .store
            .get_range(&table.object, start.offset, len)
            .await
            .map_err(|e| self.read_error(&table.meta, start.offset, len, e))?;
        self.stats.block_gets.fetch_add(1, Ordering::Relaxed);
        self.stats
            .block_get_bytes
            .fetch_add(raw.len() as u64, Ordering::Relaxed);
        let mut out = Vec::with_capacity(last - first + 1);
        for i in first..=last {
            let handle = index.block_handle(i);
            let from = usize::try_from(handle.offset - start.offset).unwrap_or(usize::MAX);
            let to = from.saturating_add(usize::try_from(handle.len).unwrap_or(usize::MAX));
            let bytes = raw.get(from..to).ok_or_else(|| {
                Error::corruption(&table.object, Some(handle.offset), "short ranged read")
            })?;
            let block = decode_block(bytes, handle).map_err(|e| Error::chunk(&table.object, e))?;
            if fill_cache {
                let key = (table.meta.id, i as u32);
                self.cache.insert(key, block.clone());
                self.disk.insert(key, handle, bytes);
            }
            out.push(block);
        }
        Ok(out)
    }

    /// The block of `table` that holds the newest version of `key` at or
    /// below `max_seq`, if the bloom filter and key range allow one.
    pub(crate) async fn candidate_block(
        &self,
        table: &ChunkTable,
        key: &[u8],
        max_seq: u64,
    ) -> Result<Option<usize>> {
        let Some(object_seq) = table.object_seq(max_seq) else {
            return Ok(None);
        };
        if !table.covers(key) {
            return Ok(None);
        }
        let index = self.index(table).await?;
        if !index.may_contain(key) {
            return Ok(None);
        }
        // The chunk format guarantees that the block the index names is the
        // only one that can hold the newest version at or below the seq.
        Ok(index.seek_block(key, object_seq))
    }

    /// The newest seq at or below `max_seq` of a range delete in `table`
    /// covering `key` (local: the range deletes are in the chunk's index).
    pub(crate) async fn range_cover(
        &self,
        table: &ChunkTable,
        key: &[u8],
        max_seq: u64,
    ) -> Result<Option<u64>> {
        let Some(object_seq) = table.object_seq(max_seq) else {
            return Ok(None);
        };
        if !table.covers(key) {
            return Ok(None);
        }
        let ranges = &self.index(table).await?.properties().range_tombstones;
        Ok(ranges.cover(key, object_seq).map(|s| table.entry_seq(s)))
    }

    /// Newest version of `key` with seq <= `max_seq` in `table`: bloom, block
    /// index, then one block.
    pub(crate) async fn get(
        &self,
        table: &ChunkTable,
        key: &[u8],
        max_seq: u64,
    ) -> Result<Option<(u64, Kind, Bytes, EntryMeta)>> {
        let Some(i) = self.candidate_block(table, key, max_seq).await? else {
            return Ok(None);
        };
        let block = self.block(table, i).await?;
        let object_seq = table.object_seq(max_seq).unwrap_or(max_seq);
        let hit = block
            .get_with_meta(key, object_seq)
            .map_err(|e| Error::chunk(&table.object, e))?;
        Ok(hit.map(|(seq, kind, value, meta)| {
            (table.entry_seq(seq), kind, value, meta.unwrap_or_default())
        }))
    }
}

/// The handle of block `i` of `table`, or a corruption error naming the
/// chunk when the index has no such block.
fn checked_handle(table: &ChunkTable, index: &ChunkIndex, i: usize) -> Result<BlockHandle> {
    let count = index.block_count();
    if i >= count {
        return Err(Error::corruption(
            &table.object,
            None,
            format!("block {i} asked of a chunk with {count} blocks"),
        ));
    }
    Ok(index.block_handle(i))
}

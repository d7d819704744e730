//! Chunks as the read path sees them: opened metadata (bloom, block index,
//! properties) kept in memory, data blocks fetched by one ranged GET each
//! through the block cache.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{decode_block, Block, ChunkIndex, ChunkSummary, Kind};
use firn_manifest::{ChunkId, ChunkMeta, Manifest, ObjectStore};

use crate::block_cache::BlockCache;
use crate::error::{Error, Result};

/// One chunk, opened: its manifest entry and its decoded index.
pub(crate) struct ChunkTable {
    pub meta: ChunkMeta,
    pub object: String,
    pub index: ChunkIndex,
}

impl ChunkTable {
    /// A table for a chunk this process just built: its manifest entry from
    /// the builder's summary, its index decoded from the bytes in hand (no GET).
    pub(crate) fn from_built(
        id: ChunkId,
        bytes: &[u8],
        summary: &ChunkSummary,
    ) -> Result<ChunkTable> {
        let props = &summary.properties;
        let meta = ChunkMeta {
            id,
            size: summary.size,
            meta_offset: summary.meta_offset,
            meta_len: summary.meta_len,
            entries: props.entries,
            tombstones: props.tombstones,
            min_key: props.min_key.clone(),
            max_key: props.max_key.clone(),
            min_seq: props.min_seq,
            max_seq: props.max_seq,
        };
        let object = id.object_name();
        let start = usize::try_from(summary.meta_offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let index = ChunkIndex::decode(&bytes[start..], summary.meta_offset, summary.size)
            .map_err(|e| Error::chunk(&object, e))?;
        Ok(ChunkTable {
            meta,
            object,
            index,
        })
    }

    /// True when `key` falls inside the chunk's key range.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        key >= self.meta.min_key.as_slice() && key <= self.meta.max_key.as_slice()
    }
}

/// The chunks of one manifest version, in read order.
pub(crate) struct TableSet {
    pub manifest: Arc<Manifest>,
    /// L0, newest first.
    pub l0: Vec<Arc<ChunkTable>>,
    /// Sorted runs, newest first; each run key-ordered and non-overlapping.
    pub runs: Vec<Vec<Arc<ChunkTable>>>,
}

impl TableSet {
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Arc<ChunkTable>> {
        self.l0.iter().chain(self.runs.iter().flatten())
    }
}

/// Reads chunks from the object store through the block cache.
pub(crate) struct ChunkStore {
    pub store: ObjectStore,
    pub cache: BlockCache,
    /// Every table handed out, weakly: a chunk whose table is still alive
    /// (an iterator pins an older table set) must not be deleted by GC.
    opened: std::sync::Mutex<HashMap<ChunkId, std::sync::Weak<ChunkTable>>>,
}

impl ChunkStore {
    pub(crate) fn new(store: ObjectStore, cache_bytes: usize) -> ChunkStore {
        ChunkStore {
            store,
            cache: BlockCache::new(cache_bytes),
            opened: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Opens a chunk with one ranged GET of its index region.
    pub(crate) async fn open_table(&self, meta: &ChunkMeta) -> Result<ChunkTable> {
        let object = meta.id.object_name();
        let region = self
            .store
            .get_range(&object, meta.meta_offset, meta.meta_len)
            .await?;
        let index = ChunkIndex::decode(&region, meta.meta_offset, meta.size)
            .map_err(|e| Error::chunk(&object, e))?;
        Ok(ChunkTable {
            meta: meta.clone(),
            object,
            index,
        })
    }

    /// Builds the table set for `manifest`, reusing already opened tables
    /// from `previous` (and `extra`, chunks just written) and opening the
    /// rest (in parallel).
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
        let missing: Vec<ChunkMeta> = manifest
            .all_chunks()
            .filter(|c| !known.contains_key(&c.id))
            .cloned()
            .collect();
        for group in missing.chunks(16) {
            let mut tasks = Vec::new();
            for meta in group {
                let this = self.clone();
                let meta = meta.clone();
                tasks.push(tokio::spawn(async move { this.open_table(&meta).await }));
            }
            for task in tasks {
                let table = task
                    .await
                    .map_err(|e| Error::Background(format!("opening a chunk: {e}")))??;
                known.insert(table.meta.id, Arc::new(table));
            }
        }
        {
            let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            opened.retain(|_, t| t.strong_count() > 0);
            for (id, t) in &known {
                opened.insert(*id, Arc::downgrade(t));
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

    /// Chunks whose opened table is still held by some reader.
    pub(crate) fn tables_in_use(&self) -> Vec<ChunkId> {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        opened
            .iter()
            .filter(|(_, t)| t.strong_count() > 0)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Data block `i` of `table`: from the cache, else one ranged GET.
    pub(crate) async fn block(&self, table: &ChunkTable, i: usize) -> Result<Block> {
        let key = (table.meta.id, i as u32);
        if let Some(block) = self.cache.get(&key) {
            return Ok(block);
        }
        let handle = table.index.block_handle(i);
        let raw = self
            .store
            .get_range(&table.object, handle.offset, handle.len)
            .await?;
        let block = decode_block(&raw, handle).map_err(|e| Error::chunk(&table.object, e))?;
        self.cache.insert(key, block.clone());
        Ok(block)
    }

    /// Data blocks `first..` of `table` with one ranged GET covering as many
    /// adjacent blocks as fit in `max_bytes` (at least one). Cached blocks are
    /// used when the first one is cached; fetched blocks fill the cache only
    /// when `fill_cache` is set (compaction reads once and leaves it alone).
    pub(crate) async fn blocks(
        &self,
        table: &ChunkTable,
        first: usize,
        max_bytes: u64,
        fill_cache: bool,
    ) -> Result<Vec<Block>> {
        if let Some(block) = self.cache.get(&(table.meta.id, first as u32)) {
            return Ok(vec![block]);
        }
        let count = table.index.block_count();
        let start = table.index.block_handle(first);
        let mut last = first;
        while last + 1 < count {
            let next = table.index.block_handle(last + 1);
            if next.offset + next.len - start.offset > max_bytes {
                break;
            }
            last += 1;
        }
        let end = table.index.block_handle(last);
        let len = end.offset + end.len - start.offset;
        let raw = self
            .store
            .get_range(&table.object, start.offset, len)
            .await?;
        let mut out = Vec::with_capacity(last - first + 1);
        for i in first..=last {
            let handle = table.index.block_handle(i);
            let from = usize::try_from(handle.offset - start.offset).unwrap_or(usize::MAX);
            let to = from.saturating_add(usize::try_from(handle.len).unwrap_or(usize::MAX));
            let bytes = raw.get(from..to).ok_or_else(|| {
                Error::corruption(&table.object, Some(handle.offset), "short ranged read")
            })?;
            let block = decode_block(bytes, handle).map_err(|e| Error::chunk(&table.object, e))?;
            if fill_cache {
                self.cache.insert((table.meta.id, i as u32), block.clone());
            }
            out.push(block);
        }
        Ok(out)
    }

    /// Newest version of `key` with seq <= `max_seq` in `table`: bloom, block
    /// index, then one block.
    pub(crate) async fn get(
        &self,
        table: &ChunkTable,
        key: &[u8],
        max_seq: u64,
    ) -> Result<Option<(u64, Kind, Bytes)>> {
        if !table.covers(key) || !table.index.may_contain(key) {
            return Ok(None);
        }
        // The chunk format guarantees that the block the index names is the
        // only one that can hold the newest version at or below `max_seq`.
        let Some(i) = table.index.seek_block(key, max_seq) else {
            return Ok(None);
        };
        let block = self.block(table, i).await?;
        block
            .get(key, max_seq)
            .map_err(|e| Error::chunk(&table.object, e))
    }
}

/// Tables of a sorted run that may hold `key` (binary search by key range).
pub(crate) fn run_table_for<'a>(
    run: &'a [Arc<ChunkTable>],
    key: &[u8],
) -> Option<&'a Arc<ChunkTable>> {
    let i = run.partition_point(|t| t.meta.max_key.as_slice() < key);
    run.get(i).filter(|t| t.covers(key))
}

//! Chunks as the read path sees them: the manifest entry of each chunk, its
//! index (bloom filter, block index, properties) loaded on first use, and the
//! chunks of one manifest version in read order.

use std::sync::Arc;

use firn_chunk::{ChunkIndex, ChunkSummary};
use firn_manifest::{ChunkId, ChunkMeta, Manifest};
use firn_store::ObjectStore;
use tokio::sync::OnceCell;

pub(crate) use crate::read::chunk_store::ChunkStore;

/// One chunk: its manifest entry, where it lives and, once something needed
/// it, its index.
pub(crate) struct ChunkTable {
    pub meta: ChunkMeta,
    pub object: String,
    /// The store holding the object: this database's own, or for a clone
    /// the source it reads the chunk from.
    pub store: ObjectStore,
    /// Loaded by [`ChunkStore::index`]: from the local index file, else one
    /// ranged GET of the chunk's metadata region.
    pub(crate) index: OnceCell<ChunkIndex>,
}

impl ChunkTable {
    /// A table whose index is not loaded yet, of a chunk in `store`.
    pub(crate) fn new(meta: ChunkMeta, store: ObjectStore) -> ChunkTable {
        ChunkTable {
            object: meta.id.object_name(),
            meta,
            store,
            index: OnceCell::new(),
        }
    }

    /// The manifest entry of a chunk this process just built, from the
    /// builder's summary.
    pub(crate) fn meta_of_built(id: ChunkId, summary: &ChunkSummary) -> ChunkMeta {
        let props = &summary.properties;
        ChunkMeta {
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
        }
    }

    /// A table with its index already in hand.
    pub(crate) fn with_index(meta: ChunkMeta, store: ObjectStore, index: ChunkIndex) -> ChunkTable {
        let table = ChunkTable::new(meta, store);
        // A fresh cell: setting it cannot fail.
        let _ = table.index.set(index);
        table
    }

    /// The seq bound to look up in the chunk object for a read at `read_seq`,
    /// or `None` when the read sees nothing of the chunk. A chunk whose
    /// manifest entry has one seq for all entries (a bulk-ingested chunk's
    /// object carries seq 0; see [`ChunkMeta::uniform_seq`]) is wholly
    /// visible at or above that seq; any other chunk is read at `read_seq`.
    pub(crate) fn object_seq(&self, read_seq: u64) -> Option<u64> {
        match self.meta.uniform_seq() {
            Some(seq) if read_seq < seq => None,
            Some(_) => Some(firn_chunk::MAX_SEQ),
            None => Some(read_seq),
        }
    }

    /// The seq of an entry the chunk object gives as `object_seq`: the
    /// manifest's for a single-seq chunk, else the object's own.
    pub(crate) fn entry_seq(&self, object_seq: u64) -> u64 {
        self.meta.uniform_seq().unwrap_or(object_seq)
    }

    /// This table with every entry at `seq` (a bulk-ingested chunk, built
    /// at seq 0, as its manifest entry will say once published).
    pub(crate) fn with_seq(&self, seq: u64) -> ChunkTable {
        let mut meta = self.meta.clone();
        meta.min_seq = seq;
        meta.max_seq = seq;
        let table = ChunkTable::new(meta, self.store.clone());
        if let Some(index) = self.index.get() {
            let _ = table.index.set(index.clone());
        }
        table
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

/// The table of a sorted run that may hold `key` (binary search by key range).
pub(crate) fn run_table_for<'a>(
    run: &'a [Arc<ChunkTable>],
    key: &[u8],
) -> Option<&'a Arc<ChunkTable>> {
    let i = run.partition_point(|t| t.meta.max_key.as_slice() < key);
    run.get(i).filter(|t| t.covers(key))
}

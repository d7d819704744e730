//! The read path: the read view, point reads, batched reads, scans and
//! snapshots over memtables and chunks (through the block caches, the
//! local index and ranged GETs).
//!
//! Every read walks [`ReadState::layers`]: memtables, then L0 newest
//! first, then the sorted runs.

pub(crate) mod block_cache;
pub(crate) mod chunk_store;
pub(crate) mod disk_cache;
pub(crate) mod iter;
pub(crate) mod local_index;
mod multi_get;
pub(crate) mod snapshot;
pub(crate) mod table;
pub(crate) mod view;

use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::Kind;

use crate::error::{Error, Result};
use crate::memtable::MemValue;
use crate::metrics::EngineMetrics;
use iter::DbIterator;
use snapshot::{SnapshotPin, SnapshotRegistry};
use table::ChunkStore;
use view::{Layer, ReadView};

/// Everything a read needs: the view, the chunk reader with its caches, the
/// live snapshots and the key size limit.
pub(crate) struct Reader {
    pub view: Arc<ReadView>,
    pub chunks: Arc<ChunkStore>,
    pub snapshots: Arc<SnapshotRegistry>,
    pub metrics: Arc<EngineMetrics>,
    pub max_key_size: usize,
}

impl Reader {
    /// Pins the current sequence number as a snapshot.
    pub(crate) fn pin_current(&self) -> SnapshotPin {
        self.snapshots.pin(self.view.visible_seq())
    }

    /// The newest version of `key` at or below `seq`, walking the read
    /// order until some layer has the key.
    pub(crate) async fn get_at(&self, key: &[u8], seq: u64) -> Result<Option<Bytes>> {
        self.check_key(key)?;
        self.metrics.gets.fetch_add(1, Ordering::Relaxed);
        let state = self.view.current();
        for layer in state.layers() {
            let hit = match layer {
                Layer::Mem(mem) => {
                    if mem.is_empty() {
                        continue;
                    }
                    mem.get(key, seq).map(|(_, v)| match v {
                        MemValue::Put(v) => Some(v),
                        MemValue::Delete => None,
                    })
                }
                Layer::L0(table) => self.chunk_get(table, key, seq).await?,
                Layer::Run(run) => match table::run_table_for(run, key) {
                    Some(table) => self.chunk_get(table, key, seq).await?,
                    None => None,
                },
            };
            if let Some(found) = hit {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// `Some(value or None for a tombstone)` when `table` has `key`.
    async fn chunk_get(
        &self,
        table: &table::ChunkTable,
        key: &[u8],
        seq: u64,
    ) -> Result<Option<Option<Bytes>>> {
        let hit = self.chunks.get(table, key, seq).await?;
        Ok(hit.map(|(_, kind, v)| (kind == Kind::Put).then_some(v)))
    }

    /// Rejects empty and oversized keys with a clear message.
    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidArgument("empty keys are not allowed".into()));
        }
        let max = self.max_key_size;
        if key.len() > max {
            return Err(Error::InvalidArgument(format!(
                "key of {} bytes exceeds the key size limit of {max} bytes (Options::max_key_size)",
                key.len()
            )));
        }
        Ok(())
    }

    /// An iterator over `start..end` at `seq`, pinning `seq` as a snapshot
    /// while it lives.
    pub(crate) fn iter_between(
        &self,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        seq: u64,
    ) -> DbIterator {
        let pin = self.snapshots.pin(seq);
        DbIterator::new(
            self.view.current(),
            self.chunks.clone(),
            seq,
            start,
            end,
            Some(pin),
        )
    }
}

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
pub(crate) mod locator;
pub(crate) mod merge;
mod multi_get;
pub(crate) mod record;
mod reverse;
pub(crate) mod snapshot;
pub(crate) mod sources;
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
use record::ReadClock;
pub use record::Record;
use snapshot::SnapshotRegistry;
use table::ChunkStore;
use view::{Layer, ReadState, ReadView};

/// Where a read reads: a state and a sequence number that belong together
/// (the state holds every write through `seq`, and its chunks hold every
/// version a read at `seq` needs).
#[derive(Clone)]
pub(crate) struct ReadPoint {
    pub state: Arc<ReadState>,
    pub seq: u64,
}

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
    /// The current state and visible sequence number, taken together.
    ///
    /// A follower swaps in a newer manifest's chunks before it publishes
    /// their watermark as visible, and a writer's compaction may have
    /// dropped versions below that watermark: a state is read only at a
    /// sequence number at or above its watermark, and only while it is
    /// still the current one.
    pub(crate) fn point(&self) -> ReadPoint {
        loop {
            let state = self.view.current();
            let seq = self.view.visible_seq();
            if seq >= state.tables.manifest.wal_watermark
                && Arc::ptr_eq(&state, &self.view.current())
            {
                return ReadPoint { state, seq };
            }
            std::hint::spin_loop();
        }
    }

    /// The newest version of `key` at or below `at.seq`, walking the read
    /// order until some layer has the key.
    pub(crate) async fn get_at(&self, key: &[u8], at: ReadPoint) -> Result<Option<Bytes>> {
        Ok(self.get_record_at(key, at).await?.map(|r| r.value))
    }

    /// [`Reader::get_at`] with the version's seq, write time and expiry.
    /// An expired value reads as absent (and hides older versions, as a
    /// tombstone does), and so does a version older than a range delete
    /// covering the key.
    pub(crate) async fn get_record_at(&self, key: &[u8], at: ReadPoint) -> Result<Option<Record>> {
        self.check_key(key)?;
        self.metrics.gets.fetch_add(1, Ordering::Relaxed);
        let (state, seq) = (at.state, at.seq);
        let mut clock = ReadClock::new();
        // The newest range delete covering `key` in the layers walked so far.
        let mut cover: Option<u64> = None;
        for layer in state.layers() {
            let (hit, layer_cover) = match layer {
                Layer::Mem(mem) => {
                    if mem.is_empty() {
                        continue;
                    }
                    let hit = mem.get(key, seq).map(|(seq, v)| match v {
                        MemValue::Put(v, meta) if !clock.expired(&meta) => {
                            (seq, Some(Record::new(v, seq, meta)))
                        }
                        _ => (seq, None),
                    });
                    (hit, mem.range_cover(key, seq))
                }
                Layer::L0(table) => self.chunk_lookup(table, key, seq, &mut clock).await?,
                Layer::Run(run) => match table::run_table_for(run, key) {
                    Some(table) => self.chunk_lookup(table, key, seq, &mut clock).await?,
                    None => (None, None),
                },
            };
            cover = cover.max(layer_cover);
            match hit {
                Some((found, record)) => {
                    return Ok(record.filter(|_| cover.is_none_or(|c| found > c)));
                }
                // Older layers hold only older versions: deleted.
                None if cover.is_some() => return Ok(None),
                None => {}
            }
        }
        Ok(None)
    }

    /// The newest version of `key` in `table` (`Some((seq, record))`, the
    /// record `None` for a tombstone or an expired value), and the newest
    /// range delete there covering `key`.
    async fn chunk_lookup(
        &self,
        table: &table::ChunkTable,
        key: &[u8],
        seq: u64,
        clock: &mut ReadClock,
    ) -> Result<(Option<(u64, Option<Record>)>, Option<u64>)> {
        let cover = self.chunks.range_cover(table, key, seq).await?;
        let hit = self.chunks.get(table, key, seq).await?;
        Ok((
            hit.map(|(seq, kind, v, meta)| {
                let record =
                    (kind == Kind::Put && !clock.expired(&meta)).then(|| Record::new(v, seq, meta));
                (seq, record)
            }),
            cover,
        ))
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

    /// An iterator over `start..end` at `at`, pinning its sequence number
    /// as a snapshot while it lives.
    pub(crate) fn iter_between(
        &self,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        at: ReadPoint,
    ) -> DbIterator {
        let pin = self.snapshots.pin(at.seq);
        DbIterator::new(at.state, self.chunks.clone(), at.seq, start, end, Some(pin))
    }
}

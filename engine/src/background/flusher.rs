//! Background flush: frozen memtable → chunk PUT → manifest publish → WAL
//! segments deleted, strictly in freeze order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use firn_chunk::{ChunkBuilder, ChunkOptions, ChunkSummary, Kind};
use firn_manifest::{ChunkId, ManifestEdit};
use tokio::sync::watch;

use crate::background::compactor::VersionFilter;
use crate::background::publisher::ManifestPublisher;
use crate::background::retry::Retry;
use crate::background::shipper::ShippedIndex;
use crate::background::uploads::{upload_chunk, ChunkIds};
use crate::error::{Error, Result};
use crate::health::Health;
use crate::lock;
use crate::memtable::{MemValue, Memtable};
use crate::metrics::EngineMetrics;
use crate::read::snapshot::{Readers, SnapshotRegistry};
use crate::read::table::ChunkStore;
use crate::read::view::ReadView;
use crate::signal::{DurableSeq, Wakeup};
use crate::write::wal::{list_segments, sync_dir};
use crate::write::wal_tail::WalTail;
use crate::write::Backpressure;

/// Where the flusher reports: who waits for its progress.
pub(crate) struct FlushListeners {
    pub compactor: Wakeup,
    pub collector: Wakeup,
    pub room: Arc<Backpressure>,
}

/// What the flusher needs to write and publish chunks.
pub(crate) struct FlushDeps {
    pub view: Arc<ReadView>,
    pub chunks: Arc<ChunkStore>,
    pub publisher: Arc<ManifestPublisher>,
    pub ids: Arc<ChunkIds>,
    pub retry: Retry,
    pub health: Arc<Health>,
    pub metrics: Arc<EngineMetrics>,
    pub wal_dir: PathBuf,
    pub local_dir: PathBuf,
    pub chunk_options: ChunkOptions,
    pub cache_flushed_blocks: bool,
    pub epoch: u64,
    /// Advanced to the watermark after each publish.
    pub durable: Arc<DurableSeq>,
    /// The shipped WAL objects' ranges: a flush records which ones it
    /// made redundant (`Manifest::wal_objects_from`).
    pub shipped: Arc<ShippedIndex>,
    /// How far the shipper got: with a retention window, a flush publishes
    /// only once its segment is shipped (the history needs every write).
    pub tail: Arc<WalTail>,
    /// Live snapshots and iterators: a flush keeps every version one of
    /// them can see, and drops the rest (write coalescing).
    pub snapshots: Arc<SnapshotRegistry>,
}

/// Flushes frozen memtables, oldest first, and tells waiters how far it got.
pub(crate) struct Flusher {
    wakeup: Wakeup,
    /// Highest memtable id flushed so far (`None`: none yet). Not a
    /// number starting at 0: a memtable replayed into a directory with no
    /// WAL segment (a fresh machine taking over) has id 0, and must not
    /// count as flushed before it is.
    flushed: watch::Sender<Option<u64>>,
    /// Chunk produced for each flushed memtable id (recent ones).
    produced: Mutex<BTreeMap<u64, ChunkId>>,
    deps: FlushDeps,
    listeners: FlushListeners,
}

impl Flusher {
    pub(crate) fn new(wakeup: Wakeup, deps: FlushDeps, listeners: FlushListeners) -> Flusher {
        Flusher {
            wakeup,
            flushed: watch::channel(None).0,
            produced: Mutex::new(BTreeMap::new()),
            deps,
            listeners,
        }
    }

    /// Runs until aborted: flushes the oldest frozen memtable whenever
    /// there is one.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            let oldest = self.deps.view.current().frozen.last().cloned();
            let Some(mem) = oldest else {
                self.wakeup.wait().await;
                continue;
            };
            if let Err(err) = self.flush_memtable(&mem).await {
                // Only permanent failures get here (fencing, a lost bucket,
                // a final answer from the store): stop writing, keep the WAL
                // for recovery.
                tracing::error!("flush of memtable {} stopped: {err}", mem.id);
                self.deps.health.fail(err);
                return;
            }
        }
    }

    /// Waits until memtable `target` and every older one are flushed.
    pub(crate) async fn wait_flushed(&self, target: u64) -> Result<()> {
        let mut rx = self.flushed.subscribe();
        let health = &self.deps.health;
        loop {
            if rx.borrow_and_update().is_some_and(|done| done >= target) {
                return Ok(());
            }
            if let Some(err) = health.stopped_error() {
                return Err(err);
            }
            if health.is_closing() {
                return Err(Error::Closed(None));
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(Error::Closed(None));
                    }
                }
                _ = health.wait_stopped() => {}
            }
        }
    }

    /// The chunks produced for memtables `from..=to`.
    pub(crate) fn produced_between(&self, from: u64, to: u64) -> Vec<ChunkId> {
        let produced = lock(&self.produced);
        produced.range(from..=to).map(|(_, id)| *id).collect()
    }

    async fn flush_memtable(&self, mem: &Arc<Memtable>) -> Result<()> {
        let Some((_, max_seq)) = mem.seq_range() else {
            self.finish(mem, None).await;
            return Ok(());
        };
        let opts = self.deps.chunk_options.clone();
        let source = mem.clone();
        // Every read from now on is at or above the visible seq: it counts
        // as a snapshot, next to the live ones.
        let readers = self
            .deps
            .snapshots
            .readers(firn_store::clock::now_ms(), self.deps.view.visible_seq());
        let (bytes, summary, dropped) =
            firn_store::clock::run_blocking(move || build_chunk(&source, opts, readers))
                .await
                .map_err(|e| Error::Background(format!("building a chunk: {e}")))??;
        self.deps
            .metrics
            .flush_entries_coalesced
            .fetch_add(dropped, Ordering::Relaxed);
        let id = self.deps.ids.allocate();
        let result = self
            .upload_and_publish(mem, id, bytes, summary, max_seq)
            .await;
        self.deps.ids.settle([id]);
        result
    }

    async fn upload_and_publish(
        &self,
        mem: &Arc<Memtable>,
        id: ChunkId,
        bytes: Bytes,
        summary: ChunkSummary,
        max_seq: u64,
    ) -> Result<()> {
        let d = &self.deps;
        let object = id.object_name();
        d.retry
            .until_done("chunk upload", || {
                upload_chunk(&d.chunks.store, &object, bytes.clone(), d.epoch)
            })
            .await?;

        let table = Arc::new(d.chunks.adopt_built(id, &bytes, &summary)?);
        let edit = ManifestEdit {
            add_l0: vec![table.meta.clone()],
            wal_watermark: Some(max_seq),
            next_chunk_id: Some(id.id + 1),
            wal_objects_from: d.shipped.first_needed(max_seq),
            add_totals: firn_manifest::Totals {
                flushes: 1,
                flush_bytes: summary.size,
                ..Default::default()
            },
            ..ManifestEdit::default()
        };

        if d.view.manifest().history_retention_ms > 0 {
            // Point-in-time restore replays the shipped WAL from a version's
            // watermark on: with history kept, no write goes into a chunk
            // before it is in the shipped WAL (so the watermark never passes
            // the end of the shipped chain, and an open ships from there).
            d.tail
                .wait_shipped_past(mem.id, || d.health.has_failed())
                .await;
            if !d.tail.is_shipped_past(mem.id) {
                return Err(d.health.stopped_error().unwrap_or_else(|| {
                    Error::Background("the WAL shipper stopped before the flush".into())
                }));
            }
        }
        crate::crash_point::crash_point("flush.before_publish");
        d.publisher
            .publish(edit, vec![table.clone()], Some(mem.id))
            .await?;
        d.durable.advance(max_seq);
        tracing::info!(
            memtable = mem.id,
            object = %table.object,
            entries = summary.properties.entries,
            bytes = summary.size,
            through_seq = max_seq,
            "flushed a memtable into a chunk"
        );
        // The WAL goes only if the bucket we published into still is the
        // database's: a wiped or replaced bucket takes the version with it.
        d.retry
            .until_done("bucket identity check", || self.check_bucket())
            .await?;
        if d.cache_flushed_blocks {
            d.chunks.cache_written_blocks(&table, bytes);
        }
        let m = &d.metrics;
        m.flushes.fetch_add(1, Ordering::Relaxed);
        m.flush_bytes.fetch_add(summary.size, Ordering::Relaxed);
        m.flush_entries
            .fetch_add(summary.properties.entries, Ordering::Relaxed);
        self.finish(mem, Some(id)).await;
        Ok(())
    }

    /// Checks that the bucket's identity object is still there (one HEAD).
    async fn check_bucket(&self) -> Result<()> {
        let store = &self.deps.chunks.store;
        match store.stat(firn_manifest::IDENTITY_OBJECT).await? {
            Some(_) => Ok(()),
            None => Err(Error::BucketLost {
                url: store.url().to_string(),
                missing: firn_manifest::IDENTITY_OBJECT.to_string(),
                wal: self.deps.wal_dir.display().to_string(),
                local: self.deps.local_dir.display().to_string(),
            }),
        }
    }

    /// After a memtable is in a published chunk (or was empty): drop its
    /// WAL segments, record progress, wake flush waiters, the compactor,
    /// the collector and stalled writers.
    async fn finish(&self, mem: &Memtable, chunk: Option<ChunkId>) {
        if chunk.is_none() {
            self.deps
                .view
                .update(|s| s.with_tables(s.tables.clone(), Some(mem.id)));
        }
        let wal_dir = self.deps.wal_dir.clone();
        let upto = mem.id;
        let cleanup =
            firn_store::clock::run_blocking(move || delete_segments_upto(&wal_dir, upto)).await;
        match cleanup {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("deleting flushed WAL segments: {e}"),
            Err(e) => tracing::warn!("deleting flushed WAL segments: {e}"),
        }
        if let Some(id) = chunk {
            let mut produced = lock(&self.produced);
            produced.insert(mem.id, id);
            while produced.len() > 4096 {
                produced.pop_first();
            }
        }
        self.flushed
            .send_modify(|v| *v = Some(v.map_or(mem.id, |done| done.max(mem.id))));
        self.listeners.compactor.wake();
        if chunk.is_some() {
            self.listeners.collector.wake();
        }
        self.listeners.room.release();
    }
}

/// Deletes WAL segments numbered `upto` or lower, then syncs the directory.
/// Newer segments were synced and the directory fsynced when they were created.
fn delete_segments_upto(dir: &std::path::Path, upto: u64) -> Result<()> {
    let mut deleted = false;
    for (n, path) in list_segments(dir)? {
        if n <= upto {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            deleted = true;
        }
    }
    if deleted {
        sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Encodes a memtable as one chunk.
/// Builds the chunk of memtable `mem`, coalescing writes: of each key's
/// versions only those a read can still see go in — the newest, and for
/// each sequence number in `readers` (live snapshots and iterators, and
/// every seq from the read history's floor on) the newest at or below it.
/// Tombstones that survive stay (they shadow older chunks). Returns the
/// chunk and how many versions were left out.
pub(crate) fn build_chunk(
    mem: &Memtable,
    opts: ChunkOptions,
    readers: Readers,
) -> Result<(Bytes, ChunkSummary, u64)> {
    let mut builder = ChunkBuilder::new(opts, Vec::with_capacity(mem.size() / 2 + 4096));
    let ranges = mem.range_tombstones();
    let mut filter = VersionFilter::new(readers, false).with_ranges(ranges.clone());
    let mut dropped = 0u64;
    let mut failed = None;
    mem.for_each(|k, v| {
        let (kind, value, meta): (Kind, &[u8], _) = match v {
            MemValue::Put(value, meta) => (
                Kind::Put,
                value,
                (*meta != firn_chunk::EntryMeta::default()).then_some(*meta),
            ),
            MemValue::Delete => (Kind::Delete, &[], None),
        };
        if !filter.keep(&k.key, k.seq, kind) {
            dropped += 1;
            return true;
        }
        match builder.add_with_meta(&k.key, k.seq, kind, value, meta) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(Error::Background(format!(
            "building a chunk from memtable {}: {e}",
            mem.id
        )));
    }
    if let Some(ranges) = ranges {
        // Every range delete stays: older chunks may hold keys it covers.
        builder
            .set_range_tombstones(ranges.as_ref().clone())
            .map_err(|e| {
                Error::Background(format!(
                    "adding the range deletes of memtable {}: {e}",
                    mem.id
                ))
            })?;
    }
    let (bytes, summary) = builder.finish().map_err(|e| {
        Error::Background(format!("finishing a chunk from memtable {}: {e}", mem.id))
    })?;
    Ok((Bytes::from(bytes), summary, dropped))
}

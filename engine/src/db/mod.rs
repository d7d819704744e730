//! The database handle: the public API, composed of the subsystems.
//!
//! ```text
//! Db ─► DbCore ─┬─ Reader         read view, chunk reader + caches, snapshots   (read/)
//!               ├─ Writer ─┬─ WritePath   checks, backpressure, commit path     (write/)
//!               │          └─ Background  flusher, compactor, collector,
//!               │                         manifest publisher                    (background/)
//!               ├─ Health         fatal error, upload status, closing
//!               └─ LocalDir       the writer lock on the local directory
//! ```
//!
//! A read-only handle has no `Writer`; it has a `Follower` that keeps its
//! read view current with the bucket. Subsystems never reach back into
//! `DbCore`: each owns its state and holds the few handles it talks to.

mod bucket_wal;
pub(crate) mod open;
mod replay;
pub(crate) mod snapshot;

use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use firn_manifest::{ChunkId, Manifest};

use crate::background::follower::{FollowStatus, Follower};
use crate::background::Background;
use crate::changes::{ChangeBuffer, Subscription};
use crate::error::{Error, Result};
use crate::health::Health;
use crate::local::LocalDir;
use crate::lock;
use crate::metrics::{DurabilityStatus, EngineMetrics, Metrics};
use crate::options::{Options, ReadOptions, WriteOptions};
use crate::read::iter::{prefix_successor, DbIterator};
use crate::read::view::ReadState;
use crate::read::{ReadPoint, Reader, Record};
use crate::signal::DurableSeq;
use crate::write::batch::WriteBatch;
use crate::write::ingest::{BulkIngest, IngestDeps, IngestReport};
use crate::write::WritePath;
use snapshot::Snapshot;

/// The subsystems of an open database.
pub(crate) struct DbCore {
    opts: Options,
    db_id: String,
    epoch: u64,
    reader: Reader,
    /// The last sequence number known to be in the bucket.
    durable: Arc<DurableSeq>,
    health: Arc<Health>,
    metrics: Arc<EngineMetrics>,
    /// `None` for a read-only handle.
    writer: Option<Writer>,
    /// A read-only handle's follower (`None` for a writer or a checkpoint).
    following: Option<Following>,
    /// The change feed's buffer (filled while anyone subscribes).
    changes: Arc<ChangeBuffer>,
    local: Mutex<Option<LocalDir>>,
}

/// A read-only handle's follower and its task.
pub(crate) struct Following {
    follower: Arc<Follower>,
    task: tokio::task::AbortHandle,
}

/// A writer's subsystems.
pub(crate) struct Writer {
    path: WritePath,
    background: Background,
    ingest: Arc<IngestDeps>,
}

impl DbCore {
    /// A snapshot of the counters (see [`Db::metrics`]).
    pub(crate) fn metrics(&self) -> Metrics {
        let reader = &self.reader;
        let chunks = &reader.chunks;
        let mut m = Metrics {
            requests: chunks.store.requests(),
            ..Metrics::default()
        };
        self.metrics.fill(&mut m);
        let (hits, misses) = chunks.cache.stats();
        m.block_cache_hits = hits;
        m.block_cache_misses = misses;
        m.block_cache_bytes = chunks.cache.used() as u64;
        m.cache = chunks.cache_counts();
        let state = reader.view.current();
        m.memtable_bytes = state.memtables().map(|t| t.size() as u64).sum();
        m.frozen_memtables = state.frozen.len() as u64;
        m.l0_chunks = state.tables.l0.len() as u64;
        m.run_chunks = state.tables.runs.iter().map(|r| r.len() as u64).sum();
        m.visible_seq = reader.view.visible_seq();
        m.sorted_runs = (state.tables.l0.len() + state.tables.runs.len()) as u64;
        let manifest = reader.view.manifest();
        m.manifest_version = manifest.version;
        m.chunks = manifest.all_chunks().count() as u64;
        m.chunk_bytes = manifest.all_chunks().map(|c| c.size).sum();
        m.compaction_pending_bytes = firn_compaction::plan(&manifest, &self.opts.compaction)
            .map_or(0, |plan| plan.input_bytes);
        m.request_cost_usd = self.opts.request_prices.cost(&m.requests);
        m
    }

    /// The last visible sequence number.
    pub(crate) fn visible_seq(&self) -> u64 {
        self.reader.view.visible_seq()
    }

    /// Whether this writer ships its WAL (`None`: a read-only handle).
    pub(crate) fn writer_ships(&self) -> Option<bool> {
        self.writer.as_ref().map(|_| self.opts.wal_shipping)
    }

    /// A watch of the shipped WAL from the write after `after`.
    pub(crate) async fn watch_shipped(&self, after: u64) -> Result<crate::Watch> {
        let manifest = self.reader.view.manifest();
        crate::Watch::start(
            self.reader.chunks.store.clone(),
            after,
            manifest.wal_watermark,
            manifest.wal_objects_from,
            self.opts.follow_interval,
        )
        .await
    }

    /// A writer ships every write through `seq` (and returns true); a
    /// read-only handle has nothing to ship (false).
    pub(crate) async fn ship_through(&self, seq: u64) -> Result<bool> {
        match &self.writer {
            Some(writer) => writer.path.wait_durable(seq).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// The writer's subsystems, or why writes are refused.
    fn writer(&self) -> Result<&Writer> {
        let writer = self.writer.as_ref().ok_or(Error::ReadOnly)?;
        self.health.check_writable()?;
        Ok(writer)
    }

    /// Stops everything that writes: background tasks and the WAL.
    fn shut_down(&self) {
        self.health.set_closing();
        self.changes.close();
        if let Some(f) = &self.following {
            f.task.abort();
        }
        if let Some(w) = &self.writer {
            w.background.stop();
            w.path.commit.close_wal();
        }
    }
}

/// How long `close()` waits for aborted background writes to finish.
const CLOSE_QUIESCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends background work and releases the writer lock when the last handle
/// goes away without `close()`: the same as a crash, which recovery handles.
pub(crate) struct HandleGuard {
    core: Arc<DbCore>,
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        self.core.shut_down();
        lock(&self.core.local).take();
    }
}

/// An open Firn database. Cheap to clone; all clones share one database.
///
/// All methods are async and their futures are `Send`; see
/// [`blocking::Db`](crate::blocking::Db) for callers outside a runtime.
#[derive(Clone)]
pub struct Db {
    core: Arc<DbCore>,
    _guard: Arc<HandleGuard>,
}

impl Db {
    /// Opens (or creates) the database named by `opts.url` with local state
    /// in `opts.local_dir`. See [`Options`].
    pub async fn open(opts: Options) -> Result<Db> {
        open::open(opts).await
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch).await.map(|_| ())
    }

    /// Sets `key` to `value` until `ttl` after the write commits (whole
    /// milliseconds, at most [`MAX_TTL`](crate::MAX_TTL)); from then on
    /// every read finds the key absent, and compaction drops it.
    pub async fn put_with_ttl(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_with_ttl(key, value, ttl);
        self.write(batch).await.map(|_| ())
    }

    /// Removes `key`.
    pub async fn delete(&self, key: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch).await.map(|_| ())
    }

    /// Removes every key in `start..end` (start included, end excluded):
    /// one WAL record and one seq, however many keys the range holds.
    /// Reads at or after it find none of them; compaction drops them.
    /// `start` must sort before `end`.
    pub async fn delete_range(&self, start: impl Into<Bytes>, end: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_range(start, end);
        self.write(batch).await.map(|_| ())
    }

    /// Applies `batch` atomically with the default durability. Returns the
    /// sequence number of its last op.
    pub async fn write(&self, batch: WriteBatch) -> Result<u64> {
        self.write_with(batch, WriteOptions::default()).await
    }

    /// Applies `batch` atomically with the given options.
    pub async fn write_with(&self, batch: WriteBatch, opts: WriteOptions) -> Result<u64> {
        self.core.writer()?.path.write(batch, opts).await
    }

    /// The newest value of `key`, or `None`.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let at = self.core.reader.point();
        self.core.reader.get_at(key.as_ref(), at).await
    }

    /// The newest value of `key` with its sequence number, write time and
    /// expiry, or `None`.
    pub async fn get_with_meta(&self, key: impl AsRef<[u8]>) -> Result<Option<Record>> {
        let at = self.core.reader.point();
        self.core.reader.get_record_at(key.as_ref(), at).await
    }

    /// The value of `key` as `opts` asks (see [`ReadOptions`]).
    pub async fn get_with(
        &self,
        key: impl AsRef<[u8]>,
        opts: ReadOptions,
    ) -> Result<Option<Bytes>> {
        let at = self.read_point(opts);
        self.core.reader.get_at(key.as_ref(), at).await
    }

    /// Scans `range` as `opts` asks (see [`ReadOptions`]).
    pub fn scan_with<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        opts: ReadOptions,
    ) -> Result<DbIterator> {
        self.scan_at(range, self.read_point(opts))
    }

    /// A snapshot as `opts` asks: with `bucket_durable_only`, at the last
    /// write in the bucket.
    pub fn snapshot_with(&self, opts: ReadOptions) -> Snapshot {
        self.snapshot_of(self.read_point(opts))
    }

    /// Where a read with `opts` reads.
    fn read_point(&self, opts: ReadOptions) -> ReadPoint {
        let mut at = self.core.reader.point();
        if opts.bucket_durable_only {
            at.seq = self.core.durable.get().min(at.seq);
        }
        at
    }

    /// A snapshot at `at`. On a read-only handle it keeps `at`'s state: a
    /// follower swaps in newer manifests, whose chunks may lack versions
    /// older than their watermark. A writer's compaction keeps the versions
    /// its snapshots need, so its snapshots read the current state.
    fn snapshot_of(&self, at: ReadPoint) -> Snapshot {
        let pin = self.core.reader.snapshots.pin(at.seq);
        let state = self.core.writer.is_none().then_some(at.state);
        Snapshot::new(self.clone(), pin, state)
    }

    /// Where a snapshot with `seq` (and `state`, if it kept one) reads.
    pub(crate) fn point_at(&self, seq: u64, state: Option<&Arc<ReadState>>) -> ReadPoint {
        ReadPoint {
            state: state
                .cloned()
                .unwrap_or_else(|| self.core.reader.view.current()),
            seq,
        }
    }

    pub(crate) async fn get_point(&self, key: &[u8], at: ReadPoint) -> Result<Option<Bytes>> {
        self.core.reader.get_at(key, at).await
    }

    /// Reads many keys in one call: `result[i]` is the value of `keys[i]`
    /// (`None` if absent), all at one consistent sequence number. Blocks
    /// several keys share are fetched once; distinct blocks are fetched in
    /// parallel.
    pub async fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        let at = self.core.reader.point();
        self.multi_get_at(keys, at).await
    }

    pub(crate) async fn multi_get_at<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        at: ReadPoint,
    ) -> Result<Vec<Option<Bytes>>> {
        self.core.reader.multi_get_at(keys, at).await
    }

    /// The value of `key` as of sequence number `seq`: what a read at the
    /// moment `seq` was the last committed write returned. `seq` may be
    /// anything from [`Db::oldest_readable_seq`] to the last committed
    /// write, or the seq of a live snapshot, else [`Error::SeqOutOfRange`](crate::Error::SeqOutOfRange);
    /// [`Options::read_history`](crate::Options::read_history) keeps older
    /// seqs readable.
    pub async fn get_at(&self, key: impl AsRef<[u8]>, seq: u64) -> Result<Option<Bytes>> {
        self.snapshot_at(seq)?.get(key).await
    }

    /// A snapshot at an older sequence number (see [`Db::get_at`] for
    /// which): every read through it sees exactly the writes up to `seq`,
    /// and it keeps what it reads until it is dropped, like
    /// [`Db::snapshot`].
    pub fn snapshot_at(&self, seq: u64) -> Result<Snapshot> {
        let at = self.core.reader.point();
        let registry = &self.core.reader.snapshots;
        // A read-only handle reads chunks the writer compacted with its own
        // readers: exact from the manifest's watermark on.
        let watermark = match self.core.writer {
            Some(_) => 0,
            None => at.state.tables.manifest.wal_watermark,
        };
        if seq < watermark {
            return Err(crate::Error::SeqOutOfRange {
                seq,
                oldest: watermark.max(registry.floor()),
                newest: at.seq,
            });
        }
        let pin = registry.pin_readable(seq, at.seq)?;
        let state = self.core.writer.is_none().then_some(at.state);
        Ok(Snapshot::new(self.clone(), pin, state))
    }

    /// The oldest sequence number [`Db::get_at`] and [`Db::snapshot_at`]
    /// accept now (it only rises: with
    /// [`Options::read_history`](crate::Options::read_history), it trails
    /// the writes by that window).
    pub fn oldest_readable_seq(&self) -> u64 {
        let floor = self.core.reader.snapshots.floor();
        match self.core.writer {
            Some(_) => floor,
            None => floor.max(self.core.reader.view.manifest().wal_watermark),
        }
    }

    /// A consistent view at the current sequence number.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_of(self.core.reader.point())
    }

    /// Scans `range` (e.g. `b"a".to_vec()..b"m".to_vec()` or `..`) in key order.
    pub fn scan<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<DbIterator> {
        self.scan_at(range, self.core.reader.point())
    }

    /// Scans every key that starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<DbIterator> {
        self.scan_prefix_at(prefix.as_ref(), self.core.reader.point())
    }

    pub(crate) fn scan_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        at: ReadPoint,
    ) -> Result<DbIterator> {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
            Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        let (start, end) = (own(range.start_bound()), own(range.end_bound()));
        Ok(self.core.reader.iter_between(start, end, at))
    }

    pub(crate) fn scan_prefix_at(&self, prefix: &[u8], at: ReadPoint) -> Result<DbIterator> {
        let start = Bound::Included(Bytes::copy_from_slice(prefix));
        let end = match prefix_successor(prefix) {
            Some(end) => Bound::Excluded(Bytes::from(end)),
            None => Bound::Unbounded,
        };
        Ok(self.core.reader.iter_between(start, end, at))
    }

    /// Freezes the active memtable and waits until every frozen memtable is
    /// in a chunk published in the manifest. Returns the new chunks' ids.
    pub async fn flush(&self) -> Result<Vec<ChunkId>> {
        let writer = self.core.writer()?;
        let view = &self.core.reader.view;
        let first_pending = view.current().frozen.last().map(|m| m.id);
        let rotated = writer.path.commit.rotate()?;
        let Some(target) = rotated.or_else(|| view.current().frozen.first().map(|m| m.id)) else {
            return Ok(Vec::new());
        };
        let flusher = &writer.background.flusher;
        flusher.wait_flushed(target).await?;
        Ok(flusher.produced_between(first_pending.unwrap_or(target), target))
    }

    /// Starts a bulk ingest: sorted entries go straight into chunks (no WAL,
    /// no memtable) and [`BulkIngest::finish`] publishes them with one
    /// manifest edit at one new sequence number, above every write before
    /// it: reads see all of it or none, and it overrides every older version
    /// of its keys. Writes made while it builds go on; they wait only for
    /// the final publish (see [`BulkIngest`]). Only the writer ingests.
    pub fn bulk_ingest(&self) -> Result<BulkIngest> {
        let writer = self.core.writer()?;
        Ok(BulkIngest::new(writer.ingest.clone()))
    }

    /// Ingests `entries` (key, value), in strictly increasing key order, with
    /// [`Db::bulk_ingest`]: all of them or, on error, none.
    pub async fn ingest<K, V, I>(&self, entries: I) -> Result<IngestReport>
    where
        K: Into<Bytes>,
        V: Into<Bytes>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut ingest = self.bulk_ingest()?;
        for (k, v) in entries {
            ingest.put(k, v).await?;
        }
        ingest.finish().await
    }

    /// Flushes the memtables, then merges every chunk into one sorted run,
    /// dropping overwritten versions and tombstones that no live snapshot
    /// needs, and waits for it. Background compaction pauses meanwhile.
    pub async fn compact(&self) -> Result<()> {
        let writer = self.core.writer()?;
        self.flush().await?;
        writer.background.compactor.compact_all().await?;
        Ok(())
    }

    /// Runs one garbage-collection pass with the given grace period (see
    /// [`Options::gc_grace`]): deletes chunks and manifest versions that
    /// dropped out of the database longer ago than `grace`, and orphaned
    /// uploads. Only the writer collects.
    pub async fn gc(&self, grace: std::time::Duration) -> Result<crate::GcReport> {
        let writer = self.core.writer()?;
        writer.background.collector.collect(grace).await
    }

    /// Flushes the memtables and pins the resulting manifest version as the
    /// checkpoint `name` (an object under `checkpoints/`). GC keeps
    /// everything it references until it is deleted; open it read-only with
    /// [`Options::checkpoint`].
    pub async fn checkpoint(&self, name: &str) -> Result<crate::Checkpoint> {
        crate::checkpoint::validate_name(name)?;
        let writer = self.core.writer()?;
        self.flush().await?;
        let _no_publish = writer.background.publisher.hold().await;
        let manifest = self.manifest();
        let checkpoint = crate::Checkpoint {
            name: name.to_string(),
            db_id: manifest.db_id,
            manifest_version: manifest.version,
            created_at_ms: firn_store::clock::now_ms(),
        };
        let object = crate::checkpoint::checkpoint_object(name);
        let bytes = Bytes::from(crate::checkpoint::encode(&checkpoint)?);
        match self.object_store().put_if_absent(&object, bytes).await? {
            firn_store::PutOutcome::Created => Ok(checkpoint),
            firn_store::PutOutcome::AlreadyExists => Err(Error::InvalidArgument(format!(
                "checkpoint {name:?} already exists ({object}); delete it first or pick another name"
            ))),
        }
    }

    /// Every checkpoint of the database, by name.
    pub async fn list_checkpoints(&self) -> Result<Vec<crate::Checkpoint>> {
        crate::checkpoint::list(self.object_store()).await
    }

    /// Deletes the checkpoint `name`; what only it kept alive becomes
    /// garbage after the grace period.
    pub async fn delete_checkpoint(&self, name: &str) -> Result<()> {
        crate::checkpoint::validate_name(name)?;
        let writer = self.core.writer()?;
        let object = crate::checkpoint::checkpoint_object(name);
        let store = self.object_store();
        if store.stat(&object).await?.is_none() {
            return Err(Error::InvalidArgument(format!(
                "no checkpoint named {name:?}"
            )));
        }
        store.delete(&object).await?;
        writer.background.collector.wake();
        Ok(())
    }

    /// Creates at `url` (an empty location on the same object store: another
    /// prefix or bucket) a zero-copy clone of this database: a new database
    /// whose first manifest references this one's chunks where they are,
    /// pinned here by the checkpoint `clone-<clone id>` until the clone no
    /// longer needs them (see [`crate::clone_database`]). A writer flushes
    /// first and clones the version that flush published; a read-only handle
    /// clones the version it reads (with the shipped WAL above it, unless it
    /// is a checkpoint).
    pub async fn clone_into(&self, url: &str) -> Result<crate::CloneReport> {
        let src = self.object_store();
        let dest = firn_store::ObjectStore::from_url_with(url, src.options())
            .map_err(|e| Error::InvalidArgument(format!("the clone's location: {e}")))?;
        match &self.core.writer {
            Some(writer) => {
                self.core.health.check_writable()?;
                self.flush().await?;
                // No publish may supersede the version while it is pinned.
                let _no_publish = writer.background.publisher.hold().await;
                let wal = crate::clone::CloneWal::Empty;
                crate::clone::clone_at(src, &dest, &self.manifest(), wal, false).await
            }
            None => {
                let wal = match self.core.following {
                    Some(_) => crate::clone::CloneWal::FromSource,
                    None => crate::clone::CloneWal::Empty,
                };
                crate::clone::clone_at(src, &dest, &self.manifest(), wal, false).await
            }
        }
    }

    /// Sets the database's retention window for point-in-time restore (zero
    /// turns it off; off by default). It is recorded in the manifest, so
    /// every later writer honours it: garbage collection keeps every
    /// manifest version superseded within the window, the chunks those
    /// reference, and the shipped WAL flushed within it, so
    /// [`crate::restore_database`] can rebuild any point inside. The bucket
    /// then holds about a window's worth of rewritten chunks and WAL. A
    /// window needs WAL shipping (`Options::wal_shipping`, on by default):
    /// restore replays the shipped WAL.
    pub async fn set_history_retention(&self, window: std::time::Duration) -> Result<()> {
        let writer = self.core.writer()?;
        if !window.is_zero() && !self.core.opts.wal_shipping {
            return Err(Error::InvalidArgument(
                "a retention window needs WAL shipping (Options::wal_shipping): point-in-time \
                 restore replays the shipped WAL, and this writer does not ship"
                    .into(),
            ));
        }
        let ms = u64::try_from(window.as_millis()).map_err(|_| {
            Error::InvalidArgument(format!("a retention window of {window:?} is too long"))
        })?;
        let edit = firn_manifest::ManifestEdit {
            history_retention_ms: Some(ms),
            ..Default::default()
        };
        writer
            .background
            .publisher
            .publish(edit, Vec::new(), None)
            .await?;
        writer.background.collector.wake();
        Ok(())
    }

    /// The database's retention window for point-in-time restore (zero:
    /// off), as of the manifest version this handle reads.
    pub fn history_retention(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.manifest().history_retention_ms)
    }

    /// Flushes memtables (unless `Options::flush_on_close` is off), stops
    /// background work and releases the local directory. If the flush fails
    /// or misses `Options::close_timeout`, returns the error and keeps the
    /// WAL, so nothing acknowledged is lost: the next open replays it.
    pub async fn close(self) -> Result<()> {
        let core = self.core.clone();
        let mut result = Ok(());
        if let (Some(writer), false) = (&core.writer, core.health.has_failed()) {
            if core.opts.flush_on_close {
                let after = core.opts.close_timeout;
                result = match tokio::time::timeout(after, self.flush()).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(Error::Closed(Some(Arc::new(Error::CloseTimeout {
                        after,
                        last_error: core.health.store_error(),
                    })))),
                };
            }
            if let Err(e) = writer.path.commit.sync_wal() {
                result = result.and(Err(e));
            }
        }
        // No background task runs past here: in particular the shipper
        // ships nothing after the clean-close version below records which
        // shipped objects an open still needs.
        if let Some(writer) = &core.writer {
            writer.background.stop_and_wait().await;
            if result.is_ok() && !core.health.has_failed() {
                mark_closed_cleanly(&core, writer).await;
            }
        }
        core.shut_down();
        // An aborted task's local-file write (a chunk, a manifest version)
        // still runs to its end: wait for it, so nothing lands after close.
        if !self.object_store().quiesce(CLOSE_QUIESCE).await {
            tracing::warn!("close: object-store writes still running after {CLOSE_QUIESCE:?}");
        }
        // Nor in the local directory: background disk-cache writes stop.
        if !core.reader.chunks.quiesce_local_writes(CLOSE_QUIESCE).await {
            tracing::warn!("close: disk-cache writes still running after {CLOSE_QUIESCE:?}");
        }
        lock(&core.local).take();
        if let Some(err) = core.health.stopped_error() {
            result = result.and(Err(err));
        }
        result
    }

    /// A copy of the counters, including object-store requests.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// A [`prometheus`] collector of this database's [`Metrics`], to
    /// register with the embedding service's registry, with `const_labels`
    /// on every series (e.g. `&[("db", "orders")]` to tell databases apart;
    /// `&[]` for none). An invalid label name is [`Error::InvalidArgument`].
    /// See [`PrometheusCollector`](crate::PrometheusCollector).
    pub fn prometheus_collector(
        &self,
        const_labels: &[(&str, &str)],
    ) -> Result<crate::PrometheusCollector> {
        crate::PrometheusCollector::new(Arc::downgrade(&self.core), const_labels)
    }

    /// The manifest version this handle reads from.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.core.reader.view.manifest()
    }

    /// The database's id (a UUID).
    pub fn id(&self) -> &str {
        &self.core.db_id
    }

    /// The writer epoch of this handle (0 for a read-only handle).
    pub fn epoch(&self) -> u64 {
        self.core.epoch
    }

    /// The object store this database lives in (for tools: chunk-dump, verify).
    pub fn object_store(&self) -> &firn_store::ObjectStore {
        &self.core.reader.chunks.store
    }

    /// The last problem the background uploader hit, while it is retrying
    /// (the object store is slow or down), or the permanent error that
    /// stopped it; `None` when uploads are healthy.
    pub fn upload_status(&self) -> Option<String> {
        self.core.health.store_error()
    }

    /// How far writes have got: visible, synced locally, in the bucket, and
    /// the age of the oldest write not yet in the bucket.
    pub fn durability_status(&self) -> DurabilityStatus {
        let visible_seq = self.core.reader.view.visible_seq();
        let bucket_durable_seq = self.core.durable.get().min(visible_seq);
        let Some(writer) = &self.core.writer else {
            return DurabilityStatus {
                visible_seq,
                local_synced_seq: visible_seq,
                bucket_durable_seq,
                oldest_unshipped_ms: None,
            };
        };
        let tail = &writer.path.bucket.tail;
        let oldest_unshipped_ms = (bucket_durable_seq < visible_seq)
            .then(|| tail.oldest_unshipped())
            .flatten()
            .map(|t| t.elapsed().as_millis() as u64);
        DurabilityStatus {
            visible_seq,
            local_synced_seq: tail.synced_seq().min(visible_seq),
            bucket_durable_seq,
            oldest_unshipped_ms,
        }
    }

    /// Brings a read-only handle up to date now: applies every shipped WAL
    /// object the writer has added and follows the manifest to its newest
    /// version (a read-only handle also does this by itself every
    /// `refresh_interval`, a follower every `follow_interval`). A writer is
    /// always current: nothing to do.
    pub async fn refresh(&self) -> Result<()> {
        match &self.core.following {
            Some(f) => f.follower.poll_now(true).await,
            None => Ok(()),
        }
    }

    /// A read-only handle's progress in following the bucket: its applied
    /// sequence number and lag. `None` for a writer (or a checkpoint).
    pub fn follow_status(&self) -> Option<FollowStatus> {
        self.core.following.as_ref().map(|f| f.follower.status())
    }

    /// Watches the database's changes: a [`Watch`](crate::Watch) returns
    /// every batch the writer ships after sequence number `after` (`None`:
    /// after the newest write in the bucket now), in order, reading the
    /// shipped WAL as a follower does — polling every `poll_interval` with
    /// one GET. Fails when the shipped WAL no longer holds the writes right
    /// after `after` (flushed and collected: see `Options::wal_retention`).
    pub async fn watch(
        &self,
        after: Option<u64>,
        poll_interval: std::time::Duration,
    ) -> Result<crate::Watch> {
        let after = after.unwrap_or_else(|| self.durability_status().bucket_durable_seq);
        let manifest = self.manifest();
        crate::Watch::start(
            self.object_store().clone(),
            after,
            manifest.wal_watermark,
            manifest.wal_objects_from,
            poll_interval,
        )
        .await
    }

    /// A change feed: every committed batch from the one holding write
    /// `from_seq` on (all of them: `1`; only new ones:
    /// `visible_seq + 1` from [`Db::durability_status`]), in sequence
    /// order, each exactly once, as it becomes visible. On a read-only
    /// handle that follows, the batches it applies from the shipped WAL.
    ///
    /// To resume after a restart, save [`Subscription::position`] (or the
    /// last [`Change::last_seq`](crate::Change) handled) and subscribe from
    /// the seq after it. Recent batches come from a buffer in memory shared
    /// by all subscribers (`Options::change_buffer_bytes`); older ones from
    /// the shipped WAL in the bucket, which holds every write under a
    /// history retention window ([`Db::set_history_retention`]; without
    /// one, writes flushed before they were shipped are not there); past
    /// that the subscriber gets [`Error::Lagged`]. A bulk ingest appears as one
    /// [`Change::is_ingest`](crate::Change::is_ingest) batch at its seq.
    pub fn subscribe(&self, from_seq: u64) -> Subscription {
        Subscription::new(self.core.clone(), self.core.changes.clone(), from_seq)
    }

    /// Waits until every write through `seq` is in the bucket (shipped in a
    /// WAL object, or flushed), asking the shipper to ship now; it does not
    /// force a memtable flush. Needs WAL shipping unless `seq` is flushed
    /// already. Fails if the database stops first (fenced: the write may
    /// never reach the bucket).
    pub async fn wait_durable(&self, seq: u64) -> Result<()> {
        match &self.core.writer {
            Some(writer) => writer.path.wait_durable(seq).await,
            None if self.core.durable.get() >= seq => Ok(()),
            None => Err(Error::ReadOnly),
        }
    }

    /// Bytes of the active WAL segment that are on stable storage, with the
    /// segment number: what survives a power loss right now.
    pub fn wal_synced_position(&self) -> Option<(u64, u64)> {
        let writer = self.core.writer.as_ref()?;
        writer.path.commit.wal_synced_position()
    }
}

/// After a successful final flush: stops accepting writes and, if every
/// write this writer acknowledged is in the bucket, publishes that it closed
/// cleanly ([`Manifest::writer_clean`]), so the next writer to claim the
/// database records no fence for this directory. Best effort: without the
/// mark, the next claim records a fence whose watermark covers every write,
/// and this directory opens again all the same.
async fn mark_closed_cleanly(core: &DbCore, writer: &Writer) {
    core.health.set_closing();
    // No commit can append after this.
    let last_seq = writer.path.commit.close_wal();
    let manifest = core.reader.view.manifest();
    if manifest.writer_clean || last_seq > manifest.wal_watermark || manifest.epoch != core.epoch {
        return;
    }
    // Objects the shipper sent after the last flush hold only writes at or
    // below the watermark: an open need not read them.
    let wal_objects_from = writer
        .background
        .shipper
        .as_ref()
        .and_then(|s| s.index().first_needed(manifest.wal_watermark));
    let edit = firn_manifest::ManifestEdit {
        writer_clean: true,
        wal_objects_from,
        ..Default::default()
    };
    let publish = writer.background.publisher.publish(edit, Vec::new(), None);
    match tokio::time::timeout(core.opts.close_timeout, publish).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("close: could not mark the writer closed cleanly: {e}"),
        Err(_) => tracing::warn!("close: marking the writer closed cleanly timed out"),
    }
}

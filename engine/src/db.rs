//! The database handle and its public API.

use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use firn_chunk::Kind;
use firn_manifest::{ChunkId, Manifest, ManifestStore};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::batch::WriteBatch;
use crate::commit::{self, CommitPath};
use crate::error::{Error, Result};
use crate::iter::{prefix_successor, DbIterator};
use crate::local::LocalDir;
use crate::memtable::MemValue;
use crate::metrics::{EngineMetrics, Metrics};
use crate::options::{Durability, Options, WriteOptions};
use crate::snapshot::{Snapshot, SnapshotRegistry};
use crate::state::ReadState;
use crate::table::{run_table_for, ChunkStore};

/// Shared state behind every [`Db`] handle and the background tasks.
pub(crate) struct DbInner {
    pub opts: Options,
    pub read_only: bool,
    pub epoch: u64,
    pub db_id: String,
    pub wal_dir: PathBuf,
    pub chunks: Arc<ChunkStore>,
    pub manifests: ManifestStore,
    pub state: RwLock<Arc<ReadState>>,
    pub visible_seq: AtomicU64,
    pub next_chunk_id: AtomicU64,
    pub commit: CommitPath,
    pub metrics: EngineMetrics,
    pub snapshots: Arc<SnapshotRegistry>,
    /// Wakes the flusher when a memtable is frozen.
    pub flush_wakeup: Notify,
    /// Wakes writers stalled on backpressure when a flush completes.
    pub backpressure: Notify,
    /// Highest memtable id flushed so far.
    pub flushed: watch::Sender<u64>,
    /// Chunk produced for each flushed memtable id (recent ones).
    pub produced: Mutex<std::collections::BTreeMap<u64, ChunkId>>,
    /// Serialises manifest publishes and table-set swaps.
    pub publish_lock: tokio::sync::Mutex<()>,
    /// Wakes the compactor (after flushes and finished compactions).
    pub compaction_wakeup: Notify,
    /// Wakes waiters when a compaction finishes.
    pub compaction_done: Notify,
    /// Set while a full compaction waits for or runs alone.
    pub compaction_paused: AtomicBool,
    /// Plans being carried out.
    pub running_compactions: Mutex<Vec<firn_compaction::CompactionPlan>>,
    /// Serialises full compactions.
    pub full_compaction: tokio::sync::Mutex<()>,
    /// Serialises GC passes and remembers what they learned.
    pub gc_state: tokio::sync::Mutex<crate::gc::GcState>,
    /// Wakes the collector after manifest changes.
    pub gc_wakeup: Notify,
    /// GC work not yet recorded in the manifest's totals: it rides along
    /// with the next flush or compaction publish (GC publishes nothing).
    pub pending_totals: Mutex<firn_manifest::Totals>,
    /// Chunk ids allocated whose upload or publish is still under way.
    pub inflight_chunks: Mutex<std::collections::HashSet<ChunkId>>,
    pub closing: AtomicBool,
    pub fatal: Mutex<Option<Error>>,
    pub store_error: Mutex<Option<String>>,
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
    pub local: Mutex<Option<LocalDir>>,
}

impl DbInner {
    pub(crate) fn state(&self) -> Arc<ReadState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Atomically replaces the read state with `f(current)`.
    pub(crate) fn update_state(&self, f: impl FnOnce(&ReadState) -> ReadState) {
        let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
        let next = f(&guard);
        *guard = Arc::new(next);
    }

    /// Why the database stopped accepting writes, if it did.
    pub(crate) fn fatal_reason(&self) -> Option<String> {
        lock(&self.fatal).as_ref().map(|e| e.to_string())
    }

    /// The error writers get once the database stopped.
    fn fatal_error(&self) -> Option<Error> {
        lock(&self.fatal)
            .as_ref()
            .map(|e| fenced_copy(e).unwrap_or_else(|| Error::Closed(Some(e.to_string()))))
    }

    pub(crate) fn set_fatal(&self, reason: String) {
        self.set_fatal_error(&Error::Background(reason));
    }

    pub(crate) fn set_fatal_error(&self, err: &Error) {
        {
            let mut fatal = lock(&self.fatal);
            if fatal.is_none() {
                *fatal = Some(fenced_copy(err).unwrap_or_else(|| match err {
                    Error::Background(msg) => Error::Background(msg.clone()),
                    other => Error::Background(other.to_string()),
                }));
            }
        }
        self.flushed.send_modify(|_| {});
        self.backpressure.notify_waiters();
    }

    pub(crate) fn note_store_error(&self, msg: String) {
        *lock(&self.store_error) = Some(msg);
    }

    pub(crate) fn clear_store_error(&self) {
        lock(&self.store_error).take();
    }

    pub(crate) fn record_flushed_chunk(&self, memtable: u64, chunk: ChunkId) {
        let mut produced = lock(&self.produced);
        produced.insert(memtable, chunk);
        while produced.len() > 4096 {
            produced.pop_first();
        }
    }

    /// A new chunk id of this writer's epoch, registered as in flight so
    /// GC leaves its object alone until [`DbInner::settle_chunks`].
    pub(crate) fn allocate_chunk_id(&self) -> ChunkId {
        let id = ChunkId {
            epoch: self.epoch,
            id: self.next_chunk_id.fetch_add(1, Ordering::Relaxed),
        };
        lock(&self.inflight_chunks).insert(id);
        id
    }

    /// Ends the in-flight state of chunks (published, or abandoned to GC).
    pub(crate) fn settle_chunks(&self, ids: impl IntoIterator<Item = ChunkId>) {
        let mut inflight = lock(&self.inflight_chunks);
        for id in ids {
            inflight.remove(&id);
        }
    }

    /// `own` plus the GC totals waiting to be recorded.
    pub(crate) fn totals_with_pending(&self, own: firn_manifest::Totals) -> firn_manifest::Totals {
        let mut totals = std::mem::take(&mut *lock(&self.pending_totals));
        totals.add(&own);
        totals
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if let Some(err) = self.fatal_error() {
            return Err(err);
        }
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::Closed(None));
        }
        Ok(())
    }

    /// Waits while too many frozen memtables await upload.
    async fn wait_for_room(&self) -> Result<()> {
        let mut stalled: Option<Instant> = None;
        loop {
            let notified = self.backpressure.notified();
            let state = self.state();
            let l0_full = self.opts.compaction.auto_compaction
                && state.tables.l0.len() >= self.opts.l0_stop_writes;
            if state.frozen.len() < self.opts.max_frozen_memtables && !l0_full {
                break;
            }
            self.check_writable()?;
            stalled.get_or_insert_with(Instant::now);
            notified.await;
        }
        if let Some(t) = stalled {
            self.metrics.write_stalls.fetch_add(1, Ordering::Relaxed);
            let nanos = t.elapsed().as_nanos() as u64;
            self.metrics
                .write_stall_nanos
                .fetch_add(nanos, Ordering::Relaxed);
        }
        Ok(())
    }

    fn stop_tasks(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// How long `close()` waits for aborted background writes to finish.
const CLOSE_QUIESCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends background work and releases the writer lock when the last handle
/// goes away without `close()`: the same as a crash, which recovery handles.
pub(crate) struct HandleGuard {
    pub inner: Arc<DbInner>,
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::Release);
        self.inner.stop_tasks();
        lock(&self.inner.commit.log).wal = None;
        lock(&self.inner.local).take();
    }
}

/// An open Firn database. Cheap to clone; all clones share one database.
///
/// All methods are async and their futures are `Send`; see
/// [`blocking::Db`](crate::blocking::Db) for callers outside a runtime.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<DbInner>,
    pub(crate) _guard: Arc<HandleGuard>,
}

impl Db {
    /// Opens (or creates) the database named by `opts.url` with local state
    /// in `opts.local_dir`. See [`Options`].
    pub async fn open(opts: Options) -> Result<Db> {
        crate::open::open(opts).await
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch).await.map(|_| ())
    }

    /// Removes `key`.
    pub async fn delete(&self, key: impl Into<Bytes>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch).await.map(|_| ())
    }

    /// Applies `batch` atomically with the default durability. Returns the
    /// sequence number of its last op.
    pub async fn write(&self, batch: WriteBatch) -> Result<u64> {
        self.write_with(batch, WriteOptions::default()).await
    }

    /// Applies `batch` atomically with the given options.
    pub async fn write_with(&self, batch: WriteBatch, opts: WriteOptions) -> Result<u64> {
        let inner = &self.inner;
        inner.check_writable()?;
        batch.validate(inner.opts.max_key_size, inner.opts.max_value_size)?;
        inner.wait_for_room().await?;
        let sync = opts.durability.unwrap_or(inner.opts.durability) == Durability::Sync;
        commit::commit(inner, batch, sync).await
    }

    /// The newest value of `key`, or `None`.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let seq = self.inner.visible_seq.load(Ordering::Acquire);
        self.get_at(key.as_ref(), seq).await
    }

    pub(crate) async fn get_at(&self, key: &[u8], seq: u64) -> Result<Option<Bytes>> {
        self.check_key(key)?;
        let inner = &self.inner;
        inner.metrics.gets.fetch_add(1, Ordering::Relaxed);
        let state = inner.state();
        for mem in state.memtables().filter(|m| !m.is_empty()) {
            if let Some((_, v)) = mem.get(key, seq) {
                return Ok(match v {
                    MemValue::Put(v) => Some(v),
                    MemValue::Delete => None,
                });
            }
        }
        let visible = |hit: Option<(u64, Kind, Bytes)>| {
            hit.map(|(_, kind, v)| (kind == Kind::Put).then_some(v))
        };
        for table in &state.tables.l0 {
            if let Some(found) = visible(inner.chunks.get(table, key, seq).await?) {
                return Ok(found);
            }
        }
        for run in &state.tables.runs {
            if let Some(table) = run_table_for(run, key) {
                if let Some(found) = visible(inner.chunks.get(table, key, seq).await?) {
                    return Ok(found);
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidArgument("empty keys are not allowed".into()));
        }
        let max = self.inner.opts.max_key_size;
        if key.len() > max {
            return Err(Error::InvalidArgument(format!(
                "key of {} bytes exceeds the key size limit of {max} bytes (Options::max_key_size)",
                key.len()
            )));
        }
        Ok(())
    }

    /// A consistent view at the current sequence number.
    pub fn snapshot(&self) -> Snapshot {
        let seq = self.inner.visible_seq.load(Ordering::Acquire);
        Snapshot::new(self.clone(), self.inner.snapshots.pin(seq))
    }

    /// Scans `range` (e.g. `b"a".to_vec()..b"m".to_vec()` or `..`) in key order.
    pub fn scan<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<DbIterator> {
        let seq = self.inner.visible_seq.load(Ordering::Acquire);
        self.scan_at(range, seq)
    }

    /// Scans every key that starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<DbIterator> {
        let seq = self.inner.visible_seq.load(Ordering::Acquire);
        self.scan_prefix_at(prefix.as_ref(), seq)
    }

    pub(crate) fn scan_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        seq: u64,
    ) -> Result<DbIterator> {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
            Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Ok(self.iter_between(own(range.start_bound()), own(range.end_bound()), seq))
    }

    pub(crate) fn scan_prefix_at(&self, prefix: &[u8], seq: u64) -> Result<DbIterator> {
        let start = Bound::Included(Bytes::copy_from_slice(prefix));
        let end = match prefix_successor(prefix) {
            Some(end) => Bound::Excluded(Bytes::from(end)),
            None => Bound::Unbounded,
        };
        Ok(self.iter_between(start, end, seq))
    }

    fn iter_between(&self, start: Bound<Bytes>, end: Bound<Bytes>, seq: u64) -> DbIterator {
        let pin = self.inner.snapshots.pin(seq);
        DbIterator::new(
            self.inner.state(),
            self.inner.chunks.clone(),
            seq,
            start,
            end,
            Some(pin),
        )
    }

    /// Freezes the active memtable and waits until every frozen memtable is
    /// in a chunk published in the manifest. Returns the new chunks' ids.
    pub async fn flush(&self) -> Result<Vec<ChunkId>> {
        let inner = &self.inner;
        inner.check_writable()?;
        let first_pending = inner.state().frozen.last().map(|m| m.id);
        let rotated = commit::rotate(inner)?;
        let Some(target) = rotated.or_else(|| inner.state().frozen.first().map(|m| m.id)) else {
            return Ok(Vec::new());
        };
        self.wait_flushed(target).await?;
        let from = first_pending.unwrap_or(target);
        let produced = lock(&inner.produced);
        Ok(produced.range(from..=target).map(|(_, id)| *id).collect())
    }

    async fn wait_flushed(&self, target: u64) -> Result<()> {
        let mut rx = self.inner.flushed.subscribe();
        loop {
            if *rx.borrow_and_update() >= target {
                return Ok(());
            }
            if let Some(err) = self.inner.fatal_error() {
                return Err(err);
            }
            if rx.changed().await.is_err() {
                return Err(Error::Closed(None));
            }
        }
    }

    /// Flushes the memtables, then merges every chunk into one sorted run,
    /// dropping overwritten versions and tombstones that no live snapshot
    /// needs, and waits for it. Background compaction pauses meanwhile.
    pub async fn compact(&self) -> Result<()> {
        self.inner.check_writable()?;
        self.flush().await?;
        crate::compact::compact_all(&self.inner).await?;
        Ok(())
    }

    /// Runs one garbage-collection pass with the given grace period (see
    /// [`Options::gc_grace`]): deletes chunks and manifest versions that
    /// dropped out of the database longer ago than `grace`, and orphaned
    /// uploads. Only the writer collects.
    pub async fn gc(&self, grace: std::time::Duration) -> Result<crate::GcReport> {
        self.inner.check_writable()?;
        crate::gc::collect(&self.inner, grace).await
    }

    /// Flushes the memtables and pins the resulting manifest version as the
    /// checkpoint `name` (an object under `checkpoints/`). GC keeps
    /// everything it references until it is deleted; open it read-only with
    /// [`Options::checkpoint`].
    pub async fn checkpoint(&self, name: &str) -> Result<crate::Checkpoint> {
        crate::checkpoint::validate_name(name)?;
        self.inner.check_writable()?;
        self.flush().await?;
        let _publishing = self.inner.publish_lock.lock().await;
        let manifest = self.manifest();
        let checkpoint = crate::Checkpoint {
            name: name.to_string(),
            db_id: manifest.db_id,
            manifest_version: manifest.version,
            created_at_ms: crate::gc::now_ms(),
        };
        let object = crate::checkpoint::checkpoint_object(name);
        let bytes = Bytes::from(crate::checkpoint::encode(&checkpoint)?);
        match self.inner.chunks.store.put_if_absent(&object, bytes).await? {
            firn_manifest::PutOutcome::Created => Ok(checkpoint),
            firn_manifest::PutOutcome::AlreadyExists => Err(Error::InvalidArgument(format!(
                "checkpoint {name:?} already exists ({object}); delete it first or pick another name"
            ))),
        }
    }

    /// Every checkpoint of the database, by name.
    pub async fn list_checkpoints(&self) -> Result<Vec<crate::Checkpoint>> {
        crate::gc::list_checkpoints(&self.inner).await
    }

    /// Deletes the checkpoint `name`; what only it kept alive becomes
    /// garbage after the grace period.
    pub async fn delete_checkpoint(&self, name: &str) -> Result<()> {
        crate::checkpoint::validate_name(name)?;
        self.inner.check_writable()?;
        let object = crate::checkpoint::checkpoint_object(name);
        if self.inner.chunks.store.stat(&object).await?.is_none() {
            return Err(Error::InvalidArgument(format!(
                "no checkpoint named {name:?}"
            )));
        }
        self.inner.chunks.store.delete(&object).await?;
        self.inner.gc_wakeup.notify_one();
        Ok(())
    }

    /// Flushes memtables (unless `Options::flush_on_close` is off), stops
    /// background work and releases the local directory. If the flush fails
    /// or misses `Options::close_timeout`, returns the error and keeps the
    /// WAL, so nothing acknowledged is lost: the next open replays it.
    pub async fn close(self) -> Result<()> {
        let inner = self.inner.clone();
        let mut result = Ok(());
        if !inner.read_only && inner.fatal_error().is_none() {
            if inner.opts.flush_on_close {
                let flushed = tokio::time::timeout(inner.opts.close_timeout, self.flush()).await;
                result = match flushed {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(Error::Closed(Some(format!(
                        "close could not flush within {:?}{}; the WAL is kept and replays on the next open",
                        inner.opts.close_timeout,
                        lock(&inner.store_error).as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default()
                    )))),
                };
            }
            if let Err(e) = commit::sync_wal(&inner) {
                result = result.and(Err(e));
            }
            if result.is_ok() {
                mark_closed_cleanly(&inner).await;
            }
        }
        inner.closing.store(true, Ordering::Release);
        inner.stop_tasks();
        // An aborted task's local-file write (a chunk, a manifest version)
        // still runs to its end: wait for it, so nothing lands after close.
        if !inner.chunks.store.quiesce(CLOSE_QUIESCE).await {
            tracing::warn!("close: object-store writes still running after {CLOSE_QUIESCE:?}");
        }
        lock(&inner.commit.log).wal = None;
        lock(&inner.local).take();
        if let Some(err) = inner.fatal_error() {
            result = result.and(Err(err));
        }
        result
    }

    /// A copy of the counters, including object-store requests.
    pub fn metrics(&self) -> Metrics {
        let inner = &self.inner;
        let mut m = Metrics {
            requests: inner.chunks.store.requests(),
            ..Metrics::default()
        };
        inner.metrics.fill(&mut m);
        let (hits, misses) = inner.chunks.cache.stats();
        m.block_cache_hits = hits;
        m.block_cache_misses = misses;
        m.block_cache_bytes = inner.chunks.cache.used() as u64;
        m.cache = inner.chunks.cache_counts();
        let state = inner.state();
        m.memtable_bytes = state.memtables().map(|t| t.size() as u64).sum();
        m.frozen_memtables = state.frozen.len() as u64;
        m.l0_chunks = state.tables.l0.len() as u64;
        m.run_chunks = state.tables.runs.iter().map(|r| r.len() as u64).sum();
        m.visible_seq = inner.visible_seq.load(Ordering::Acquire);
        m
    }

    /// The manifest version this handle reads from.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.inner.state().tables.manifest.clone()
    }

    /// The database's id (a UUID).
    pub fn id(&self) -> &str {
        &self.inner.db_id
    }

    /// The writer epoch of this handle (0 for a read-only handle).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The object store this database lives in (for tools: chunk-dump, verify).
    pub fn object_store(&self) -> &firn_manifest::ObjectStore {
        &self.inner.chunks.store
    }

    /// The last problem the background uploader hit, while it is retrying
    /// (the object store is slow or down); `None` when uploads are healthy.
    pub fn upload_status(&self) -> Option<String> {
        lock(&self.inner.store_error).clone()
    }

    /// Bytes of the active WAL segment that are on stable storage, with the
    /// segment number: what survives a power loss right now.
    pub fn wal_synced_position(&self) -> Option<(u64, u64)> {
        let log = lock(&self.inner.commit.log);
        log.wal.as_ref().map(|w| (w.segment(), w.synced_len()))
    }
}

/// After a successful final flush: stops accepting writes and, if every
/// write this writer acknowledged is in the bucket, publishes that it closed
/// cleanly ([`Manifest::writer_clean`]), so the next writer to claim the
/// database records no fence for this directory. Best effort: without the
/// mark, the next claim records a fence whose watermark covers every write,
/// and this directory opens again all the same.
async fn mark_closed_cleanly(inner: &Arc<DbInner>) {
    inner.closing.store(true, Ordering::Release);
    let last_seq = {
        let mut log = lock(&inner.commit.log);
        // No commit can append after this.
        log.wal = None;
        log.next_seq.saturating_sub(1)
    };
    let manifest = inner.state().tables.manifest.clone();
    if manifest.writer_clean || last_seq > manifest.wal_watermark || manifest.epoch != inner.epoch {
        return;
    }
    let edit = firn_manifest::ManifestEdit {
        writer_clean: true,
        ..Default::default()
    };
    let publish = crate::flush::publish_edit(inner, &edit, Vec::new(), None);
    match tokio::time::timeout(inner.opts.close_timeout, publish).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("close: could not mark the writer closed cleanly: {e}"),
        Err(_) => tracing::warn!("close: marking the writer closed cleanly timed out"),
    }
}

/// A copy of `e` if it is the fencing error (errors are not `Clone`).
fn fenced_copy(e: &Error) -> Option<Error> {
    match e {
        Error::Fenced {
            our_epoch,
            their_epoch,
        } => Some(Error::Fenced {
            our_epoch: *our_epoch,
            their_epoch: *their_epoch,
        }),
        _ => None,
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

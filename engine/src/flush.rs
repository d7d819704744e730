//! Background flush: frozen memtable → chunk PUT → manifest publish → WAL
//! segments deleted, strictly in freeze order.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{ChunkBuilder, ChunkOptions, ChunkSummary, Kind};
use firn_manifest::{ChunkId, ManifestEdit, PutOutcome};

use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::memtable::{MemValue, Memtable};
use crate::state::ReadState;
use crate::table::ChunkTable;
use crate::wal::{list_segments, sync_dir};

/// Runs until aborted: flushes the oldest frozen memtable whenever there is one.
pub(crate) async fn run_flusher(inner: Arc<DbInner>) {
    loop {
        let oldest = inner.state().frozen.last().cloned();
        let Some(mem) = oldest else {
            inner.flush_wakeup.notified().await;
            continue;
        };
        if let Err(err) = flush_memtable(&inner, &mem).await {
            // Only permanent failures get here (fencing, a conflicting
            // object): stop writing, keep the WAL for recovery.
            tracing::error!("flush of memtable {} stopped: {err}", mem.id);
            inner.set_fatal_error(&err);
            return;
        }
    }
}

async fn flush_memtable(inner: &Arc<DbInner>, mem: &Arc<Memtable>) -> Result<()> {
    let Some((_, max_seq)) = mem.seq_range() else {
        finish(inner, mem, None).await;
        return Ok(());
    };
    let opts = inner.opts.chunk_options();
    let source = mem.clone();
    let (bytes, summary) = firn_store::clock::run_blocking(move || build_chunk(&source, opts))
        .await
        .map_err(|e| Error::Background(format!("building a chunk: {e}")))??;
    let id = inner.allocate_chunk_id();
    let result = upload_and_publish(inner, mem, id, bytes, summary, max_seq).await;
    inner.settle_chunks([id]);
    result
}

async fn upload_and_publish(
    inner: &Arc<DbInner>,
    mem: &Arc<Memtable>,
    id: ChunkId,
    bytes: Bytes,
    summary: ChunkSummary,
    max_seq: u64,
) -> Result<()> {
    let object = id.object_name();
    with_retry(inner, "chunk upload", || {
        upload(inner, &object, bytes.clone())
    })
    .await?;

    let table = Arc::new(inner.chunks.adopt_built(id, &bytes, &summary)?);
    let edit = ManifestEdit {
        add_l0: vec![table.meta.clone()],
        wal_watermark: Some(max_seq),
        next_chunk_id: Some(id.id + 1),
        add_totals: inner.totals_with_pending(firn_manifest::Totals {
            flushes: 1,
            flush_bytes: summary.size,
            ..Default::default()
        }),
        ..ManifestEdit::default()
    };

    crate::crash_point::crash_point("flush.before_publish");
    publish_edit(inner, &edit, vec![table.clone()], Some(mem.id)).await?;
    // The WAL goes only if the bucket we published into still is the
    // database's: a wiped or replaced bucket takes the version with it.
    with_retry(inner, "bucket identity check", || check_bucket(inner)).await?;
    if inner.opts.cache_flushed_blocks {
        inner.chunks.cache_written_blocks(&table, bytes);
    }
    inner.metrics.flushes.fetch_add(1, Ordering::Relaxed);
    inner
        .metrics
        .flush_bytes
        .fetch_add(summary.size, Ordering::Relaxed);
    inner
        .metrics
        .flush_entries
        .fetch_add(summary.properties.entries, Ordering::Relaxed);
    finish(inner, mem, Some(id)).await;
    Ok(())
}

/// Publishes `edit` (retrying object-store errors; fencing ends it), then
/// installs the new version's table set — reusing opened tables, adding
/// `new_tables` (chunks this process just wrote) — and drops the frozen
/// memtable `flushed` from the read view in the same swap.
pub(crate) async fn publish_edit(
    inner: &Arc<DbInner>,
    edit: &ManifestEdit,
    new_tables: Vec<Arc<ChunkTable>>,
    flushed: Option<u64>,
) -> Result<()> {
    let _publishing = inner.publish_lock.lock().await;
    // One nonce for every retry: if an attempt landed but its answer was
    // lost, the retry recognises the version as its own instead of applying
    // the edit a second time.
    let nonce = firn_manifest::fresh_nonce();
    let manifest = with_retry(inner, "manifest publish", || async {
        let current = inner.state().tables.manifest.clone();
        Ok(inner
            .manifests
            .publish_with_nonce(&current, edit, inner.epoch, nonce)
            .await?)
    })
    .await?;
    let previous = inner.state().tables.clone();
    let tables = inner
        .chunks
        .table_set_with(Arc::new(manifest), Some(&previous), new_tables)
        .await?;
    inner.update_state(|s| without_frozen(s, flushed, Arc::new(tables)));
    Ok(())
}

/// Checks that the bucket's identity object is still there (one HEAD).
async fn check_bucket(inner: &DbInner) -> Result<()> {
    let store = &inner.chunks.store;
    match store.stat(firn_manifest::IDENTITY_OBJECT).await? {
        Some(_) => Ok(()),
        None => Err(Error::BucketLost {
            url: store.url().to_string(),
            missing: firn_manifest::IDENTITY_OBJECT.to_string(),
            wal: inner.wal_dir.display().to_string(),
            local: inner.opts.local_dir.display().to_string(),
        }),
    }
}

/// `s` with `tables` and without the frozen memtable `id`.
fn without_frozen(
    s: &ReadState,
    id: Option<u64>,
    tables: Arc<crate::table::TableSet>,
) -> ReadState {
    ReadState {
        active: s.active.clone(),
        frozen: s
            .frozen
            .iter()
            .filter(|m| Some(m.id) != id)
            .cloned()
            .collect(),
        tables,
    }
}

/// After a memtable is in a published chunk (or was empty): drop its WAL
/// segments, record progress, wake flush waiters and stalled writers.
async fn finish(inner: &Arc<DbInner>, mem: &Memtable, chunk: Option<ChunkId>) {
    if chunk.is_none() {
        inner.update_state(|s| without_frozen(s, Some(mem.id), s.tables.clone()));
    }
    let wal_dir = inner.wal_dir.clone();
    let upto = mem.id;
    let cleanup =
        firn_store::clock::run_blocking(move || delete_segments_upto(&wal_dir, upto)).await;
    match cleanup {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("deleting flushed WAL segments: {e}"),
        Err(e) => tracing::warn!("deleting flushed WAL segments: {e}"),
    }
    if let Some(id) = chunk {
        inner.record_flushed_chunk(mem.id, id);
    }
    inner.flushed.send_modify(|v| *v = (*v).max(mem.id));
    inner.compaction_wakeup.notify_one();
    if chunk.is_some() {
        inner.gc_wakeup.notify_one();
    }
    inner.backpressure.notify_waiters();
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
pub(crate) fn build_chunk(mem: &Memtable, opts: ChunkOptions) -> Result<(Bytes, ChunkSummary)> {
    let mut builder = ChunkBuilder::new(opts, Vec::with_capacity(mem.size() / 2 + 4096));
    let mut failed = None;
    mem.for_each(|k, v| {
        let (kind, value): (Kind, &[u8]) = match v {
            MemValue::Put(value) => (Kind::Put, value),
            MemValue::Delete => (Kind::Delete, &[]),
        };
        match builder.add(&k.key, k.seq, kind, value) {
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
    let (bytes, summary) = builder.finish().map_err(|e| {
        Error::Background(format!("finishing a chunk from memtable {}: {e}", mem.id))
    })?;
    Ok((Bytes::from(bytes), summary))
}

/// Conditional create of a chunk object. If it exists already, it must be
/// our own earlier attempt (same bytes); anything else is refused.
pub(crate) async fn upload(inner: &DbInner, object: &str, bytes: Bytes) -> Result<()> {
    let store = &inner.chunks.store;
    match store.put_if_absent(object, bytes.clone()).await? {
        PutOutcome::Created => Ok(()),
        PutOutcome::AlreadyExists => {
            let existing = store.get(object).await?;
            if existing == bytes {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "chunk object {object} already exists with other contents; another writer is using epoch {}",
                    inner.epoch
                )))
            }
        }
    }
}

/// Retries `op` with exponential backoff and jitter while it fails with a
/// retryable object-store error (an outage, however long). A final answer
/// from the store (see `StoreError::is_retryable`), fencing and every other
/// error return at once; a store error is also left in `upload_status()`.
pub(crate) async fn with_retry<T, F, Fut>(inner: &DbInner, what: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delay = inner.opts.retry_delay;
    loop {
        match op().await {
            Ok(v) => {
                inner.clear_store_error();
                return Ok(v);
            }
            Err(Error::Store(e)) if !e.is_retryable() => {
                // A final answer (permission refused, bucket gone, bad
                // request): retrying would only hide it.
                let err = Error::Store(e);
                tracing::error!("{what} failed and cannot succeed by retrying: {err}");
                inner.note_store_error(format!("{what} failed for good: {err}"));
                return Err(err);
            }
            Err(err @ Error::Store(_)) => {
                inner.metrics.upload_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{what} failed, retrying in {delay:?}: {err}");
                inner.note_store_error(format!("{what}: {err}"));
                let jitter = firn_store::clock::jitter(0.25);
                firn_store::clock::sleep(delay.mul_f64(1.0 + jitter)).await;
                delay = (delay * 2).min(inner.opts.max_retry_delay);
            }
            Err(err) => return Err(err),
        }
    }
}

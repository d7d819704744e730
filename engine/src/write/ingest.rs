//! Bulk ingest: sorted data straight into chunks — no WAL, no memtable —
//! published with one manifest edit at one new sequence number, so reads
//! see all of it or none of it.
//!
//! 1. [`BulkIngest`] builds chunks from the caller's sorted entries, every
//!    entry at seq 0, and uploads each (up to [`UPLOADS_IN_FLIGHT`] at once)
//!    while the next is being built. The chunk ids stay in flight, so the
//!    collector leaves the objects alone.
//! 2. `finish` flushes the memtables (writes go on meanwhile), then pauses
//!    compaction and waits for the running ones to end.
//! 3. It holds the commit path ([`CommitHold`]): writes queue. It freezes
//!    the active memtable, appends the ingest's marker to the WAL, which
//!    takes the next seq `s`, and waits until every earlier write is in a
//!    published chunk (usually only the few writes made since step 2).
//! 4. It publishes the chunks with seq `s` in their manifest entries
//!    (`min_seq = max_seq = s`: readers take every entry's seq from there,
//!    see `manifest/FORMAT.md`) and WAL watermark `s`: as a new sorted run
//!    in front of the others when no L0 chunk overlaps their key range,
//!    else into L0. Either way every older version of an ingested key is
//!    read after it and every newer one before it.
//! 5. It releases the hold: `s` becomes visible with the new table set, and
//!    the queued writes commit after it. Compaction resumes.
//!
//! Writes wait only in steps 3–4: one small flush and one manifest publish.
//! A failure before the publish leaves the database as it was (the uploaded
//! chunks are orphans the collector deletes); an ingest is all or nothing.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{ChunkBuilder, ChunkOptions, Kind};
use firn_manifest::{ChunkId, ChunkMeta, ManifestEdit, SortedRun};
use tokio::task::JoinHandle;

use crate::background::compactor::Compactor;
use crate::background::flusher::Flusher;
use crate::background::publisher::ManifestPublisher;
use crate::background::retry::Retry;
use crate::background::uploads::{upload_chunk, ChunkIds};
use crate::error::{Error, Result};
use crate::metrics::EngineMetrics;
use crate::read::table::{ChunkStore, ChunkTable};
use crate::read::view::ReadView;
use crate::signal::DurableSeq;
use crate::write::commit::CommitPath;

/// Chunk uploads of one ingest that may run while the next chunk is built.
pub const UPLOADS_IN_FLIGHT: usize = 4;

/// What an ingest needs of the writer.
pub(crate) struct IngestDeps {
    pub commit: Arc<CommitPath>,
    pub view: Arc<ReadView>,
    pub chunks: Arc<ChunkStore>,
    pub publisher: Arc<ManifestPublisher>,
    pub ids: Arc<ChunkIds>,
    pub flusher: Arc<Flusher>,
    pub compactor: Arc<Compactor>,
    pub durable: Arc<DurableSeq>,
    pub retry: Retry,
    pub chunk_options: ChunkOptions,
    /// Cut a chunk once it is about this big (the compactor's target).
    pub target_chunk_size: u64,
    pub max_key_size: usize,
    pub max_value_size: usize,
    pub epoch: u64,
    pub metrics: Arc<EngineMetrics>,
}

/// Where an ingest's chunks went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestPlacement {
    /// A new sorted run in front of the others: no L0 chunk overlapped.
    Run,
    /// Level 0: L0 chunks overlapped the ingested key range.
    L0,
    /// Nothing was ingested (no entries).
    Nothing,
}

/// The outcome of [`BulkIngest::finish`].
#[derive(Clone, Debug)]
pub struct IngestReport {
    /// The sequence number every ingested entry has (0 when nothing was
    /// ingested). Reads at or above it see the ingest.
    pub seq: u64,
    /// Entries ingested (puts and tombstones).
    pub entries: u64,
    /// Chunks written (one PUT each).
    pub chunks: usize,
    /// Bytes of the chunks.
    pub bytes: u64,
    /// Where the chunks were published.
    pub placement: IngestPlacement,
    /// The manifest version that published them (0 when nothing was).
    pub manifest_version: u64,
}

/// A bulk ingest in progress (see [`crate::Db::bulk_ingest`]): feed it
/// entries in strictly increasing key order, then [`BulkIngest::finish`].
/// Dropping it unfinished ingests nothing (its uploads become orphans the
/// collector deletes).
pub struct BulkIngest {
    deps: Arc<IngestDeps>,
    builder: Option<ChunkBuilder<Vec<u8>>>,
    last_key: Option<Bytes>,
    entries: u64,
    uploads: VecDeque<JoinHandle<Result<ChunkTable>>>,
    done: Vec<ChunkTable>,
    allocated: Vec<ChunkId>,
    bytes: u64,
}

impl BulkIngest {
    pub(crate) fn new(deps: Arc<IngestDeps>) -> BulkIngest {
        BulkIngest {
            deps,
            builder: None,
            last_key: None,
            entries: 0,
            uploads: VecDeque::new(),
            done: Vec::new(),
            allocated: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds `key = value`. Keys must strictly increase.
    pub async fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        let (key, value) = (key.into(), value.into());
        if value.len() > self.deps.max_value_size {
            return Err(Error::InvalidArgument(format!(
                "bulk ingest entry {}: value of {} bytes exceeds the value size limit of {} \
                 bytes (Options::max_value_size)",
                self.entries + 1,
                value.len(),
                self.deps.max_value_size
            )));
        }
        self.add(key, Kind::Put, value).await
    }

    /// Adds a tombstone for `key`: after the ingest, `key` reads as absent.
    pub async fn delete(&mut self, key: impl Into<Bytes>) -> Result<()> {
        self.add(key.into(), Kind::Delete, Bytes::new()).await
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    async fn add(&mut self, key: Bytes, kind: Kind, value: Bytes) -> Result<()> {
        let n = self.entries + 1;
        if key.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "bulk ingest entry {n}: empty keys are not allowed"
            )));
        }
        if key.len() > self.deps.max_key_size {
            return Err(Error::InvalidArgument(format!(
                "bulk ingest entry {n}: key of {} bytes exceeds the key size limit of {} bytes \
                 (Options::max_key_size)",
                key.len(),
                self.deps.max_key_size
            )));
        }
        if let Some(last) = &self.last_key {
            if key <= *last {
                return Err(Error::InvalidArgument(format!(
                    "bulk ingest entry {n}: key {} is not above the previous key {}: the input \
                     must be in strictly increasing key order (sort it, and keep one entry per key)",
                    show(&key),
                    show(last)
                )));
            }
        }
        let full = self
            .builder
            .as_ref()
            .is_some_and(|b| b.estimated_size() >= self.deps.target_chunk_size);
        if full {
            self.seal().await?;
        }
        let deps = &self.deps;
        let builder = self.builder.get_or_insert_with(|| {
            let cap = (deps.target_chunk_size as usize).min(256 << 20) + (1 << 20);
            ChunkBuilder::new(deps.chunk_options.clone(), Vec::with_capacity(cap))
        });
        builder
            .add(&key, 0, kind, &value)
            .map_err(|e| Error::Background(format!("bulk ingest entry {n}: {e}")))?;
        self.entries = n;
        self.last_key = Some(key);
        Ok(())
    }

    /// Finishes the chunk being built and starts its upload, first waiting
    /// for the oldest upload if too many are running.
    async fn seal(&mut self) -> Result<()> {
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        while self.uploads.len() >= UPLOADS_IN_FLIGHT {
            self.collect_oldest().await?;
        }
        let (bytes, summary) = builder
            .finish()
            .map_err(|e| Error::Background(format!("bulk ingest: finishing a chunk: {e}")))?;
        let bytes = Bytes::from(bytes);
        self.bytes += summary.size;
        let id = self.deps.ids.allocate();
        self.allocated.push(id);
        let deps = self.deps.clone();
        self.uploads.push_back(tokio::spawn(async move {
            let table = deps.chunks.adopt_built(id, &bytes, &summary)?;
            deps.retry
                .until_done("bulk ingest upload", || {
                    upload_chunk(&deps.chunks.store, &table.object, bytes.clone(), deps.epoch)
                })
                .await?;
            Ok(table)
        }));
        Ok(())
    }

    async fn collect_oldest(&mut self) -> Result<()> {
        if let Some(task) = self.uploads.pop_front() {
            let table = task
                .await
                .map_err(|e| Error::Background(format!("bulk ingest upload: {e}")))??;
            self.done.push(table);
        }
        Ok(())
    }

    /// Uploads what is left and publishes the whole ingest (see the module
    /// documentation). On error nothing was ingested.
    pub async fn finish(mut self) -> Result<IngestReport> {
        let result = self.upload_rest().await;
        let deps = self.deps.clone();
        let allocated = std::mem::take(&mut self.allocated);
        let report = match result {
            Ok(()) if self.done.is_empty() => Ok(IngestReport {
                seq: 0,
                entries: 0,
                chunks: 0,
                bytes: 0,
                placement: IngestPlacement::Nothing,
                manifest_version: 0,
            }),
            Ok(()) => {
                let tables = std::mem::take(&mut self.done);
                let (entries, bytes) = (self.entries, self.bytes);
                // The publish holds the commit path and pauses compaction:
                // it runs to the end in its own task even if this future is
                // dropped.
                let publish = deps.clone();
                tokio::spawn(async move { publish.publish(tables, entries, bytes).await })
                    .await
                    .map_err(|e| Error::Background(format!("bulk ingest publish: {e}")))
                    .and_then(|r| r)
            }
            Err(e) => Err(e),
        };
        deps.ids.settle(allocated);
        report
    }

    async fn upload_rest(&mut self) -> Result<()> {
        self.seal().await?;
        while !self.uploads.is_empty() {
            self.collect_oldest().await?;
        }
        Ok(())
    }
}

impl Drop for BulkIngest {
    fn drop(&mut self) {
        // Unfinished: the uploads are orphans for the collector.
        for task in self.uploads.drain(..) {
            task.abort();
        }
        self.deps.ids.settle(std::mem::take(&mut self.allocated));
    }
}

impl IngestDeps {
    /// Steps 2 to 5 of the module documentation, for uploaded `tables` in
    /// key order.
    async fn publish(
        &self,
        tables: Vec<ChunkTable>,
        entries: u64,
        bytes: u64,
    ) -> Result<IngestReport> {
        self.flush_all().await?;
        self.compactor
            .while_idle(self.publish_held(tables, entries, bytes))
            .await
    }

    /// Freezes the active memtable and waits until every frozen one is in a
    /// published chunk.
    async fn flush_all(&self) -> Result<()> {
        let rotated = self.commit.rotate()?;
        self.wait_flushed(rotated).await
    }

    async fn wait_flushed(&self, rotated: Option<u64>) -> Result<()> {
        let target = rotated.or_else(|| self.view.current().frozen.first().map(|m| m.id));
        if let Some(target) = target {
            self.flusher.wait_flushed(target).await?;
        }
        Ok(())
    }

    async fn publish_held(
        &self,
        tables: Vec<ChunkTable>,
        entries: u64,
        bytes: u64,
    ) -> Result<IngestReport> {
        let mut hold = self.commit.hold().await?;
        let (seq, frozen) = hold.write_marker()?;
        crate::crash_point::crash_point("ingest.after_marker");
        self.wait_flushed(frozen).await?;

        let placed: Vec<Arc<ChunkTable>> = tables
            .into_iter()
            .map(|t| Arc::new(t.with_seq(seq)))
            .collect();
        let metas: Vec<ChunkMeta> = placed.iter().map(|t| t.meta.clone()).collect();
        let manifest = self.view.manifest();
        let (min_key, max_key) = match (metas.first(), metas.last()) {
            (Some(first), Some(last)) => (first.min_key.as_slice(), last.max_key.as_slice()),
            _ => return Err(Error::Background("bulk ingest without chunks".into())),
        };
        let overlaps_l0 = manifest
            .l0
            .iter()
            .any(|c| c.min_key.as_slice() <= max_key && c.max_key.as_slice() >= min_key);
        let next_chunk_id = metas.iter().map(|m| m.id.id + 1).max();
        let mut edit = ManifestEdit {
            wal_watermark: Some(seq),
            next_chunk_id,
            ..ManifestEdit::default()
        };
        let placement = if overlaps_l0 {
            // `add_l0` is oldest first; the chunks do not overlap each other.
            edit.add_l0 = metas;
            IngestPlacement::L0
        } else {
            edit.add_runs = vec![SortedRun {
                id: manifest.next_run_id,
                chunks: metas,
            }];
            IngestPlacement::Run
        };
        let chunks = placed.len();
        crate::crash_point::crash_point("ingest.before_publish");
        self.publisher.publish(edit, placed, None).await?;
        crate::crash_point::crash_point("ingest.after_publish");
        self.durable.advance(seq);
        let m = &self.metrics;
        m.ingests.fetch_add(1, Ordering::Relaxed);
        m.ingest_entries.fetch_add(entries, Ordering::Relaxed);
        m.ingest_bytes.fetch_add(bytes, Ordering::Relaxed);
        let manifest_version = self.view.manifest().version;
        hold.release().await;
        Ok(IngestReport {
            seq,
            entries,
            chunks,
            bytes,
            placement,
            manifest_version,
        })
    }
}

/// A key for an error message: printable ASCII as is, other bytes escaped.
fn show(key: &[u8]) -> String {
    let shown: String = key
        .iter()
        .take(64)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if key.len() > 64 {
        format!("\"{shown}...\" ({} bytes)", key.len())
    } else {
        format!("\"{shown}\"")
    }
}

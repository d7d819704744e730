//! Compaction execution: merge a plan's input chunks, keep every version a
//! live snapshot can still see, drop what nothing can, split the output at
//! the target chunk size, upload it and publish one manifest edit.
//!
//! *Which* chunks merge is decided by the pure planner in `firn-compaction`;
//! this module only carries a plan out, and schedules plans in the
//! background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use firn_chunk::{ChunkBuilder, ChunkOptions, Kind, RangeTombstones};
use firn_compaction::{CompactionConfig, CompactionPlan};
use firn_manifest::ChunkId;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::background::publisher::ManifestPublisher;
use crate::background::retry::Retry;
use crate::background::uploads::{upload_chunk, ChunkIds};
use crate::error::{Error, Result};
use crate::health::Health;
use crate::lock;
use crate::metrics::EngineMetrics;
use crate::read::merge::{InternalEntry, MergeIter, Source};
use crate::read::snapshot::{Readers, SnapshotRegistry};
use crate::read::sources::ChunkSource;
use crate::read::table::{ChunkStore, ChunkTable};
use crate::read::view::{ReadState, ReadView};
use crate::signal::Wakeup;
use crate::write::Backpressure;

/// Bytes of adjacent blocks fetched per GET while compacting: few requests,
/// bounded memory (one window per input source).
const COMPACTION_READAHEAD: u64 = 2 << 20;

/// Decides, entry by entry in internal order, which versions survive.
///
/// A version is kept when some read can still see it: the current view, a
/// live snapshot `s` with `version.seq <= s < newer_version.seq`, or a read
/// at any seq from the history floor on (`newer_version.seq > floor`). A
/// range delete covering the key counts as a newer version at its seq. A
/// tombstone is dropped (with every version it shadows) only when the
/// output is the bottommost data for its keys and the tombstone is at or
/// below the oldest seq any reader reads at, so every reader already sees
/// the key as deleted.
pub(crate) struct VersionFilter {
    snapshots: Vec<u64>,
    /// Reads at every seq at or above it must stay exact.
    floor: u64,
    bottommost: bool,
    ranges: Option<Arc<RangeTombstones>>,
    key: Option<Bytes>,
    newer_seq: u64,
}

impl VersionFilter {
    /// Keeps what `readers` can see.
    pub(crate) fn new(readers: Readers, bottommost: bool) -> VersionFilter {
        let Readers {
            live: mut snapshots,
            floor,
        } = readers;
        snapshots.sort_unstable();
        snapshots.dedup();
        VersionFilter {
            snapshots,
            floor,
            bottommost,
            ranges: None,
            key: None,
            newer_seq: u64::MAX,
        }
    }

    /// This filter, also dropping versions that `ranges` delete for every
    /// reader.
    pub(crate) fn with_ranges(mut self, ranges: Option<Arc<RangeTombstones>>) -> VersionFilter {
        self.ranges = ranges.filter(|r| !r.is_empty());
        self
    }

    /// True when some reader reads at a seq `s` with `from <= s < to`: a
    /// live snapshot, or any seq from the history floor on.
    fn snapshot_between(&self, from: u64, to: u64) -> bool {
        if to > self.floor {
            return true;
        }
        let i = self.snapshots.partition_point(|&s| s < from);
        self.snapshots.get(i).is_some_and(|&s| s < to)
    }

    /// The oldest seq any reader reads at.
    fn oldest_reader(&self) -> u64 {
        self.snapshots
            .first()
            .copied()
            .unwrap_or(u64::MAX)
            .min(self.floor)
    }

    /// True when `(key, seq, kind)` goes into the output.
    pub(crate) fn keep(&mut self, key: &Bytes, seq: u64, kind: Kind) -> bool {
        if self.key.as_ref() != Some(key) {
            self.key = Some(key.clone());
            self.newer_seq = u64::MAX;
        }
        // The next newer version: the newer point version, or the oldest
        // range delete above this one that covers the key.
        let ranged = self
            .ranges
            .as_ref()
            .and_then(|r| r.fragment_at(key))
            .and_then(|f| f.oldest_above(seq));
        let newer = ranged.map_or(self.newer_seq, |r| r.min(self.newer_seq));
        // u64::MAX: the newest version, which the current view sees.
        let visible = newer == u64::MAX || self.snapshot_between(seq, newer);
        self.newer_seq = seq;
        if !visible {
            return false;
        }
        !(kind == Kind::Delete && self.bottommost && seq <= self.oldest_reader())
    }

    /// Which range deletes the output keeps: of the deletes covering a
    /// fragment, those some reader can tell apart (the newest, and each
    /// one a snapshot sees before the next newer one). At the bottommost
    /// level a delete every reader sees has nothing left to delete: the
    /// versions it covered are dropped with it.
    pub(crate) fn ranges_to_keep(&self, mut ranges: RangeTombstones) -> RangeTombstones {
        let oldest = self.oldest_reader();
        ranges.retain_seqs(|seqs, i| {
            let seq = seqs.get(i).copied().unwrap_or(0);
            let visible = match i.checked_sub(1).and_then(|n| seqs.get(n)) {
                None => true,
                Some(&newer) => self.snapshot_between(seq, newer),
            };
            visible && !(self.bottommost && seq <= oldest)
        });
        ranges
    }
}

/// What one compaction did.
#[derive(Debug, Default)]
pub(crate) struct CompactionOutcome {
    pub outputs: Vec<ChunkId>,
    pub bytes_written: u64,
    pub entries_in: u64,
    pub entries_out: u64,
}

/// What the compactor needs to merge, upload and publish.
pub(crate) struct CompactorDeps {
    pub view: Arc<ReadView>,
    pub chunks: Arc<ChunkStore>,
    pub snapshots: Arc<SnapshotRegistry>,
    pub publisher: Arc<ManifestPublisher>,
    pub ids: Arc<ChunkIds>,
    pub retry: Retry,
    pub health: Arc<Health>,
    pub metrics: Arc<EngineMetrics>,
    pub chunk_options: ChunkOptions,
    pub config: CompactionConfig,
    pub max_concurrent: usize,
    /// How long to wait after a failed compaction before planning again.
    pub failure_pause: Duration,
    pub epoch: u64,
}

/// Who the compactor wakes when a compaction finishes.
pub(crate) struct CompactionListeners {
    pub collector: Wakeup,
    pub room: Arc<Backpressure>,
}

/// Plans and runs compactions in the background, and full compactions on
/// request.
pub(crate) struct Compactor {
    wakeup: Wakeup,
    /// Wakes waiters when a compaction finishes.
    done: Notify,
    /// Set while a full compaction waits for or runs alone.
    paused: AtomicBool,
    /// Plans being carried out.
    running: Mutex<Vec<CompactionPlan>>,
    /// Serialises full compactions.
    full: tokio::sync::Mutex<()>,
    /// The tasks running plans (aborted by [`Compactor::stop`]).
    tasks: Mutex<Vec<JoinHandle<()>>>,
    deps: CompactorDeps,
    listeners: CompactionListeners,
}

impl Compactor {
    pub(crate) fn new(
        wakeup: Wakeup,
        deps: CompactorDeps,
        listeners: CompactionListeners,
    ) -> Compactor {
        Compactor {
            wakeup,
            done: Notify::new(),
            paused: AtomicBool::new(false),
            running: Mutex::new(Vec::new()),
            full: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(Vec::new()),
            deps,
            listeners,
        }
    }

    /// Runs until aborted: after every flush or finished compaction, asks
    /// the planner for work and starts up to `max_concurrent` plans.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            self.wakeup.wait().await;
            self.start_planned();
        }
    }

    /// Aborts the running compactions (their uploads become orphans GC
    /// collects).
    pub(crate) fn stop(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }

    /// The tasks running plans, for the caller to abort and wait for.
    pub(crate) fn take_tasks(&self) -> Vec<JoinHandle<()>> {
        lock(&self.tasks).drain(..).collect()
    }

    /// Starts as many planned compactions as the concurrency limit allows.
    fn start_planned(self: &Arc<Self>) {
        loop {
            if self.deps.health.has_failed() || self.paused.load(Ordering::Acquire) {
                return;
            }
            let plan = {
                let mut running = lock(&self.running);
                if running.len() >= self.deps.max_concurrent.max(1) {
                    return;
                }
                let manifest = self.deps.view.manifest();
                let Some(plan) =
                    firn_compaction::plan_alongside(&manifest, &self.deps.config, &running)
                else {
                    return;
                };
                running.push(plan.clone());
                plan
            };
            let this = self.clone();
            let task = tokio::spawn(async move {
                let result = this.execute(&plan).await;
                this.finished(&plan, result).await;
            });
            let mut tasks = lock(&self.tasks);
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Unregisters a finished compaction and wakes whoever waits on it.
    async fn finished(&self, plan: &CompactionPlan, result: Result<CompactionOutcome>) {
        lock(&self.running).retain(|p| p != plan);
        if let Err(err) = result {
            if err.is_fenced() {
                self.deps.health.fail(err);
            } else {
                tracing::warn!("compaction failed ({}), will retry: {err}", plan.reason);
                self.deps
                    .metrics
                    .compaction_failures
                    .fetch_add(1, Ordering::Relaxed);
                firn_store::clock::sleep(self.deps.failure_pause).await;
            }
        }
        self.done.notify_waiters();
        self.listeners.room.release();
        self.wakeup.wake();
    }

    /// A full compaction: waits for running compactions, merges everything
    /// into one sorted run, and resumes background compaction.
    pub(crate) async fn compact_all(&self) -> Result<Option<CompactionOutcome>> {
        self.while_idle(async {
            let manifest = self.deps.view.manifest();
            let plan = firn_compaction::plan_full(&manifest, &self.deps.config)
                .or_else(|| rewrite_only_run(&manifest, &self.deps.config));
            match plan {
                Some(plan) => self.execute(&plan).await.map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    /// Runs `work` with background compaction paused and no compaction
    /// running (waits for the running ones first), then resumes it. Run it
    /// to completion (a dropped future leaves compaction paused).
    pub(crate) async fn while_idle<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let _exclusive = self.full.lock().await;
        self.paused.store(true, Ordering::Release);
        loop {
            let done = self.done.notified();
            if lock(&self.running).is_empty() {
                break;
            }
            done.await;
        }
        let result = work.await;
        self.paused.store(false, Ordering::Release);
        self.listeners.room.release();
        self.wakeup.wake();
        result
    }

    /// Carries out `plan` against the current state and publishes the result.
    async fn execute(&self, plan: &CompactionPlan) -> Result<CompactionOutcome> {
        let mut allocated = Vec::new();
        let result = self.merge_and_publish(plan, &mut allocated).await;
        // Published outputs are referenced by the manifest now; a failed
        // compaction's uploads are orphans for GC.
        self.deps.ids.settle(allocated);
        if result.is_ok() {
            self.listeners.collector.wake();
        }
        result
    }

    async fn merge_and_publish(
        &self,
        plan: &CompactionPlan,
        allocated: &mut Vec<ChunkId>,
    ) -> Result<CompactionOutcome> {
        let d = &self.deps;
        let state = d.view.current();
        let (sources, inputs) = input_sources(&d.chunks, &state, plan)?;
        // The range deletes of every input, fragmented together: they drop
        // the versions they cover, and those still needed go to the output.
        let mut input_ranges = Vec::new();
        for table in &inputs {
            let ranges = &d.chunks.index(table).await?.properties().range_tombstones;
            if !ranges.is_empty() {
                input_ranges.push(ranges.clone());
            }
        }
        let ranges = Arc::new(RangeTombstones::merge(&input_ranges));
        let readers = d
            .snapshots
            .readers(firn_store::clock::now_ms(), d.view.visible_seq());
        let mut filter =
            VersionFilter::new(readers, plan.bottommost).with_ranges(Some(ranges.clone()));
        let kept_ranges = filter.ranges_to_keep(ranges.as_ref().clone());
        let mut merge = MergeIter::new(sources);
        let mut out = OutputChunks::new(d, plan.target_chunk_size, allocated, kept_ranges);
        let mut outcome = CompactionOutcome::default();
        // Values expired by the time the compaction started read as
        // deleted: they become tombstones, which the filter treats as any
        // other (dropped once nothing older can be under them).
        let now_ms = firn_store::clock::now_ms();
        let mut expired = 0u64;
        while let Some(mut e) = merge.next().await? {
            outcome.entries_in += 1;
            if e.kind == Kind::Put && e.meta.is_expired_at(now_ms) {
                expired += 1;
                e.kind = Kind::Delete;
                e.value = bytes::Bytes::new();
                e.meta = firn_chunk::EntryMeta::default();
            }
            if filter.keep(&e.key, e.seq, e.kind) {
                outcome.entries_out += 1;
                out.add(&e).await?;
            }
        }
        let tables = out.finish().await?;
        d.metrics
            .compaction_expired
            .fetch_add(expired, Ordering::Relaxed);
        outcome.outputs = tables.iter().map(|t| t.meta.id).collect();
        outcome.bytes_written = tables.iter().map(|t| t.meta.size).sum();

        let mut edit = plan.to_edit(tables.iter().map(|t| t.meta.clone()).collect());
        edit.next_chunk_id = Some(d.ids.next_id());
        edit.add_totals = firn_manifest::Totals {
            compactions: 1,
            compaction_bytes_read: plan.input_bytes,
            compaction_bytes_written: outcome.bytes_written,
            ..Default::default()
        };
        let outputs: Vec<String> = tables.iter().map(|t| t.object.clone()).collect();
        d.publisher.publish(edit, tables, None).await?;
        let m = &d.metrics;
        m.compactions.fetch_add(1, Ordering::Relaxed);
        m.compaction_bytes_read
            .fetch_add(plan.input_bytes, Ordering::Relaxed);
        m.compaction_bytes_written
            .fetch_add(outcome.bytes_written, Ordering::Relaxed);
        tracing::info!(
            reason = %plan.reason,
            inputs = plan.inputs_l0.len() + plan.input_run_chunks.len(),
            entries_in = outcome.entries_in,
            entries_out = outcome.entries_out,
            expired,
            bytes_written = outcome.bytes_written,
            outputs = ?outputs,
            "compaction done"
        );
        Ok(outcome)
    }
}

/// One merge source per input L0 chunk and per input run, newest first,
/// and every input chunk.
fn input_sources(
    chunks: &Arc<ChunkStore>,
    state: &ReadState,
    plan: &CompactionPlan,
) -> Result<(Vec<Source>, Vec<Arc<ChunkTable>>)> {
    let tables = &state.tables;
    let by_id: HashMap<ChunkId, &Arc<ChunkTable>> =
        tables.l0.iter().map(|t| (t.meta.id, t)).collect();
    let gone = |what: String| {
        Error::Background(format!(
            "compaction input {what} is no longer in the manifest"
        ))
    };
    let source = |list: Vec<Arc<ChunkTable>>| {
        Source::Chunks(
            ChunkSource::new(chunks.clone(), list, b"").with_readahead(COMPACTION_READAHEAD, false),
        )
    };
    let mut sources = Vec::new();
    let mut inputs = Vec::new();
    for id in &plan.inputs_l0 {
        let t = by_id.get(id).ok_or_else(|| gone(format!("chunk {id}")))?;
        inputs.push((*t).clone());
        sources.push(source(vec![(*t).clone()]));
    }
    for run_id in &plan.input_runs {
        let i = tables
            .manifest
            .runs
            .iter()
            .position(|r| r.id == *run_id)
            .ok_or_else(|| gone(format!("run {run_id}")))?;
        let run = tables.runs.get(i).cloned().unwrap_or_default();
        inputs.extend(run.iter().cloned());
        sources.push(source(run));
    }
    Ok((sources, inputs))
}

/// Output chunks being built, split at the target size on user-key
/// boundaries (all versions of a key stay in one chunk, so a run's chunks
/// never overlap), each uploaded as soon as it is complete.
///
/// The range deletes that survive are cut at the same boundaries: a chunk
/// ending at key `k` takes the pieces below `k ++ [0]`, the next chunk the
/// rest, so every chunk's key range still covers its range deletes and the
/// run's chunks still do not overlap.
struct OutputChunks<'a> {
    deps: &'a CompactorDeps,
    target: u64,
    builder: Option<ChunkBuilder<Vec<u8>>>,
    /// Range deletes for the output.
    ranges: RangeTombstones,
    /// Where the current chunk's key range starts (`None`: the first).
    lower: Option<Vec<u8>>,
    last_key: Bytes,
    done: Vec<Arc<ChunkTable>>,
    /// Ids allocated (in flight until the compaction publishes or fails).
    allocated: &'a mut Vec<ChunkId>,
}

impl<'a> OutputChunks<'a> {
    fn new(
        deps: &'a CompactorDeps,
        target: u64,
        allocated: &'a mut Vec<ChunkId>,
        ranges: RangeTombstones,
    ) -> OutputChunks<'a> {
        OutputChunks {
            deps,
            target,
            builder: None,
            ranges,
            lower: None,
            last_key: Bytes::new(),
            done: Vec::new(),
            allocated,
        }
    }

    async fn add(&mut self, e: &InternalEntry) -> Result<()> {
        let full = self
            .builder
            .as_ref()
            .is_some_and(|b| b.estimated_size() >= self.target && e.key != self.last_key);
        if full {
            let boundary = firn_chunk::successor(&self.last_key);
            self.seal(Some(boundary)).await?;
        }
        let builder = self.builder();
        let meta =
            (e.kind == Kind::Put && e.meta != firn_chunk::EntryMeta::default()).then_some(e.meta);
        builder
            .add_with_meta(&e.key, e.seq, e.kind, &e.value, meta)
            .map_err(|err| Error::Background(format!("compaction output: {err}")))?;
        if self.last_key != e.key {
            self.last_key = e.key.clone();
        }
        Ok(())
    }

    fn builder(&mut self) -> &mut ChunkBuilder<Vec<u8>> {
        let opts = self.deps.chunk_options.clone();
        let cap = (self.target as usize).min(256 << 20) + (1 << 20);
        self.builder
            .get_or_insert_with(|| ChunkBuilder::new(opts, Vec::with_capacity(cap)))
    }

    /// Finishes the current chunk, which covers keys below `upper` (`None`:
    /// the last chunk, up to the end).
    async fn seal(&mut self, upper: Option<Vec<u8>>) -> Result<()> {
        let ranges = self.ranges.clipped(self.lower.as_deref(), upper.as_deref());
        self.lower = upper;
        if !ranges.is_empty() {
            self.builder()
                .set_range_tombstones(ranges)
                .map_err(|err| Error::Background(format!("compaction output: {err}")))?;
        }
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        let (bytes, summary) = builder
            .finish()
            .map_err(|err| Error::Background(format!("compaction output: {err}")))?;
        let bytes = Bytes::from(bytes);
        let d = self.deps;
        let id = d.ids.allocate();
        self.allocated.push(id);
        let table = d.chunks.adopt_built(id, &bytes, &summary)?;
        d.retry
            .until_done("compaction upload", || {
                upload_chunk(&d.chunks.store, &table.object, bytes.clone(), d.epoch)
            })
            .await?;
        self.done.push(Arc::new(table));
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<Arc<ChunkTable>>> {
        self.seal(None).await?;
        Ok(self.done)
    }
}

/// A database already compacted to one run may still hold versions that
/// only a since-dropped snapshot needed: a full compaction rewrites it.
fn rewrite_only_run(
    manifest: &firn_manifest::Manifest,
    config: &firn_compaction::CompactionConfig,
) -> Option<CompactionPlan> {
    let [run] = manifest.runs.as_slice() else {
        return None;
    };
    if !manifest.l0.is_empty() || run.chunks.is_empty() {
        return None;
    }
    Some(CompactionPlan {
        inputs_l0: Vec::new(),
        input_runs: vec![run.id],
        input_run_chunks: run.chunks.iter().map(|c| c.id).collect(),
        output_run_id: manifest.next_run_id,
        target_chunk_size: config.target_chunk_size.max(1),
        bottommost: true,
        reason: "full compaction: rewrite the only run, dropping versions no reader needs".into(),
        input_bytes: run.chunks.iter().map(|c| c.size).sum(),
        input_tombstones: run.chunks.iter().map(|c| c.tombstones).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use firn_chunk::RangeTombstone;

    /// Live snapshots only, no read history.
    fn live(seqs: &[u64]) -> Readers {
        Readers {
            live: seqs.to_vec(),
            floor: u64::MAX,
        }
    }

    fn ranges(list: &[(&str, &str, u64)]) -> Option<Arc<RangeTombstones>> {
        let raw: Vec<RangeTombstone> = list
            .iter()
            .map(|&(a, b, seq)| RangeTombstone {
                start: a.into(),
                end: b.into(),
                seq,
            })
            .collect();
        Some(Arc::new(RangeTombstones::fragment(&raw)))
    }

    #[test]
    fn a_range_delete_hides_older_versions_from_readers_after_it() {
        use Kind::*;
        // Range delete of [a, c) at 10; snapshot at 6.
        let mut f = VersionFilter::new(live(&[6]), false).with_ranges(ranges(&[("a", "c", 10)]));
        let kept = run(
            &mut f,
            &[
                ("a", 12, Put), // newer than the delete: current
                ("a", 8, Put),  // hidden by 10, no snapshot in [8, 10)
                ("a", 5, Put),  // snapshot 6 sees it
                ("b", 9, Put),  // hidden, no snapshot in [9, 10)
                ("c", 3, Put),  // outside the range: current
            ],
        );
        assert_eq!(kept, vec![12, 5, 3]);
        // Which range deletes stay: at the bottommost level one every
        // reader sees goes; one a snapshot predates stays.
        let bottom = VersionFilter::new(live(&[6]), true);
        let kept = bottom.ranges_to_keep(RangeTombstones::fragment(&[
            RangeTombstone {
                start: b"a".to_vec(),
                end: b"c".to_vec(),
                seq: 10,
            },
            RangeTombstone {
                start: b"x".to_vec(),
                end: b"z".to_vec(),
                seq: 4,
            },
        ]));
        assert_eq!(kept.count(), 1);
        assert_eq!(kept.cover(b"b", 99), Some(10));
        // Of two deletes over one fragment with no snapshot between, only
        // the newer stays.
        let upper = VersionFilter::new(live(&[]), false);
        let kept = upper.ranges_to_keep(RangeTombstones::fragment(&[
            RangeTombstone {
                start: b"a".to_vec(),
                end: b"c".to_vec(),
                seq: 10,
            },
            RangeTombstone {
                start: b"a".to_vec(),
                end: b"c".to_vec(),
                seq: 7,
            },
        ]));
        assert_eq!(kept.count(), 1);
    }

    #[test]
    fn read_history_keeps_every_version_a_seq_from_the_floor_on_sees() {
        use Kind::*;
        let history = Readers {
            live: Vec::new(),
            floor: 20,
        };
        let mut f = VersionFilter::new(history.clone(), true);
        // 25 is seen from 25 on; 18 by seqs 20..25; 12 only by seqs below 20.
        assert_eq!(
            run(&mut f, &[("a", 25, Put), ("a", 18, Put), ("a", 12, Put)]),
            vec![25, 18]
        );
        // A bottommost tombstone above the floor must stay (seqs 20..30
        // still see the value under it).
        let mut f = VersionFilter::new(history, true);
        assert_eq!(
            run(&mut f, &[("k", 30, Delete), ("k", 10, Put)]),
            vec![30, 10]
        );
    }

    fn run(filter: &mut VersionFilter, versions: &[(&str, u64, Kind)]) -> Vec<u64> {
        versions
            .iter()
            .filter(|(k, s, kind)| filter.keep(&Bytes::copy_from_slice(k.as_bytes()), *s, *kind))
            .map(|(_, s, _)| *s)
            .collect()
    }

    #[test]
    fn keeps_newest_and_snapshot_visible_versions() {
        use Kind::*;
        let mut f = VersionFilter::new(live(&[5, 20]), false);
        let kept = run(
            &mut f,
            &[
                ("a", 30, Put),
                ("a", 25, Put),
                ("a", 18, Put),
                ("a", 4, Put),
                ("a", 3, Put),
                ("b", 2, Put),
            ],
        );
        // 30: current view; 25: no snapshot in [25, 30); 18: snapshot 20; 4: snapshot 5; 3: none.
        assert_eq!(kept, vec![30, 18, 4, 2]);
    }

    #[test]
    fn tombstones_drop_only_bottommost_and_below_the_oldest_snapshot() {
        use Kind::*;
        // value at 3, snapshot at 5, delete at 7: the snapshot still needs 3,
        // and so the tombstone must stay for current readers.
        let mut f = VersionFilter::new(live(&[5]), true);
        assert_eq!(run(&mut f, &[("k", 7, Delete), ("k", 3, Put)]), vec![7, 3]);
        // Without snapshots, a bottommost tombstone and all it shadows go.
        let mut f = VersionFilter::new(live(&[]), true);
        assert_eq!(
            run(&mut f, &[("k", 7, Delete), ("k", 3, Put), ("m", 1, Put)]),
            vec![1]
        );
        // Not bottommost: the tombstone must keep shadowing older data elsewhere.
        let mut f = VersionFilter::new(live(&[]), false);
        assert_eq!(run(&mut f, &[("k", 7, Delete), ("k", 3, Put)]), vec![7]);
        // A snapshot at or above the tombstone sees the deletion too.
        let mut f = VersionFilter::new(live(&[9]), true);
        assert_eq!(
            run(&mut f, &[("k", 7, Delete), ("k", 3, Put)]),
            Vec::<u64>::new()
        );
    }
}

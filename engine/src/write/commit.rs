//! The one ordered commit path.
//!
//! Writers queue their batches; the first writer to find no leader becomes
//! the leader and commits everything queued as one group: it assigns each
//! batch its sequence range, appends all records to the WAL with one write,
//! syncs once if any batch asked for `Sync`, inserts into the active memtable
//! and only then advances the visible sequence number past the whole group.
//! Groups are processed one at a time, so sequence order, WAL order and
//! memtable membership always agree, and a reader never sees half a batch.
//!
//! Leader work is plain blocking code with no await point: a cancelled
//! writer future can never leave a group half committed. Groups that must
//! `fdatasync` run on the blocking pool so the sync does not stall the async
//! workers.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::changes::ChangeBuffer;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::lock;
use crate::memtable::Memtable;
use crate::metrics::EngineMetrics;
use crate::options::WAL_BUFFER_BYTES;
use crate::read::view::ReadView;
use crate::signal::Wakeup;
use crate::write::batch::WriteBatch;
use crate::write::wal::record::encode_timed;
use crate::write::wal::{frame_record, WalWriter};
use crate::write::wal_tail::WalTail;

struct Pending {
    batch: WriteBatch,
    mode: LogMode,
    done: oneshot::Sender<Result<u64>>,
}

/// How far a batch must get in the log before it is acknowledged; a group
/// takes the furthest any of its batches asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogMode {
    /// In the writer's buffer (`Durability::Deferred`).
    Deferred,
    /// Handed to the OS (`Durability::Buffered`, and `Remote` before it
    /// waits for the shipper).
    Written,
    /// `fdatasync`ed (`Durability::Sync`).
    Synced,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    leader: bool,
    /// Bulk ingests waiting to hold the commit path: the leader hands its
    /// leadership to the first instead of committing the next group.
    holds: VecDeque<oneshot::Sender<()>>,
}

/// State only the leader touches (behind `log`).
struct LogState {
    wal: Option<WalWriter>,
    next_seq: u64,
    buf: Vec<u8>,
    /// The commit time of the last group: times never go back, so a restore
    /// to a time keeps a prefix of the log.
    last_time_ms: u64,
}

/// What a commit touches besides the log: the read view (active memtable,
/// visible seq) and the flusher's wakeup (a rotation freezes a memtable).
pub(crate) struct CommitDeps {
    pub view: Arc<ReadView>,
    pub health: Arc<Health>,
    pub metrics: Arc<EngineMetrics>,
    pub wal_dir: PathBuf,
    pub memtable_size: usize,
    pub flusher: Wakeup,
    /// Where the WAL ends, for the shipper and durability reports.
    pub tail: Arc<WalTail>,
    /// Change-feed subscribers get every batch once it is visible.
    pub changes: Arc<ChangeBuffer>,
}

/// The commit queue and the leader-owned log state.
pub(crate) struct CommitPath {
    queue: Mutex<Queue>,
    log: Mutex<LogState>,
    deps: CommitDeps,
}

impl CommitPath {
    /// A commit path appending to `wal` (`None`: nothing may commit) from
    /// sequence number `next_seq`.
    pub(crate) fn new(wal: Option<WalWriter>, next_seq: u64, deps: CommitDeps) -> CommitPath {
        CommitPath {
            queue: Mutex::new(Queue::default()),
            log: Mutex::new(LogState {
                wal,
                next_seq,
                buf: Vec::with_capacity(64 << 10),
                last_time_ms: 0,
            }),
            deps,
        }
    }

    /// Commits `batch`; resolves to the batch's last sequence number once
    /// the batch is durable (as asked) and visible.
    pub(crate) async fn commit(self: &Arc<Self>, batch: WriteBatch, mode: LogMode) -> Result<u64> {
        let sync = mode == LogMode::Synced;
        if !sync && self.lead_alone() {
            // Nobody leads and nobody waits: commit on this thread, with no
            // queue or channel hand-off, then lead whatever queued meanwhile.
            let result = self.commit_alone(&batch, mode);
            self.lead_groups();
            // No channel was awaited: spend the task's cooperative budget
            // here, so a loop of writes yields the worker now and then (it
            // would starve the shipper, and every Remote write, otherwise).
            tokio::task::consume_budget().await;
            return result;
        }
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut q = lock(&self.queue);
            q.pending.push(Pending {
                batch,
                mode,
                done: tx,
            });
            !std::mem::replace(&mut q.leader, true)
        };
        if lead {
            if sync {
                let this = self.clone();
                // Runs to completion even if this future is dropped.
                let _ = firn_store::clock::run_blocking(move || this.lead_groups()).await;
            } else {
                self.lead_groups();
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(Error::Background(
                "the commit was abandoned: its group's leader stopped".into(),
            ))
        })
    }

    /// Takes leadership if nobody holds it and nothing is queued.
    fn lead_alone(&self) -> bool {
        let mut q = lock(&self.queue);
        if q.leader || !q.pending.is_empty() || !q.holds.is_empty() {
            return false;
        }
        q.leader = true;
        true
    }

    /// Commits one batch as a group of its own (the caller leads).
    fn commit_alone(&self, batch: &WriteBatch, mode: LogMode) -> Result<u64> {
        if let Some(cause) = self.deps.health.fatal() {
            return Err(Error::stopped_by(cause));
        }
        let mut log = lock(&self.log);
        let result = self.write_group(&mut log, &[(batch, mode)]);
        drop(log);
        result
            .map(|first| first + batch.len() as u64 - 1)
            .map_err(|err| self.wal_failed(err))
    }

    /// Stops the database after a failed WAL write; the error for writers.
    fn wal_failed(&self, err: Error) -> Error {
        // The WAL may now hold a partial group: no later write may follow
        // it. Stop accepting writes; reopening recovers cleanly.
        tracing::error!("WAL write failed, no more writes are accepted: {err}");
        self.deps.health.fail(err);
        self.deps
            .health
            .stopped_error()
            .unwrap_or(Error::Closed(None))
    }

    /// Commits queued groups until the queue is empty, then gives up leadership.
    fn lead_groups(&self) {
        loop {
            let group = {
                let mut q = lock(&self.queue);
                if let Some(hold) = q.holds.pop_front() {
                    // Leadership passes to the ingest (`leader` stays set):
                    // writes queue up until it releases the hold.
                    if hold.send(()).is_ok() {
                        return;
                    }
                    continue;
                }
                if q.pending.is_empty() {
                    q.leader = false;
                    return;
                }
                std::mem::take(&mut q.pending)
            };
            self.commit_group(group);
        }
    }

    fn commit_group(&self, group: Vec<Pending>) {
        if let Some(cause) = self.deps.health.fatal() {
            for p in group {
                let _ = p.done.send(Err(Error::stopped_by(cause.clone())));
            }
            return;
        }
        let batches: Vec<(&WriteBatch, LogMode)> =
            group.iter().map(|p| (&p.batch, p.mode)).collect();
        let mut log = lock(&self.log);
        let result = self.write_group(&mut log, &batches);
        drop(log);
        drop(batches);
        match result {
            Ok(first) => {
                let mut last = first;
                for p in group {
                    last += p.batch.len() as u64;
                    let _ = p.done.send(Ok(last - 1));
                }
            }
            Err(err) => {
                let stopped = self.wal_failed(err);
                let mut error = Some(stopped);
                for p in group {
                    let e = error.take().unwrap_or_else(|| {
                        self.deps
                            .health
                            .stopped_error()
                            .unwrap_or(Error::Closed(None))
                    });
                    let _ = p.done.send(Err(e));
                }
            }
        }
    }

    /// Appends, syncs and applies one group (batches with how far each must
    /// get in the log). Returns the group's first seq.
    fn write_group(&self, log: &mut LogState, group: &[(&WriteBatch, LogMode)]) -> Result<u64> {
        if self.deps.view.current().active.size() >= self.deps.memtable_size
            || self.deps.tail.wants_rotation()
        {
            self.rotate_locked(log)?;
        }
        let LogState {
            wal,
            next_seq,
            buf,
            last_time_ms,
        } = log;
        let time_ms = firn_store::clock::now_ms().max(*last_time_ms);
        *last_time_ms = time_ms;
        let wal = wal.as_mut().ok_or(Error::ReadOnly)?;
        buf.clear();
        let group_first = *next_seq;
        let mut seq = group_first;
        let mut mode = LogMode::Deferred;
        for &(batch, asked) in group {
            let first = seq;
            frame_record(buf, |out| encode_timed(out, time_ms, first, batch));
            seq += batch.len() as u64;
            mode = mode.max(asked);
        }
        let any_sync = mode == LogMode::Synced;
        let written_before = wal.written();
        let wrote = if mode == LogMode::Deferred {
            wal.append_deferred(buf, WAL_BUFFER_BYTES)?
        } else {
            wal.append(buf)?;
            true
        };
        let group_last = seq - 1;
        if wrote {
            // The shipper reads what is in the file: it learns of deferred
            // bytes once they are there.
            self.deps.tail.appended(
                wal.segment(),
                wal.written(),
                group_last,
                wal.written() - written_before,
            );
        }
        self.deps
            .metrics
            .wal_bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        if buf.capacity() > (4 << 20) {
            *buf = Vec::with_capacity(64 << 10);
        }
        if any_sync {
            let started = Instant::now();
            wal.sync()?;
            self.deps.tail.synced(group_last);
            let m = &self.deps.metrics;
            m.wal_syncs.fetch_add(1, Ordering::Relaxed);
            m.wal_synced_batches
                .fetch_add(group.len() as u64, Ordering::Relaxed);
            m.wal_sync_nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        let active = self.deps.view.current().active.clone();
        let mut seq = group_first;
        for &(batch, _) in group {
            seq = active.apply(batch, seq, Some(time_ms));
        }
        *next_seq = seq;
        self.deps.view.publish_seq(seq - 1);
        if self.deps.changes.wanted() {
            let mut first = group_first;
            let numbered = group.iter().map(|&(batch, _)| {
                let at = first;
                first += batch.len() as u64;
                (at, batch)
            });
            self.deps.changes.append(Some(time_ms), numbered);
        }
        self.deps
            .metrics
            .batches
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        Ok(group_first)
    }

    /// Takes the commit path for a bulk ingest: waits for the group being
    /// committed, then holds every later write back (queued) until the
    /// [`CommitHold`] is released or dropped. Call it from a task that
    /// cannot be cancelled in the middle (a spawned one): a hold granted to
    /// a dropped future would keep writes queued.
    pub(crate) async fn hold(self: &Arc<Self>) -> Result<CommitHold> {
        let granted = {
            let mut q = lock(&self.queue);
            if q.leader {
                let (tx, rx) = oneshot::channel();
                q.holds.push_back(tx);
                Some(rx)
            } else {
                q.leader = true;
                None
            }
        };
        if let Some(rx) = granted {
            rx.await
                .map_err(|_| Error::Background("the commit path stopped".into()))?;
        }
        Ok(CommitHold {
            path: self.clone(),
            marker: None,
            released: false,
        })
    }

    /// Freezes the active memtable (if it holds anything) and starts a new WAL
    /// segment. Returns the frozen memtable's id.
    pub(crate) fn rotate(&self) -> Result<Option<u64>> {
        let mut log = lock(&self.log);
        self.rotate_locked(&mut log)
    }

    /// Hands deferred WAL bytes to the OS and tells the WAL tail.
    fn flush_deferred(&self, log: &mut LogState) -> Result<()> {
        let last = log.next_seq.saturating_sub(1);
        let Some(wal) = log.wal.as_mut() else {
            return Ok(());
        };
        if !wal.has_pending() {
            return Ok(());
        }
        let before = wal.written();
        wal.flush_pending()?;
        self.deps
            .tail
            .appended(wal.segment(), wal.written(), last, wal.written() - before);
        Ok(())
    }

    fn rotate_locked(&self, log: &mut LogState) -> Result<Option<u64>> {
        let current = self.deps.view.current();
        if current.active.is_empty() {
            return Ok(None);
        }
        self.flush_deferred(log)?;
        let written_upto = log.next_seq.saturating_sub(1);
        let wal = log.wal.as_mut().ok_or(Error::ReadOnly)?;
        // Older segments are complete and synced before a newer one exists, so
        // recovery can treat damage in any but the newest as corruption.
        wal.sync()?;
        self.deps.tail.synced(written_upto);
        let next_id = current.active.id + 1;
        let new_wal = WalWriter::create(&self.deps.wal_dir, next_id, wal.epoch())?;
        self.deps.tail.rotated(next_id, new_wal.written());
        *wal = new_wal;
        let frozen_id = current.active.id;
        self.deps
            .view
            .update(|s| s.rotated(Arc::new(Memtable::new(next_id, self.deps.memtable_size))));
        self.deps.flusher.wake();
        Ok(Some(frozen_id))
    }

    /// Syncs buffered WAL writes (the periodic sync of `Durability::Buffered`).
    pub(crate) fn sync_wal(&self) -> Result<()> {
        let mut log = lock(&self.log);
        self.flush_deferred(&mut log)?;
        let written_upto = log.next_seq.saturating_sub(1);
        if let Some(wal) = log.wal.as_mut() {
            if wal.needs_sync() {
                wal.sync()?;
                self.deps.tail.synced(written_upto);
                self.deps
                    .metrics
                    .wal_background_syncs
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Closes the WAL: no commit can append after this. Returns the last
    /// sequence number committed.
    pub(crate) fn close_wal(&self) -> u64 {
        let mut log = lock(&self.log);
        if let Err(e) = self.flush_deferred(&mut log) {
            tracing::error!("handing deferred WAL writes to the OS at close: {e}");
        }
        log.wal = None;
        log.next_seq.saturating_sub(1)
    }

    /// Bytes of the active WAL segment on stable storage, with its number.
    pub(crate) fn wal_synced_position(&self) -> Option<(u64, u64)> {
        let log = lock(&self.log);
        log.wal.as_ref().map(|w| (w.segment(), w.synced_len()))
    }
}

/// The commit path held by a bulk ingest: no write commits while it lives.
/// Released by [`CommitHold::release`] or on drop; either way the writes
/// queued meanwhile are then committed, in order.
pub(crate) struct CommitHold {
    path: Arc<CommitPath>,
    /// The sequence number the marker took and its commit time, once
    /// written.
    marker: Option<(u64, u64)>,
    released: bool,
}

impl CommitHold {
    /// Freezes the active memtable (so every earlier write is in a frozen
    /// one, or already in chunks) and appends the ingest's marker record
    /// (see `wal/FORMAT.md`), which takes the next sequence number. The
    /// marker's seq is not visible until the hold is released. Returns the
    /// seq and the id of the memtable frozen, if any.
    pub(crate) fn write_marker(&mut self) -> Result<(u64, Option<u64>)> {
        if self.marker.is_some() {
            return Err(Error::Background(
                "an ingest marker was written twice".into(),
            ));
        }
        let deps = &self.path.deps;
        let mut log = lock(&self.path.log);
        let frozen = self.path.rotate_locked(&mut log)?;
        let LogState {
            wal,
            next_seq,
            buf,
            last_time_ms,
        } = &mut *log;
        let wal = wal.as_mut().ok_or(Error::ReadOnly)?;
        let time_ms = firn_store::clock::now_ms().max(*last_time_ms);
        *last_time_ms = time_ms;
        let seq = *next_seq;
        buf.clear();
        frame_record(buf, |out| {
            encode_timed(out, time_ms, seq, &WriteBatch::ingest_marker())
        });
        if let Err(err) = wal.append(buf) {
            // As for a group: the log may hold a partial record now.
            tracing::error!("WAL write failed, no more writes are accepted: {err}");
            deps.health.fail(err);
            return Err(deps.health.stopped_error().unwrap_or(Error::Closed(None)));
        }
        deps.tail
            .appended(wal.segment(), wal.written(), seq, buf.len() as u64);
        deps.metrics
            .wal_bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        *next_seq = seq + 1;
        self.marker = Some((seq, time_ms));
        Ok((seq, frozen))
    }

    /// Makes the marker's seq (and so the published ingest) visible and
    /// commits the writes queued meanwhile.
    pub(crate) async fn release(mut self) {
        self.released = true;
        self.publish_marker();
        let path = self.path.clone();
        let _ = firn_store::clock::run_blocking(move || path.lead_groups()).await;
    }
}

impl CommitHold {
    /// Makes the marker visible (to subscribers too).
    fn publish_marker(&self) {
        if let Some((seq, time_ms)) = self.marker {
            let deps = &self.path.deps;
            deps.view.publish_seq(seq);
            if deps.changes.wanted() {
                deps.changes
                    .append(Some(time_ms), [(seq, &WriteBatch::ingest_marker())]);
            }
        }
    }
}

impl Drop for CommitHold {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.publish_marker();
        let path = self.path.clone();
        firn_store::clock::spawn_blocking_detached(move || path.lead_groups());
    }
}

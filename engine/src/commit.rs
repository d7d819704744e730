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

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::batch::{BatchOp, WriteBatch};
use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::memtable::{MemValue, Memtable};
use crate::state::ReadState;
use crate::wal::{frame_record, WalWriter};

struct Pending {
    batch: WriteBatch,
    sync: bool,
    done: oneshot::Sender<Result<u64>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    leader: bool,
}

/// State only the leader touches (behind `log`).
pub(crate) struct LogState {
    pub wal: Option<WalWriter>,
    pub next_seq: u64,
    buf: Vec<u8>,
}

/// Queue plus the leader-owned log state.
pub(crate) struct CommitPath {
    queue: Mutex<Queue>,
    pub(crate) log: Mutex<LogState>,
}

impl CommitPath {
    pub(crate) fn new(wal: Option<WalWriter>, next_seq: u64) -> CommitPath {
        CommitPath {
            queue: Mutex::new(Queue::default()),
            log: Mutex::new(LogState {
                wal,
                next_seq,
                buf: Vec::with_capacity(64 << 10),
            }),
        }
    }
}

/// Commits `batch`; resolves to the batch's last sequence number once the
/// batch is durable (as asked) and visible.
pub(crate) async fn commit(inner: &Arc<DbInner>, batch: WriteBatch, sync: bool) -> Result<u64> {
    let (tx, rx) = oneshot::channel();
    let lead = {
        let mut q = lock(&inner.commit.queue);
        q.pending.push(Pending {
            batch,
            sync,
            done: tx,
        });
        !std::mem::replace(&mut q.leader, true)
    };
    if lead {
        if sync {
            let inner = inner.clone();
            // Runs to completion even if this future is dropped.
            let _ = firn_store::clock::run_blocking(move || lead_groups(&inner)).await;
        } else {
            lead_groups(inner);
        }
    }
    rx.await
        .unwrap_or_else(|_| Err(Error::Closed(Some("the commit was abandoned".into()))))
}

/// Commits queued groups until the queue is empty, then gives up leadership.
fn lead_groups(inner: &DbInner) {
    loop {
        let group = {
            let mut q = lock(&inner.commit.queue);
            if q.pending.is_empty() {
                q.leader = false;
                return;
            }
            std::mem::take(&mut q.pending)
        };
        commit_group(inner, group);
    }
}

fn commit_group(inner: &DbInner, group: Vec<Pending>) {
    if let Some(reason) = inner.fatal_reason() {
        for p in group {
            let _ = p.done.send(Err(Error::Closed(Some(reason.clone()))));
        }
        return;
    }
    let mut log = lock(&inner.commit.log);
    let result = write_group(inner, &mut log, &group);
    drop(log);
    match result {
        Ok(seqs) => {
            for (p, last) in group.into_iter().zip(seqs) {
                let _ = p.done.send(Ok(last));
            }
        }
        Err(err) => {
            // The WAL may now hold a partial group: no later write may follow
            // it. Stop accepting writes; reopening recovers cleanly.
            let msg = format!("WAL write failed: {err}");
            inner.set_fatal(msg.clone());
            for p in group {
                let _ = p.done.send(Err(Error::Closed(Some(msg.clone()))));
            }
        }
    }
}

/// Appends, syncs and applies one group. Returns each batch's last seq.
fn write_group(inner: &DbInner, log: &mut LogState, group: &[Pending]) -> Result<Vec<u64>> {
    if inner.state().active.size() >= inner.opts.memtable_size {
        rotate_locked(inner, log)?;
    }
    let LogState { wal, next_seq, buf } = log;
    let wal = wal.as_mut().ok_or(Error::ReadOnly)?;
    buf.clear();
    let mut lasts = Vec::with_capacity(group.len());
    let mut seq = *next_seq;
    let mut any_sync = false;
    for p in group {
        let first = seq;
        frame_record(buf, |out| p.batch.encode_into(first, out));
        seq += p.batch.len() as u64;
        lasts.push(seq - 1);
        any_sync |= p.sync;
    }
    wal.append(buf)?;
    inner
        .metrics
        .wal_bytes
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    if buf.capacity() > (4 << 20) {
        *buf = Vec::with_capacity(64 << 10);
    }
    if any_sync {
        let started = Instant::now();
        wal.sync()?;
        let m = &inner.metrics;
        m.wal_syncs.fetch_add(1, Ordering::Relaxed);
        m.wal_synced_batches
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        m.wal_sync_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    let active = inner.state().active.clone();
    let mut seq = *next_seq;
    for p in group {
        seq = apply_batch(&active, &p.batch, seq);
    }
    *next_seq = seq;
    inner.visible_seq.store(seq - 1, Ordering::Release);
    inner
        .metrics
        .batches
        .fetch_add(group.len() as u64, Ordering::Relaxed);
    Ok(lasts)
}

/// Inserts a batch numbered from `seq`; returns the next free seq.
pub(crate) fn apply_batch(mem: &Memtable, batch: &WriteBatch, mut seq: u64) -> u64 {
    for op in batch.ops() {
        match op {
            BatchOp::Put { key, value } => {
                mem.insert(key.clone(), seq, MemValue::Put(value.clone()))
            }
            BatchOp::Delete { key } => mem.insert(key.clone(), seq, MemValue::Delete),
        }
        seq += 1;
    }
    seq
}

/// Freezes the active memtable (if it holds anything) and starts a new WAL
/// segment. Returns the frozen memtable's id.
pub(crate) fn rotate(inner: &DbInner) -> Result<Option<u64>> {
    let mut log = lock(&inner.commit.log);
    rotate_locked(inner, &mut log)
}

fn rotate_locked(inner: &DbInner, log: &mut LogState) -> Result<Option<u64>> {
    let current = inner.state();
    if current.active.is_empty() {
        return Ok(None);
    }
    let wal = log.wal.as_mut().ok_or(Error::ReadOnly)?;
    // Older segments are complete and synced before a newer one exists, so
    // recovery can treat damage in any but the newest as corruption.
    wal.sync()?;
    let next_id = current.active.id + 1;
    let new_wal = WalWriter::create(&inner.wal_dir, next_id, wal.epoch())?;
    *wal = new_wal;
    let frozen_id = current.active.id;
    inner.update_state(|s| {
        let mut frozen = Vec::with_capacity(s.frozen.len() + 1);
        frozen.push(s.active.clone());
        frozen.extend(s.frozen.iter().cloned());
        ReadState {
            active: Arc::new(Memtable::new(next_id)),
            frozen,
            tables: s.tables.clone(),
        }
    });
    inner.flush_wakeup.notify_one();
    Ok(Some(frozen_id))
}

/// Syncs buffered WAL writes (the periodic sync of `Durability::Buffered`).
pub(crate) fn sync_wal(inner: &DbInner) -> Result<()> {
    let mut log = lock(&inner.commit.log);
    if let Some(wal) = log.wal.as_mut() {
        if wal.needs_sync() {
            wal.sync()?;
            inner
                .metrics
                .wal_background_syncs
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

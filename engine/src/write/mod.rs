//! The write path: batches are checked, admitted (or stalled while flushes
//! and compactions catch up), then committed in order by the commit path —
//! WAL append, optional sync, memtable insert, visible sequence number.

pub(crate) mod batch;
pub(crate) mod commit;
pub(crate) mod ingest;
pub(crate) mod wal;
pub(crate) mod wal_tail;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::health::Health;
use crate::metrics::EngineMetrics;
use crate::options::{Durability, WriteOptions};
use crate::read::view::ReadView;
use crate::signal::DurableSeq;
use batch::WriteBatch;
use commit::{CommitPath, LogMode};
use wal_tail::WalTail;

/// Limits a write is checked against before it is admitted.
#[derive(Clone, Copy)]
pub(crate) struct WriteLimits {
    pub max_key_size: usize,
    pub max_value_size: usize,
    /// `Options::durability`, for writes that do not choose.
    pub durability: Durability,
    /// Frozen memtables awaiting upload before writers stall.
    pub max_frozen_memtables: usize,
    /// L0 chunks at which writers stall (`None`: never, as without
    /// automatic compaction nothing would drain them).
    pub l0_stop_writes: Option<usize>,
    /// `Options::default_ttl`: given to every put that names no TTL.
    pub default_ttl: Option<std::time::Duration>,
}

/// Stalls writers while too much awaits flushing or compaction; the
/// flusher and the compactor release them as they make room.
pub(crate) struct Backpressure {
    room: Notify,
    view: Arc<ReadView>,
    health: Arc<Health>,
    metrics: Arc<EngineMetrics>,
    limits: WriteLimits,
}

impl Backpressure {
    pub(crate) fn new(
        view: Arc<ReadView>,
        health: Arc<Health>,
        metrics: Arc<EngineMetrics>,
        limits: WriteLimits,
    ) -> Backpressure {
        Backpressure {
            room: Notify::new(),
            view,
            health,
            metrics,
            limits,
        }
    }

    /// Wakes stalled writers to look again (a flush or compaction finished).
    pub(crate) fn release(&self) {
        self.room.notify_waiters();
    }

    /// Waits while too many frozen memtables await upload or too many L0
    /// chunks await compaction; returns the stop error if the database
    /// stops meanwhile.
    async fn wait_for_room(&self) -> Result<()> {
        let mut stalled: Option<Instant> = None;
        loop {
            let notified = self.room.notified();
            let state = self.view.current();
            let l0_full = self
                .limits
                .l0_stop_writes
                .is_some_and(|stop| state.tables.l0.len() >= stop);
            if state.frozen.len() < self.limits.max_frozen_memtables && !l0_full {
                break;
            }
            self.health.check_writable()?;
            stalled.get_or_insert_with(Instant::now);
            tokio::select! {
                _ = notified => {}
                _ = self.health.wait_stopped() => {}
            }
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
}

/// How a writer waits for the bucket: the WAL's tail (to ask the shipper
/// to ship now) and the bucket-durable sequence number.
pub(crate) struct BucketWait {
    pub tail: Arc<WalTail>,
    pub durable: Arc<DurableSeq>,
    /// Whether the WAL is shipped at all (else only flushes reach the bucket).
    pub shipping: bool,
}

/// The writer's entry point: check, admit, commit, and for `Remote` writes
/// wait for the bucket.
pub(crate) struct WritePath {
    pub commit: Arc<CommitPath>,
    pub room: Arc<Backpressure>,
    pub bucket: BucketWait,
    health: Arc<Health>,
    limits: WriteLimits,
}

impl WritePath {
    pub(crate) fn new(
        commit: Arc<CommitPath>,
        room: Arc<Backpressure>,
        bucket: BucketWait,
        health: Arc<Health>,
        limits: WriteLimits,
    ) -> WritePath {
        WritePath {
            commit,
            room,
            bucket,
            health,
            limits,
        }
    }

    /// Applies `batch` atomically; returns the sequence number of its last op.
    pub(crate) async fn write(&self, batch: WriteBatch, opts: WriteOptions) -> Result<u64> {
        let durability = opts.durability.unwrap_or(self.limits.durability);
        if durability == Durability::Remote && !self.bucket.shipping {
            return Err(Error::InvalidArgument(
                "Durability::Remote needs WAL shipping (Options::wal_shipping)".into(),
            ));
        }
        self.health.check_writable()?;
        let batch = match self.limits.default_ttl {
            Some(ttl) => batch.with_default_ttl(ttl),
            None => batch,
        };
        batch.validate(self.limits.max_key_size, self.limits.max_value_size)?;
        self.room.wait_for_room().await?;
        let mode = match durability {
            Durability::Sync => LogMode::Synced,
            Durability::Buffered | Durability::Remote => LogMode::Written,
            Durability::Deferred => LogMode::Deferred,
        };
        let seq = self.commit.commit(batch, mode).await?;
        if durability == Durability::Remote {
            self.wait_durable(seq).await?;
        }
        Ok(seq)
    }

    /// Waits until `seq` is in the bucket (shipped, or flushed), asking the
    /// shipper to ship now. Fails if the database stops first (fenced: the
    /// write may never reach the bucket).
    pub(crate) async fn wait_durable(&self, seq: u64) -> Result<()> {
        let durable = &self.bucket.durable;
        if durable.get() >= seq {
            return Ok(());
        }
        if !self.bucket.shipping {
            return Err(Error::InvalidArgument(
                "waiting for the bucket needs WAL shipping (Options::wal_shipping)".into(),
            ));
        }
        self.bucket.tail.request_ship();
        tokio::select! {
            _ = durable.reached(seq) => return Ok(()),
            _ = self.health.wait_stopped() => {}
        }
        if durable.get() >= seq {
            return Ok(());
        }
        Err(self.health.stopped_error().unwrap_or(Error::Closed(None)))
    }
}

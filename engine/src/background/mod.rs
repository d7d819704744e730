//! A writer's background work, one subsystem per concern, each owning its
//! state and talking to the others through small handles:
//!
//! ```text
//! commit path ──rotate──► Flusher ──edit──► ManifestPublisher ──► read view
//!                           │  wakes            ▲         ▲
//!                           ▼                   │ edit    │ totals
//!                        Compactor ─────────────┘         │
//!                           │  wakes                      │
//!                           ▼                             │
//!                        Collector ───────────────────────┘
//! ```
//!
//! The flusher and the compactor release stalled writers
//! ([`Backpressure`](crate::write::Backpressure)); all of them report fatal
//! errors to [`Health`](crate::health::Health); store errors are retried by
//! one policy ([`retry::Retry`]).

pub(crate) mod collector;
pub(crate) mod compactor;
pub(crate) mod flusher;
pub(crate) mod follower;
pub(crate) mod publisher;
pub(crate) mod retry;
pub(crate) mod shipper;
pub(crate) mod uploads;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::health::Health;
use crate::lock;
use crate::signal::Wakeup;
use crate::write::commit::CommitPath;
use collector::Collector;
use compactor::Compactor;
use flusher::Flusher;
use publisher::ManifestPublisher;
use shipper::WalShipper;

/// The writer's background subsystems and their tasks.
pub(crate) struct Background {
    pub flusher: Arc<Flusher>,
    pub compactor: Arc<Compactor>,
    pub collector: Arc<Collector>,
    pub publisher: Arc<ManifestPublisher>,
    /// `None` when WAL shipping is off.
    pub shipper: Option<Arc<WalShipper>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Background {
    pub(crate) fn new(
        flusher: Arc<Flusher>,
        compactor: Arc<Compactor>,
        collector: Arc<Collector>,
        publisher: Arc<ManifestPublisher>,
        shipper: Option<Arc<WalShipper>>,
    ) -> Background {
        Background {
            flusher,
            compactor,
            collector,
            publisher,
            shipper,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Starts the flusher, the compactor, the collector (each with a first
    /// round: recovered memtables flush, pending work is planned, garbage
    /// from before is collected) and the periodic WAL sync of buffered writes.
    pub(crate) fn start(
        &self,
        wakeups: [&Wakeup; 3],
        commit: &Arc<CommitPath>,
        health: &Arc<Health>,
        sync_interval: Duration,
    ) {
        let flusher = tokio::spawn(self.flusher.clone().run());
        let compactor = tokio::spawn(self.compactor.clone().run());
        let collector = tokio::spawn(self.collector.clone().run());
        if let Some(shipper) = &self.shipper {
            lock(&self.tasks).push(tokio::spawn(shipper.clone().run()));
        }
        for wakeup in wakeups {
            wakeup.wake();
        }
        let commit = Arc::downgrade(commit);
        let health = health.clone();
        let syncer = tokio::spawn(async move {
            loop {
                firn_store::clock::sleep(sync_interval).await;
                let Some(commit) = commit.upgrade() else {
                    return;
                };
                if let Err(e) = commit.sync_wal() {
                    tracing::error!("periodic WAL sync failed, no more writes are accepted: {e}");
                    health.fail(e);
                    return;
                }
            }
        });
        lock(&self.tasks).extend([flusher, compactor, collector, syncer]);
    }

    /// Aborts every background task, running compactions included.
    pub(crate) fn stop(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        self.compactor.stop();
    }

    /// Aborts every background task and waits until each has ended: a task
    /// being polled on another thread when it is aborted runs on to its
    /// next await point, and may start a write there; after this none can.
    pub(crate) async fn stop_and_wait(&self) {
        let mut tasks: Vec<JoinHandle<()>> = lock(&self.tasks).drain(..).collect();
        tasks.extend(self.compactor.take_tasks());
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

//! The small handle background tasks are woken through.

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes one background task; wakes that arrive while it works coalesce
/// into one more round.
#[derive(Clone, Default)]
pub(crate) struct Wakeup(Arc<Notify>);

impl Wakeup {
    /// Asks the task for another round.
    pub(crate) fn wake(&self) {
        self.0.notify_one();
    }

    /// Waits for the next request.
    pub(crate) async fn wait(&self) {
        self.0.notified().await;
    }
}

/// The highest sequence number known to be in the bucket (in a shipped WAL
/// object or a flushed chunk); writers waiting for the bucket wait on it.
pub(crate) struct DurableSeq(tokio::sync::watch::Sender<u64>);

impl DurableSeq {
    pub(crate) fn new(seq: u64) -> DurableSeq {
        DurableSeq(tokio::sync::watch::channel(seq).0)
    }

    /// Everything up to `seq` is in the bucket.
    pub(crate) fn advance(&self, seq: u64) {
        self.0.send_if_modified(|v| {
            let moved = seq > *v;
            if moved {
                *v = seq;
            }
            moved
        });
    }

    /// The highest sequence number known to be in the bucket.
    pub(crate) fn get(&self) -> u64 {
        *self.0.borrow()
    }

    /// Resolves once `seq` is in the bucket.
    pub(crate) async fn reached(&self, seq: u64) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|v| *v >= seq).await;
    }
}

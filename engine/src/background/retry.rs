//! The one retry policy for object-store work the engine does.
//!
//! Who retries what (one owner per concern, never nested twice):
//!
//! - one request: the store's own retry layer (S3 requests are retried a
//!   few times with backoff inside OpenDAL; local and memory stores do not
//!   fail transiently);
//! - one operation (a chunk upload, a manifest publish, an identity check):
//!   [`Retry`], here, for as long as the store answers "try again" — an
//!   outage, however long — and not at all for a final answer (permission
//!   refused, bucket gone, bad request: `StoreError::is_retryable`), which
//!   reaches the caller and `upload_status()` at once. The manifest store is
//!   built with one attempt per publish, so its own bounded retries do not
//!   run underneath this one.
//!
//! Opening a database does not use [`Retry`]: its manifest reads and its
//! claim use the manifest store's own few attempts, then return the error,
//! since nobody should wait on an open forever.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::health::Health;
use crate::metrics::EngineMetrics;

/// Backoff settings and where retries are reported.
#[derive(Clone)]
pub(crate) struct Retry {
    first_delay: Duration,
    max_delay: Duration,
    health: Arc<Health>,
    metrics: Arc<EngineMetrics>,
}

impl Retry {
    pub(crate) fn new(
        first_delay: Duration,
        max_delay: Duration,
        health: Arc<Health>,
        metrics: Arc<EngineMetrics>,
    ) -> Retry {
        Retry {
            first_delay,
            max_delay,
            health,
            metrics,
        }
    }

    /// Runs `op` until it succeeds, retrying with exponential backoff and
    /// jitter while it fails with a retryable store error. A final answer
    /// from the store, fencing and every other error return at once; a
    /// store error is also left in `upload_status()` (cleared on success).
    pub(crate) async fn until_done<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut delay = self.first_delay;
        loop {
            match op().await {
                Ok(v) => {
                    self.health.clear_store_error();
                    return Ok(v);
                }
                Err(Error::Store(e)) if !e.is_retryable() => {
                    // A final answer: retrying would only hide it.
                    let err = Error::Store(e);
                    tracing::error!("{what} failed and cannot succeed by retrying: {err}");
                    self.health
                        .note_store_error(format!("{what} failed for good: {err}"));
                    return Err(err);
                }
                Err(err @ Error::Store(_)) => {
                    self.metrics.upload_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("{what} failed, retrying in {delay:?}: {err}");
                    self.health.note_store_error(format!("{what}: {err}"));
                    let jitter = firn_store::clock::jitter(0.25);
                    firn_store::clock::sleep(delay.mul_f64(1.0 + jitter)).await;
                    delay = (delay * 2).min(self.max_delay);
                }
                Err(err) => return Err(err),
            }
        }
    }
}

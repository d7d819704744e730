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

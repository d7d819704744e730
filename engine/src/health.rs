//! Whether the database still accepts writes, and why not.
//!
//! Every subsystem reports here instead of reaching into the others: a
//! fatal error (fencing, a lost bucket, a failed WAL write, a permanent
//! store refusal) stops all writes and wakes everyone waiting on progress
//! that will no longer come; the last store problem a background upload is
//! retrying through is kept for [`Db::upload_status`](crate::Db::upload_status).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::lock;

/// The database's health, shared by the handle and its subsystems.
pub(crate) struct Health {
    /// The error that stopped the database, kept with its kind.
    fatal: Mutex<Option<Arc<Error>>>,
    /// The store problem an upload is retrying through (cleared on success).
    store_error: Mutex<Option<String>>,
    /// Set once `close()` started or the last handle went away.
    closing: AtomicBool,
    /// Turns `true` with the first fatal error or when closing starts.
    stopped: watch::Sender<bool>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            fatal: Mutex::new(None),
            store_error: Mutex::new(None),
            closing: AtomicBool::new(false),
            stopped: watch::channel(false).0,
        }
    }
}

impl Health {
    /// Records `err` as the reason the database stopped (the first one
    /// wins) and wakes every waiter.
    pub(crate) fn fail(&self, err: Error) {
        {
            let mut fatal = lock(&self.fatal);
            if fatal.is_some() {
                return;
            }
            if err.is_fenced() {
                tracing::warn!("this writer was fenced and stops: {err}");
            } else {
                tracing::error!("the database stopped: {err}");
            }
            *fatal = Some(Arc::new(err));
        }
        self.stopped.send_replace(true);
    }

    /// The error that stopped the database, if one did.
    pub(crate) fn fatal(&self) -> Option<Arc<Error>> {
        lock(&self.fatal).clone()
    }

    /// True once a fatal error stopped the database.
    pub(crate) fn has_failed(&self) -> bool {
        lock(&self.fatal).is_some()
    }

    /// The error a caller gets once the database stopped: fencing as
    /// itself (callers test for it), anything else as `Closed` carrying the
    /// original error.
    pub(crate) fn stopped_error(&self) -> Option<Error> {
        self.fatal().map(Error::stopped_by)
    }

    /// Resolves once a fatal error stopped the database or it began to
    /// close: whoever waits for progress must look again.
    pub(crate) async fn wait_stopped(&self) {
        let mut rx = self.stopped.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Marks the database as closing: no new writes are taken.
    pub(crate) fn set_closing(&self) {
        self.closing.store(true, Ordering::Release);
        self.stopped.send_replace(true);
    }

    /// True once closing started.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// `Ok` while writes are accepted.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if let Some(err) = self.stopped_error() {
            return Err(err);
        }
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::Closed(None));
        }
        Ok(())
    }

    /// Remembers the store problem a background upload is retrying through.
    pub(crate) fn note_store_error(&self, msg: String) {
        *lock(&self.store_error) = Some(msg);
    }

    /// Uploads are healthy again.
    pub(crate) fn clear_store_error(&self) {
        lock(&self.store_error).take();
    }

    /// The last store problem, while uploads are retrying.
    pub(crate) fn store_error(&self) -> Option<String> {
        lock(&self.store_error).clone()
    }
}

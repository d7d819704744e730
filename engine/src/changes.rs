//! The change feed: every committed batch, in sequence order
//! ([`Db::subscribe`](crate::Db::subscribe)).
//!
//! While anyone subscribes, the commit path (a writer) or the follower (a
//! read-only handle) appends each batch to a [`ChangeBuffer`] as it becomes
//! visible: a ring of the newest batches bounded in bytes
//! (`Options::change_buffer_bytes`) and shared by every subscriber, each of
//! which holds only its position. A subscriber reads from the ring while
//! the ring still holds the batch after its position; one that starts
//! earlier, or falls further behind than the ring reaches, reads the shipped
//! WAL in the bucket instead (a writer ships what it needs first), then
//! rejoins the ring. The shipped WAL holds every write only under a
//! history retention window (`Db::set_history_retention`: flushes wait for
//! shipping, and GC keeps the objects for the window); without one, writes
//! flushed before the shipper reached them, or collected since, are not
//! there. When the writes after a position are in neither place (or a
//! writer does not ship its WAL), the subscriber gets [`Error::Lagged`]
//! saying so: a slow subscriber costs the process no memory beyond the
//! ring.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::db::DbCore;
use crate::error::{Error, Result};
use crate::lock;
use crate::watch::Watch;
use crate::write::batch::WriteBatch;

/// One committed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The sequence number of the batch's first op.
    pub first_seq: u64,
    /// The sequence number of its last op (`first_seq + ops - 1`).
    pub last_seq: u64,
    /// When its commit group was written (ms since the Unix epoch); `None`
    /// for batches read from shipped WAL objects of format version 1.
    pub time_ms: Option<u64>,
    /// Its puts and deletes, in order.
    pub batch: WriteBatch,
}

impl Change {
    fn new(first_seq: u64, time_ms: Option<u64>, batch: WriteBatch) -> Change {
        Change {
            first_seq,
            last_seq: first_seq + (batch.len() as u64).max(1) - 1,
            time_ms,
            batch,
        }
    }

    /// True for a bulk ingest's place in the log: its entries are in chunks
    /// (readable at `first_seq`), not in this batch, which holds only the
    /// ingest's marker.
    pub fn is_ingest(&self) -> bool {
        self.batch.is_ingest_marker()
    }
}

/// The newest committed batches, shared by the subscribers.
pub(crate) struct ChangeBuffer {
    ring: Mutex<Ring>,
    subscribers: AtomicUsize,
    capacity: usize,
    closed: AtomicBool,
    notify: Notify,
}

#[derive(Default)]
struct Ring {
    changes: VecDeque<Arc<Change>>,
    bytes: usize,
    /// Every batch from this seq on is in the ring (`None`: nothing was
    /// appended since the first subscriber came).
    complete_from: Option<u64>,
}

/// Where a subscriber's next batch is.
enum Lookup {
    Found(Arc<Change>),
    /// Nothing after the position was appended yet.
    NotYet,
    /// The ring does not reach back to the position.
    Older,
}

impl ChangeBuffer {
    /// A buffer holding up to `capacity` bytes of batches.
    pub(crate) fn new(capacity: usize) -> ChangeBuffer {
        ChangeBuffer {
            ring: Mutex::new(Ring::default()),
            subscribers: AtomicUsize::new(0),
            capacity,
            closed: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Whether anyone subscribes (nothing is appended otherwise).
    #[inline]
    pub(crate) fn wanted(&self) -> bool {
        self.subscribers.load(Ordering::Acquire) > 0
    }

    /// Appends batches that just became visible, in seq order: each
    /// `(first seq, batch)` with the commit time.
    pub(crate) fn append<'b>(
        &self,
        time_ms: Option<u64>,
        batches: impl IntoIterator<Item = (u64, &'b WriteBatch)>,
    ) {
        let mut ring = lock(&self.ring);
        for (first, batch) in batches {
            let change = Arc::new(Change::new(first, time_ms, batch.clone()));
            if ring
                .changes
                .back()
                .is_some_and(|last| last.last_seq + 1 != first)
            {
                // A gap (a follower that jumped ahead to a newer manifest):
                // the ring holds only what follows it, never a gap.
                *ring = Ring::default();
            }
            ring.complete_from.get_or_insert(first);
            ring.bytes += batch.approximate_size();
            ring.changes.push_back(change);
        }
        while ring.bytes > self.capacity && ring.changes.len() > 1 {
            if let Some(old) = ring.changes.pop_front() {
                ring.bytes -= old.batch.approximate_size();
                ring.complete_from = Some(old.last_seq + 1);
            }
        }
        drop(ring);
        self.notify.notify_waiters();
    }

    /// Ends every subscription (the database closed).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn register(self: &Arc<Self>) -> Registration {
        self.subscribers.fetch_add(1, Ordering::AcqRel);
        Registration {
            buffer: self.clone(),
        }
    }

    /// The batch holding write `after + 1`.
    fn lookup(&self, after: u64) -> Lookup {
        let ring = lock(&self.ring);
        let Some(from) = ring.complete_from else {
            return Lookup::NotYet;
        };
        if from > after.saturating_add(1) {
            return Lookup::Older;
        }
        let at = ring.changes.partition_point(|c| c.last_seq <= after);
        match ring.changes.get(at) {
            Some(c) if c.first_seq <= after.saturating_add(1) => Lookup::Found(c.clone()),
            // Never hand out a batch past a gap.
            Some(_) => Lookup::Older,
            None => Lookup::NotYet,
        }
    }
}

/// Counts a subscriber while it lives; the last one empties the ring.
struct Registration {
    buffer: Arc<ChangeBuffer>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut ring = lock(&self.buffer.ring);
        if self.buffer.subscribers.fetch_sub(1, Ordering::AcqRel) == 1 {
            *ring = Ring::default();
        }
    }
}

/// How often a subscriber waiting for the next batch checks that the
/// database is still open (wakeups come with every batch).
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// A subscriber: yields every committed batch after its position, in seq
/// order, each exactly once ([`Db::subscribe`](crate::Db::subscribe)).
pub struct Subscription {
    core: Arc<DbCore>,
    buffer: Arc<ChangeBuffer>,
    _registration: Registration,
    /// Every write through this seq was returned.
    position: u64,
    /// The shipped WAL, while the ring does not reach back far enough.
    history: Option<Watch>,
}

impl Subscription {
    pub(crate) fn new(core: Arc<DbCore>, buffer: Arc<ChangeBuffer>, from_seq: u64) -> Subscription {
        let registration = buffer.register();
        Subscription {
            core,
            buffer,
            _registration: registration,
            position: from_seq.saturating_sub(1),
            history: None,
        }
    }

    /// Every write through this sequence number was returned: save it, and
    /// resume with `subscribe(position + 1)`.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next batch, waiting until one is committed. Fails with
    /// [`Error::Closed`] once the database is closed, and with
    /// [`Error::Lagged`] when the writes after the position are no longer
    /// anywhere to be read.
    pub async fn next(&mut self) -> Result<Change> {
        let buffer = self.buffer.clone();
        loop {
            let mut notified = pin!(buffer.notify.notified());
            notified.as_mut().enable();
            if self.buffer.closed.load(Ordering::Acquire) {
                return Err(Error::Closed(None));
            }
            match self.buffer.lookup(self.position) {
                Lookup::Found(change) => {
                    self.history = None;
                    return Ok(self.returned((*change).clone()));
                }
                Lookup::NotYet if self.position >= self.core.visible_seq() => {
                    tokio::select! {
                        _ = notified => {}
                        _ = firn_store::clock::sleep(IDLE_CHECK) => {}
                    }
                }
                // Committed before the ring started, or evicted from it.
                Lookup::NotYet | Lookup::Older => {
                    if let Some(change) = self.read_history().await? {
                        return Ok(self.returned(change));
                    }
                }
            }
        }
    }

    fn returned(&mut self, change: Change) -> Change {
        self.position = change.last_seq;
        change
    }

    /// The batch after the position from the shipped WAL (after making a
    /// writer ship it); `None` when the ring has it by now.
    async fn read_history(&mut self) -> Result<Option<Change>> {
        let wanted = self.position + 1;
        if self.core.writer_ships() == Some(false) {
            return Err(self.lagged("this writer does not ship its WAL (Options::wal_shipping)"));
        }
        if self.history.is_none() {
            let watch = self
                .core
                .watch_shipped(self.position)
                .await
                .map_err(|e| self.lagged(&e.to_string()))?;
            self.history = Some(watch);
        }
        loop {
            let Some(watch) = self.history.as_mut() else {
                return Ok(None);
            };
            if let Some(b) = watch.try_next_batch().await? {
                return Ok(Some(Change::new(b.first, b.time_ms, b.batch)));
            }
            // Not shipped yet: a writer ships it now (a follower applies
            // only what is shipped, so its ring has it by now).
            if !self.core.ship_through(wanted).await? {
                self.history = None;
                return Ok(None);
            }
            if matches!(self.buffer.lookup(self.position), Lookup::Found(_)) {
                self.history = None;
                return Ok(None);
            }
        }
    }

    fn lagged(&self, why: &str) -> Error {
        Error::Lagged {
            position: self.position,
            detail: format!(
                "the writes after it are no longer in the change buffer \
                 (Options::change_buffer_bytes, {} bytes) nor readable from the bucket: {why} \
                 (the shipped WAL holds every write only under a history retention window, \
                 Db::set_history_retention)",
                self.buffer.capacity
            ),
        }
    }
}

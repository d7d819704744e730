//! What the commit path has written to the local WAL, for the WAL shipper
//! and for durability reports: where the WAL ends, which sequence number is
//! synced, and what awaits shipping since when.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::lock;

/// Where the local WAL ends: the active segment, its length, and the last
/// sequence number written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TailPosition {
    pub segment: u64,
    pub written: u64,
    pub last_seq: u64,
}

#[derive(Default)]
struct Pending {
    tail: TailPosition,
    /// When the oldest write not yet taken by the shipper was appended.
    oldest: Option<Instant>,
    /// Bytes appended since the shipper last took the tail.
    bytes: u64,
    /// When the oldest write the shipper took, and has not finished
    /// shipping, was appended.
    shipping: Option<Instant>,
}

/// Shared by the commit path (which appends) and the shipper (which takes).
pub(crate) struct WalTail {
    pending: Mutex<Pending>,
    synced_seq: AtomicU64,
    /// Ship now: enough bytes are pending, or a writer waits for the bucket.
    urgent: AtomicBool,
    wake: Notify,
    /// Pending WAL bytes that make shipping urgent: `Options::wal_ship_bytes`
    /// of shipped (compressed) object, in WAL bytes at the compression
    /// ratio the shipper last saw.
    urgent_bytes: AtomicU64,
    /// Whether anyone ships (else nothing is tracked as pending).
    shipping: bool,
    /// Objects shipped from the active segment.
    segment_objects: AtomicU64,
    /// `Options::max_unflushed_wal_objects`: that many make the commit path
    /// rotate (and so flush) the active memtable.
    object_limit: u64,
    /// The segment the shipper is at: every older one is in the bucket
    /// whole (shipped, or in the bucket before this writer opened).
    shipping_segment: AtomicU64,
    /// Signalled when `shipping_segment` moves.
    passed: Notify,
}

impl WalTail {
    /// A tail at `start` (the segment a writer just created), everything
    /// before it synced.
    pub(crate) fn new(
        start: TailPosition,
        ship_bytes: u64,
        shipping: bool,
        object_limit: u64,
    ) -> WalTail {
        WalTail {
            pending: Mutex::new(Pending {
                tail: start,
                oldest: None,
                bytes: 0,
                shipping: None,
            }),
            synced_seq: AtomicU64::new(start.last_seq),
            urgent: AtomicBool::new(false),
            wake: Notify::new(),
            urgent_bytes: AtomicU64::new(ship_bytes),
            shipping,
            segment_objects: AtomicU64::new(0),
            object_limit: object_limit.max(1),
            shipping_segment: AtomicU64::new(0),
            passed: Notify::new(),
        }
    }

    /// The shipper is at `segment`: every older segment is in the bucket.
    pub(crate) fn shipping_from(&self, segment: u64) {
        self.shipping_segment.fetch_max(segment, Ordering::AcqRel);
        self.passed.notify_waiters();
    }

    /// True when every write of `segment` is in the bucket's shipped WAL, or
    /// nobody ships (WAL shipping off).
    pub(crate) fn is_shipped_past(&self, segment: u64) -> bool {
        !self.shipping || self.shipping_segment.load(Ordering::Acquire) > segment
    }

    /// Waits until every write of `segment` is in the shipped WAL (asking
    /// the shipper to ship at once), checking `give_up` at each step.
    pub(crate) async fn wait_shipped_past(&self, segment: u64, give_up: impl Fn() -> bool) {
        loop {
            let passed = self.passed.notified();
            if self.is_shipped_past(segment) || give_up() {
                return;
            }
            self.request_ship();
            // A bounded wait: `give_up` is checked again even if the
            // shipper stopped without a word.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), passed).await;
        }
    }

    /// The commit path started `segment` (`written` bytes: its header) for
    /// the next memtable: the tail is there now, so the shipper moves past
    /// the older one even if nothing is appended for a while.
    pub(crate) fn rotated(&self, segment: u64, written: u64) {
        let mut p = lock(&self.pending);
        if p.tail.segment != segment {
            self.segment_objects.store(0, Ordering::Relaxed);
        }
        p.tail.segment = segment;
        p.tail.written = written;
    }

    /// The commit path appended `bytes` to `segment`, which is now
    /// `written` bytes long and ends with sequence number `last_seq`.
    pub(crate) fn appended(&self, segment: u64, written: u64, last_seq: u64, bytes: u64) {
        let mut p = lock(&self.pending);
        if p.tail.segment != segment {
            self.segment_objects.store(0, Ordering::Relaxed);
        }
        p.tail = TailPosition {
            segment,
            written,
            last_seq,
        };
        if !self.shipping {
            return;
        }
        p.bytes = p.bytes.saturating_add(bytes);
        let first = p.oldest.is_none();
        if first {
            p.oldest = Some(Instant::now());
        }
        let full = p.bytes >= self.urgent_bytes.load(Ordering::Relaxed);
        drop(p);
        if full {
            self.urgent.store(true, Ordering::Release);
        }
        if first || full {
            self.wake.notify_one();
        }
    }

    /// Sets how many pending WAL bytes make shipping urgent.
    pub(crate) fn set_urgent_bytes(&self, bytes: u64) {
        self.urgent_bytes.store(bytes.max(1), Ordering::Relaxed);
    }

    /// How many pending WAL bytes make shipping urgent.
    pub(crate) fn urgent_bytes(&self) -> u64 {
        self.urgent_bytes.load(Ordering::Relaxed)
    }

    /// Marks writes as pending from now (recovered at open, not yet in the
    /// bucket), so the shipper ships them within the interval.
    pub(crate) fn mark_pending(&self) {
        if !self.shipping {
            return;
        }
        lock(&self.pending).oldest.get_or_insert_with(Instant::now);
        self.wake.notify_one();
    }

    /// Everything up to `seq` is on stable storage locally.
    pub(crate) fn synced(&self, seq: u64) {
        self.synced_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// The last sequence number synced locally.
    pub(crate) fn synced_seq(&self) -> u64 {
        self.synced_seq.load(Ordering::Acquire)
    }

    /// When the oldest write not yet taken by the shipper was appended.
    pub(crate) fn oldest_pending(&self) -> Option<Instant> {
        lock(&self.pending).oldest
    }

    /// When the oldest write not yet in the bucket (pending, or being
    /// shipped) was appended.
    pub(crate) fn oldest_unshipped(&self) -> Option<Instant> {
        let p = lock(&self.pending);
        match (p.shipping, p.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The shipper shipped an object holding writes of `segment`.
    pub(crate) fn shipped_object(&self, segment: u64) {
        let p = lock(&self.pending);
        if p.tail.segment == segment {
            self.segment_objects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True when the active segment's writes went out in so many objects
    /// that its memtable should be flushed: what a writer taking over
    /// replays stays bounded however small and frequent the shipments.
    pub(crate) fn wants_rotation(&self) -> bool {
        self.segment_objects.load(Ordering::Relaxed) >= self.object_limit
    }

    /// The shipper finished shipping what it took.
    pub(crate) fn shipped(&self) {
        lock(&self.pending).shipping = None;
    }

    /// Takes everything pending: the tail to ship up to. The next append
    /// starts a new pending period.
    pub(crate) fn take(&self) -> TailPosition {
        let mut p = lock(&self.pending);
        if let Some(oldest) = p.oldest.take() {
            p.shipping.get_or_insert(oldest);
        }
        p.bytes = 0;
        self.urgent.store(false, Ordering::Release);
        p.tail
    }

    /// Asks the shipper to ship now (a writer waits for the bucket).
    pub(crate) fn request_ship(&self) {
        self.urgent.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// True when the shipper should not wait for the interval.
    pub(crate) fn is_urgent(&self) -> bool {
        self.urgent.load(Ordering::Acquire)
    }

    /// Resolves when something was appended to an idle tail or shipping
    /// became urgent (or a wake was stored earlier).
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }
}

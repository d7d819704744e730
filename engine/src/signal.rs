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

/// The highest sequence number through which every write is known to be
/// in the bucket (in shipped WAL objects or flushed chunks); writers waiting
/// for the bucket wait on it. It only ever covers an unbroken prefix: a
/// shipped range that does not continue it is held back until what lies
/// between arrives (a flush, or the missing shipment), so a gap can never
/// acknowledge a `Remote` write.
pub(crate) struct DurableSeq {
    through: tokio::sync::watch::Sender<u64>,
    /// Shipped ranges not yet joined to the prefix: first → last.
    detached: std::sync::Mutex<std::collections::BTreeMap<u64, u64>>,
}

impl DurableSeq {
    pub(crate) fn new(seq: u64) -> DurableSeq {
        DurableSeq {
            through: tokio::sync::watch::channel(seq).0,
            detached: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Everything up to `seq` is in the bucket (a flush).
    pub(crate) fn advance(&self, seq: u64) {
        self.add_range(0, seq);
    }

    /// Writes `first..=last` are in the bucket (a shipped object).
    pub(crate) fn add_range(&self, first: u64, last: u64) {
        let mut detached = crate::lock(&self.detached);
        let mut through = *self.through.borrow();
        if first > through.saturating_add(1) {
            let end = detached.entry(first).or_insert(last);
            *end = (*end).max(last);
            tracing::warn!(
                "shipped writes {first}..={last} do not continue the bucket's writes through \
                 {through}: held back until the writes between arrive"
            );
            return;
        }
        through = through.max(last);
        // Join the ranges that now continue the prefix.
        while let Some((&f, &l)) = detached.first_key_value() {
            if f > through.saturating_add(1) {
                break;
            }
            detached.remove(&f);
            through = through.max(l);
        }
        self.through.send_if_modified(|v| {
            let moved = through > *v;
            if moved {
                *v = through;
            }
            moved
        });
    }

    /// The highest sequence number through which every write is in the bucket.
    pub(crate) fn get(&self) -> u64 {
        *self.through.borrow()
    }

    /// Resolves once `seq` is in the bucket.
    pub(crate) async fn reached(&self, seq: u64) {
        let mut rx = self.through.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|v| *v >= seq).await;
    }
}

#[cfg(test)]
mod tests {
    use super::DurableSeq;

    #[test]
    fn the_durable_seq_covers_only_an_unbroken_prefix() {
        let d = DurableSeq::new(10);
        d.add_range(11, 15);
        assert_eq!(d.get(), 15);
        // A range after a gap is held back...
        d.add_range(20, 25);
        assert_eq!(d.get(), 15);
        d.add_range(26, 30);
        assert_eq!(d.get(), 15);
        // ...until the gap is filled, by a shipment or a flush.
        d.add_range(16, 19);
        assert_eq!(d.get(), 30);
        d.add_range(40, 41);
        d.advance(39);
        assert_eq!(d.get(), 41);
        // Ranges already covered change nothing.
        d.add_range(5, 12);
        d.advance(3);
        assert_eq!(d.get(), 41);
    }
}

//! Which sequence numbers live snapshots and iterators read at.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::lock;

/// Live snapshot sequence numbers (with counts). Compaction keeps every
/// version a live snapshot can see; open iterators count as snapshots.
#[derive(Default)]
pub(crate) struct SnapshotRegistry {
    live: Mutex<BTreeMap<u64, usize>>,
}

impl SnapshotRegistry {
    pub(crate) fn pin(self: &Arc<Self>, seq: u64) -> SnapshotPin {
        *lock(&self.live).entry(seq).or_insert(0) += 1;
        SnapshotPin {
            registry: self.clone(),
            seq,
        }
    }

    /// Every live snapshot sequence number, ascending.
    pub(crate) fn live(&self) -> Vec<u64> {
        lock(&self.live).keys().copied().collect()
    }
}

/// Keeps one sequence number registered while it lives.
pub(crate) struct SnapshotPin {
    registry: Arc<SnapshotRegistry>,
    seq: u64,
}

impl SnapshotPin {
    /// The pinned sequence number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for SnapshotPin {
    fn drop(&mut self) {
        let mut live = lock(&self.registry.live);
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

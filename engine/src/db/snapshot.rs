//! Snapshots: reads at a fixed sequence number.

use std::sync::Arc;

use bytes::Bytes;

use crate::db::Db;
use crate::error::Result;
use crate::read::iter::DbIterator;
use crate::read::snapshot::SnapshotPin;
use crate::read::view::ReadState;
use crate::read::ReadPoint;

/// A consistent read-only view of the database at one sequence number.
///
/// Reads through a snapshot see exactly the writes committed before it was
/// taken, across flushes, never half a batch. It lives until dropped or the
/// database closes; it does not survive a reopen (a checkpoint does).
pub struct Snapshot {
    db: Db,
    pin: SnapshotPin,
    /// On a read-only handle: the state the snapshot was taken in.
    state: Option<Arc<ReadState>>,
}

impl Snapshot {
    pub(crate) fn new(db: Db, pin: SnapshotPin, state: Option<Arc<ReadState>>) -> Snapshot {
        Snapshot { db, pin, state }
    }

    fn point(&self) -> ReadPoint {
        self.db.point_at(self.pin.seq(), self.state.as_ref())
    }

    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.pin.seq()
    }

    /// The value of `key` as of this snapshot.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.db.get_point(key.as_ref(), self.point()).await
    }

    /// The values of `keys` as of this snapshot (see [`Db::multi_get`]).
    pub async fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.db.multi_get_at(keys, self.point()).await
    }

    /// Scans `range` as of this snapshot.
    pub fn scan<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<DbIterator> {
        self.db.scan_at(range, self.point())
    }

    /// Scans every key starting with `prefix` as of this snapshot.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<DbIterator> {
        self.db.scan_prefix_at(prefix.as_ref(), self.point())
    }
}

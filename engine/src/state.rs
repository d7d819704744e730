//! The read view: which memtables and chunks a read consults.

use std::sync::Arc;

use crate::memtable::Memtable;
use crate::table::TableSet;

/// An immutable view swapped atomically on memtable rotation and after each
/// flush. A read clones the `Arc` and sees one consistent set of sources.
pub(crate) struct ReadState {
    /// The memtable taking writes.
    pub active: Arc<Memtable>,
    /// Frozen memtables awaiting (or in) flush, newest first.
    pub frozen: Vec<Arc<Memtable>>,
    /// The chunks of the current manifest version.
    pub tables: Arc<TableSet>,
}

impl ReadState {
    /// Memtables newest first: the active one, then the frozen ones.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Arc<Memtable>> {
        std::iter::once(&self.active).chain(self.frozen.iter())
    }
}

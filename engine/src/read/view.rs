//! The read view: which memtables and chunks a read consults, in which
//! order, and up to which sequence number.
//!
//! The commit path swaps in a new active memtable when it rotates; the
//! manifest publisher swaps in a new table set (and drops the flushed
//! memtable) after each publish. A read clones one [`ReadState`] and sees
//! one consistent set of sources for its whole life.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use firn_manifest::Manifest;

use crate::memtable::Memtable;
use crate::read::table::{run_table_for, ChunkTable, TableSet};

/// An immutable view swapped atomically on memtable rotation and after each
/// publish.
pub(crate) struct ReadState {
    /// The memtable taking writes.
    pub active: Arc<Memtable>,
    /// Frozen memtables awaiting (or in) flush, newest first.
    pub frozen: Vec<Arc<Memtable>>,
    /// The chunks of the current manifest version.
    pub tables: Arc<TableSet>,
}

/// One layer of the read order.
pub(crate) enum Layer<'a> {
    /// A memtable (the active one first, then the frozen ones, newest first).
    Mem(&'a Arc<Memtable>),
    /// One L0 chunk (newest first).
    L0(&'a Arc<ChunkTable>),
    /// One sorted run (newest first): key-ordered, non-overlapping chunks.
    Run(&'a [Arc<ChunkTable>]),
}

impl ReadState {
    /// Every source of data, newest first: memtables, then L0 chunks
    /// newest first, then the sorted runs newest first. This is the one
    /// place the read order is written; point reads, batched reads and
    /// scans all walk it.
    pub(crate) fn layers(&self) -> impl Iterator<Item = Layer<'_>> {
        let mems = self.memtables().map(Layer::Mem);
        let l0 = self.tables.l0.iter().map(Layer::L0);
        let runs = self.tables.runs.iter().map(|r| Layer::Run(r.as_slice()));
        mems.chain(l0).chain(runs)
    }

    /// Memtables newest first: the active one, then the frozen ones.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Arc<Memtable>> {
        std::iter::once(&self.active).chain(self.frozen.iter())
    }

    /// The chunks that may hold `key`, in read order (L0 chunks whose
    /// range covers it, then the one chunk of each run that may).
    pub(crate) fn chunk_candidates<'a>(
        &'a self,
        key: &'a [u8],
    ) -> impl Iterator<Item = &'a Arc<ChunkTable>> + 'a {
        self.layers().filter_map(move |layer| match layer {
            Layer::Mem(_) => None,
            Layer::L0(t) => t.covers(key).then_some(t),
            Layer::Run(run) => run_table_for(run, key),
        })
    }

    /// `self` with `tables` and without the frozen memtable `flushed`.
    pub(crate) fn with_tables(&self, tables: Arc<TableSet>, flushed: Option<u64>) -> ReadState {
        ReadState {
            active: self.active.clone(),
            frozen: self
                .frozen
                .iter()
                .filter(|m| Some(m.id) != flushed)
                .cloned()
                .collect(),
            tables,
        }
    }

    /// `self` with the active memtable frozen and `next` taking writes.
    pub(crate) fn rotated(&self, next: Arc<Memtable>) -> ReadState {
        let mut frozen = Vec::with_capacity(self.frozen.len() + 1);
        frozen.push(self.active.clone());
        frozen.extend(self.frozen.iter().cloned());
        ReadState {
            active: next,
            frozen,
            tables: self.tables.clone(),
        }
    }
}

/// The current [`ReadState`] and the newest sequence number readers see.
pub(crate) struct ReadView {
    state: RwLock<Arc<ReadState>>,
    visible_seq: AtomicU64,
}

impl ReadView {
    pub(crate) fn new(state: ReadState, visible_seq: u64) -> ReadView {
        ReadView {
            state: RwLock::new(Arc::new(state)),
            visible_seq: AtomicU64::new(visible_seq),
        }
    }

    /// The current state (one `Arc` clone).
    pub(crate) fn current(&self) -> Arc<ReadState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The manifest version of the current table set.
    pub(crate) fn manifest(&self) -> Arc<Manifest> {
        self.current().tables.manifest.clone()
    }

    /// Atomically replaces the state with `f(current)`.
    pub(crate) fn update(&self, f: impl FnOnce(&ReadState) -> ReadState) {
        let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
        let next = f(&guard);
        *guard = Arc::new(next);
    }

    /// The newest sequence number a read sees.
    pub(crate) fn visible_seq(&self) -> u64 {
        self.visible_seq.load(Ordering::Acquire)
    }

    /// Makes everything up to `seq` visible (the commit path, after a
    /// group is in the memtable).
    pub(crate) fn publish_seq(&self, seq: u64) {
        self.visible_seq.store(seq, Ordering::Release);
    }
}

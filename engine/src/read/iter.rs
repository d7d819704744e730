//! Scans: sources (memtables, chunks) → merge → visibility filter.
//!
//! Every layer yields internal entries in internal order (user key
//! ascending, newest first). The merge picks the smallest head among its
//! sources; the visibility filter keeps, per user key, the newest version at
//! or below the snapshot and drops tombstones.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{Block, BlockIter, Kind, MAX_SEQ};

use crate::error::{Error, Result};
use crate::memtable::{MemKey, MemValue, Memtable};
use crate::read::table::{ChunkStore, ChunkTable};
use crate::read::view::{Layer, ReadState};

/// An entry as the internal layers pass it on.
#[derive(Clone, Debug)]
pub(crate) struct InternalEntry {
    pub key: Bytes,
    pub seq: u64,
    pub kind: Kind,
    pub value: Bytes,
}

/// One ordered stream of internal entries.
pub(crate) enum Source {
    Mem(MemSource),
    Chunks(ChunkSource),
}

impl Source {
    async fn next(&mut self) -> Result<Option<InternalEntry>> {
        match self {
            Source::Mem(s) => Ok(s.next()),
            Source::Chunks(s) => s.next().await,
        }
    }
}

const MEM_REFILL: usize = 256;

/// Reads a memtable in batches (the skiplist cursor cannot outlive a call).
pub(crate) struct MemSource {
    mem: Arc<Memtable>,
    buf: VecDeque<InternalEntry>,
    resume: MemKey,
    exclusive: bool,
    done: bool,
}

impl MemSource {
    pub(crate) fn new(mem: Arc<Memtable>, start: &[u8]) -> MemSource {
        MemSource {
            mem,
            buf: VecDeque::new(),
            resume: MemKey::new(Bytes::copy_from_slice(start), u64::MAX),
            exclusive: false,
            done: false,
        }
    }

    fn next(&mut self) -> Option<InternalEntry> {
        if self.buf.is_empty() && !self.done {
            let mut out = Vec::with_capacity(MEM_REFILL);
            self.mem
                .read_from(&self.resume, self.exclusive, MEM_REFILL, &mut out);
            self.done = out.len() < MEM_REFILL;
            if let Some(last) = out.last() {
                self.resume = MemKey::new(last.key.clone(), last.seq);
                self.exclusive = true;
            }
            self.buf.extend(out.into_iter().map(|e| {
                let (kind, value) = match e.value {
                    MemValue::Put(v) => (Kind::Put, v),
                    MemValue::Delete => (Kind::Delete, Bytes::new()),
                };
                InternalEntry {
                    key: e.key,
                    seq: e.seq,
                    kind,
                    value,
                }
            }));
        }
        self.buf.pop_front()
    }
}

/// The first read-ahead window of a scan, after its first single block.
const FIRST_WINDOW: u64 = 64 << 10;

/// A ranged read running in the background: the blocks from `first` on.
struct Prefetch {
    /// Position of the chunk in the source's list.
    table: usize,
    first: usize,
    task: tokio::task::JoinHandle<Result<Vec<Block>>>,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads a list of key-ordered, non-overlapping chunks (one L0 chunk, or a
/// sorted run) block by block, starting at a key.
///
/// With read-ahead on, each GET covers adjacent blocks: the first read of a
/// chunk fetches one block (a short scan costs no more than a point read),
/// each next read twice as many bytes, up to `readahead`. While the caller
/// consumes one window the next is already being fetched, so at most two
/// windows per source are in memory.
pub(crate) struct ChunkSource {
    store: Arc<ChunkStore>,
    tables: Vec<Arc<ChunkTable>>,
    table: usize,
    block: usize,
    iter: Option<BlockIter>,
    start: Option<Bytes>,
    /// Blocks after `block` fetched by the same GET.
    ahead: VecDeque<Block>,
    /// The next window, being fetched.
    prefetch: Option<Prefetch>,
    /// Bytes the next GET may cover (grows up to `readahead`).
    window: u64,
    /// Largest window (0: one block per GET, no prefetch).
    readahead: u64,
    /// Windows start at one block and double (scans); otherwise every
    /// window is `readahead` bytes (compaction).
    adaptive: bool,
    fill_cache: bool,
    /// Blocks handed out so far.
    loads: u64,
}

impl ChunkSource {
    pub(crate) fn new(
        store: Arc<ChunkStore>,
        tables: Vec<Arc<ChunkTable>>,
        start: &[u8],
    ) -> ChunkSource {
        ChunkSource {
            store,
            tables,
            table: 0,
            block: 0,
            iter: None,
            start: Some(Bytes::copy_from_slice(start)),
            ahead: VecDeque::new(),
            prefetch: None,
            window: 0,
            readahead: 0,
            adaptive: false,
            fill_cache: true,
            loads: 0,
        }
    }

    /// A source that fetches `readahead` bytes of adjacent blocks per GET
    /// and fills the block caches only when `fill_cache` is set.
    pub(crate) fn with_readahead(mut self, readahead: u64, fill_cache: bool) -> ChunkSource {
        self.readahead = readahead;
        self.window = readahead;
        self.fill_cache = fill_cache;
        self
    }

    /// A scan's source: one block first, then windows doubling from
    /// [`FIRST_WINDOW`] up to `readahead` bytes; fills the caches.
    pub(crate) fn with_scan_readahead(mut self, readahead: u64) -> ChunkSource {
        self.readahead = readahead;
        self.adaptive = true;
        self
    }

    /// Starts fetching the window after the blocks in hand: the rest of
    /// this chunk, or the start of the next chunk of the list.
    fn start_prefetch(&mut self, table: &Arc<ChunkTable>, block_count: usize) {
        if self.readahead == 0 {
            return;
        }
        let (table_at, first, target) = {
            let first = self.block + 1 + self.ahead.len();
            if first < block_count {
                (self.table, first, table.clone())
            } else {
                match self.tables.get(self.table + 1) {
                    Some(next) => (self.table + 1, 0, next.clone()),
                    None => return,
                }
            }
        };
        self.grow_window();
        let (store, window, fill) = (self.store.clone(), self.window, self.fill_cache);
        let task = tokio::spawn(async move { store.blocks(&target, first, window, fill).await });
        self.prefetch = Some(Prefetch {
            table: table_at,
            first,
            task,
        });
    }

    /// Doubles a scan's window (from one block to [`FIRST_WINDOW`] first).
    fn grow_window(&mut self) {
        if self.adaptive {
            self.window = self
                .window
                .saturating_mul(2)
                .clamp(FIRST_WINDOW, self.readahead.max(FIRST_WINDOW));
        }
    }

    /// Block `self.block` of `table`: from the read-ahead buffer, the
    /// prefetch, or a GET.
    async fn load(&mut self, table: &Arc<ChunkTable>, block_count: usize) -> Result<Block> {
        self.loads += 1;
        // A scan's first block is read alone, and nothing is read ahead
        // until it moves on: a short scan costs what a point read costs.
        let reading_on = !self.adaptive || self.loads > 1;
        if let Some(block) = self.ahead.pop_front() {
            if self.ahead.is_empty() && self.prefetch.is_none() {
                self.start_prefetch(table, block_count);
            }
            return Ok(block);
        }
        let blocks = match self.prefetch.take() {
            Some(p) if p.table == self.table && p.first == self.block => {
                let mut p = p;
                (&mut p.task)
                    .await
                    .map_err(|e| Error::Background(format!("scan read-ahead: {e}")))??
            }
            _ => {
                if self.adaptive && reading_on {
                    self.grow_window();
                }
                self.store
                    .blocks(table, self.block, self.window.max(1), self.fill_cache)
                    .await?
            }
        };
        let mut blocks = blocks.into_iter();
        let first = blocks
            .next()
            .ok_or_else(|| Error::Background("empty block read".into()))?;
        self.ahead.extend(blocks);
        if reading_on {
            self.start_prefetch(table, block_count);
        }
        Ok(first)
    }

    /// Moves on to the next table, dropping this one's read-ahead.
    fn next_table(&mut self) {
        self.table += 1;
        self.block = 0;
        self.ahead.clear();
        // A prefetch of the next chunk's start is kept.
        if self
            .prefetch
            .as_ref()
            .is_some_and(|p| p.table != self.table)
        {
            self.prefetch = None;
        }
    }

    async fn next(&mut self) -> Result<Option<InternalEntry>> {
        loop {
            if let Some(it) = self.iter.as_mut() {
                if it.valid() {
                    let table = &self.tables[self.table];
                    let entry = InternalEntry {
                        key: Bytes::copy_from_slice(it.key()),
                        seq: table.entry_seq(it.seq()),
                        kind: it.kind(),
                        value: it.value(),
                    };
                    it.next().map_err(|e| Error::chunk(&table.object, e))?;
                    return Ok(Some(entry));
                }
                self.iter = None;
                self.block += 1;
            }
            let Some(table) = self.tables.get(self.table).cloned() else {
                return Ok(None);
            };
            let index = self.store.index(&table).await?;
            let block_count = index.block_count();
            if let Some(start) = self.start.take() {
                match index.seek_block(&start, MAX_SEQ) {
                    Some(b) => self.block = b,
                    None => {
                        self.next_table();
                        self.start = Some(start);
                        continue;
                    }
                }
                let block = self.load(&table, block_count).await?;
                let mut it = block.iter();
                it.seek(&start, MAX_SEQ)
                    .map_err(|e| Error::chunk(&table.object, e))?;
                self.iter = Some(it);
                continue;
            }
            if self.block >= block_count {
                self.next_table();
                continue;
            }
            let block = self.load(&table, block_count).await?;
            let mut it = block.iter();
            it.seek_to_first()
                .map_err(|e| Error::chunk(&table.object, e))?;
            self.iter = Some(it);
        }
    }
}

struct Head {
    entry: InternalEntry,
    source: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    /// Reversed internal order, so the max-heap pops the smallest entry.
    fn cmp(&self, other: &Head) -> Ordering {
        other
            .entry
            .key
            .cmp(&self.entry.key)
            .then_with(|| self.entry.seq.cmp(&other.entry.seq))
            .then_with(|| other.source.cmp(&self.source))
    }
}

/// k-way merge of sources by internal order.
pub(crate) struct MergeIter {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
    primed: bool,
}

impl MergeIter {
    pub(crate) fn new(sources: Vec<Source>) -> MergeIter {
        MergeIter {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            primed: false,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<InternalEntry>> {
        if !self.primed {
            self.primed = true;
            // Every source's first read at once: a cold scan over several
            // chunks waits for one round trip, not one per chunk.
            let firsts = futures::future::join_all(self.sources.iter_mut().map(Source::next)).await;
            for (i, first) in firsts.into_iter().enumerate() {
                if let Some(entry) = first? {
                    self.heap.push(Head { entry, source: i });
                }
            }
        }
        let Some(head) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(entry) = self.sources[head.source].next().await? {
            self.heap.push(Head {
                entry,
                source: head.source,
            });
        }
        Ok(Some(head.entry))
    }
}

/// A range scan at a snapshot: yields `(key, value)` pairs in key order.
///
/// The iterator pins the memtables and chunks that were current when it was
/// created, so flushes do not disturb it. Errors (a failed GET, a bad
/// checksum) are returned from [`next`](DbIterator::next) and end the scan.
pub struct DbIterator {
    merge: MergeIter,
    snapshot: u64,
    start: Bound<Bytes>,
    end: Bound<Bytes>,
    last_key: Option<Bytes>,
    done: bool,
    _pin: Arc<ReadState>,
    _snapshot: Option<crate::read::snapshot::SnapshotPin>,
}

impl DbIterator {
    pub(crate) fn new(
        state: Arc<ReadState>,
        store: Arc<ChunkStore>,
        snapshot: u64,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        pin: Option<crate::read::snapshot::SnapshotPin>,
    ) -> DbIterator {
        let from: Bytes = match &start {
            Bound::Included(k) | Bound::Excluded(k) => k.clone(),
            Bound::Unbounded => Bytes::new(),
        };
        let in_range = |t: &ChunkTable| {
            t.meta.max_key.as_slice() >= from.as_ref()
                && match &end {
                    Bound::Included(e) => t.meta.min_key.as_slice() <= e.as_ref(),
                    Bound::Excluded(e) => t.meta.min_key.as_slice() < e.as_ref(),
                    Bound::Unbounded => true,
                }
        };
        let mut sources = Vec::new();
        let mut lists: Vec<Vec<Arc<ChunkTable>>> = Vec::new();
        for layer in state.layers() {
            match layer {
                Layer::Mem(mem) => {
                    if !mem.is_empty() {
                        sources.push(Source::Mem(MemSource::new(mem.clone(), &from)));
                    }
                }
                Layer::L0(t) => {
                    if in_range(t) {
                        lists.push(vec![t.clone()]);
                    }
                }
                Layer::Run(run) => {
                    let tables: Vec<_> = run.iter().filter(|t| in_range(t)).cloned().collect();
                    if !tables.is_empty() {
                        lists.push(tables);
                    }
                }
            }
        }
        // The scan's read-ahead budget is shared by its chunk lists, so a
        // scan over many L0 chunks holds no more than one over a single run.
        let readahead = store.scan_readahead / lists.len().max(1) as u64;
        for tables in lists {
            sources.push(Source::Chunks(
                ChunkSource::new(store.clone(), tables, &from).with_scan_readahead(readahead),
            ));
        }
        DbIterator {
            merge: MergeIter::new(sources),
            snapshot,
            start,
            end,
            last_key: None,
            done: false,
            _pin: state,
            _snapshot: pin,
        }
    }

    /// The next `(key, value)` in key order, or `None` at the end of the range.
    pub async fn next(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        while !self.done {
            let Some(e) = self.merge.next().await? else {
                self.done = true;
                break;
            };
            if e.seq > self.snapshot || self.last_key.as_ref() == Some(&e.key) {
                continue;
            }
            let past_end = match &self.end {
                Bound::Included(end) => e.key > *end,
                Bound::Excluded(end) => e.key >= *end,
                Bound::Unbounded => false,
            };
            if past_end {
                self.done = true;
                break;
            }
            self.last_key = Some(e.key.clone());
            if let Bound::Excluded(start) = &self.start {
                if e.key == *start {
                    continue;
                }
            }
            if e.kind == Kind::Put {
                return Ok(Some((e.key, e.value)));
            }
        }
        Ok(None)
    }

    /// Collects the rest of the scan (convenience for small ranges).
    pub async fn collect_all(mut self) -> Result<Vec<(Bytes, Bytes)>> {
        let mut out = Vec::new();
        while let Some(kv) = self.next().await? {
            out.push(kv);
        }
        Ok(out)
    }
}

/// The smallest key greater than every key starting with `prefix`
/// (None when there is none: the prefix is all 0xFF bytes).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}

//! The forward sources of a scan or a compaction: a memtable read in
//! batches, and a list of key-ordered chunks read block by block with
//! read-ahead. Each yields internal entries in internal order (user key
//! ascending, newest first); [`crate::read::reverse`] has their mirrors.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{Block, BlockIter, MAX_SEQ};

use crate::error::{Error, Result};
use crate::memtable::{MemKey, Memtable};
use crate::read::merge::InternalEntry;
use crate::read::table::{ChunkStore, ChunkTable};

pub(crate) const MEM_REFILL: usize = 256;

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

    pub(crate) fn next(&mut self) -> Option<InternalEntry> {
        if self.buf.is_empty() && !self.done {
            let mut out = Vec::with_capacity(MEM_REFILL);
            self.mem
                .read_from(&self.resume, self.exclusive, MEM_REFILL, &mut out);
            self.done = out.len() < MEM_REFILL;
            if let Some(last) = out.last() {
                self.resume = MemKey::new(last.key.clone(), last.seq);
                self.exclusive = true;
            }
            self.buf
                .extend(out.into_iter().map(InternalEntry::from_mem));
        }
        self.buf.pop_front()
    }
}

/// The first read-ahead window of a scan, after its first single block.
pub(crate) const FIRST_WINDOW: u64 = 64 << 10;

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

    pub(crate) async fn next(&mut self) -> Result<Option<InternalEntry>> {
        loop {
            if let Some(it) = self.iter.as_mut() {
                if it.valid() {
                    let table = &self.tables[self.table];
                    let entry = InternalEntry {
                        key: Bytes::copy_from_slice(it.key()),
                        seq: table.entry_seq(it.seq()),
                        kind: it.kind(),
                        value: it.value(),
                        meta: it.meta().unwrap_or_default(),
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

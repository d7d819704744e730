//! The backward sources of a reverse scan: mirrors of
//! [`crate::read::sources`] that yield internal entries in reverse internal
//! order (user key descending, oldest version first), from an upper key
//! down.
//!
//! Chunk blocks are prefix-compressed and can only be walked forward, so a
//! backward chunk source decodes one block at a time into a buffer and
//! hands it out from the end. Its reads cover adjacent blocks too: the
//! first read of a chunk fetches one block (a short reverse scan costs what
//! a point read costs), each next GET a window of the blocks below,
//! doubling up to the scan's read-ahead.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::Block;

use crate::error::{Error, Result};
use crate::memtable::{MemKey, Memtable};
use crate::read::merge::InternalEntry;
use crate::read::sources::{FIRST_WINDOW, MEM_REFILL};
use crate::read::table::{ChunkStore, ChunkTable};

/// Reads a memtable backwards in batches, from `upper` (every version of
/// it included) down.
pub(crate) struct MemBackSource {
    mem: Arc<Memtable>,
    buf: VecDeque<InternalEntry>,
    resume: Option<MemKey>,
    exclusive: bool,
    done: bool,
}

impl MemBackSource {
    /// From `upper` down (from the last key when `None`).
    pub(crate) fn new(mem: Arc<Memtable>, upper: Option<&[u8]>) -> MemBackSource {
        MemBackSource {
            mem,
            buf: VecDeque::new(),
            // Seq 0 is the last internal key of a user key: every version
            // of `upper` is at or before it.
            resume: upper.map(|k| MemKey::new(Bytes::copy_from_slice(k), 0)),
            exclusive: false,
            done: false,
        }
    }

    pub(crate) fn next(&mut self) -> Option<InternalEntry> {
        if self.buf.is_empty() && !self.done {
            let mut out = Vec::with_capacity(MEM_REFILL);
            self.mem
                .read_back_from(self.resume.as_ref(), self.exclusive, MEM_REFILL, &mut out);
            self.done = out.len() < MEM_REFILL;
            if let Some(last) = out.last() {
                self.resume = Some(MemKey::new(last.key.clone(), last.seq));
                self.exclusive = true;
            }
            self.buf
                .extend(out.into_iter().map(InternalEntry::from_mem));
        }
        self.buf.pop_front()
    }
}

/// Reads a list of key-ordered, non-overlapping chunks (one L0 chunk, or a
/// sorted run) backwards, block by block, from `upper` down.
pub(crate) struct ChunkBackSource {
    store: Arc<ChunkStore>,
    tables: Vec<Arc<ChunkTable>>,
    /// One past the table being read (counts down; 0: none left).
    table: usize,
    /// The block whose entries are in `entries` (valid once positioned).
    block: usize,
    positioned: bool,
    /// Every version of keys up to this one is read (None: no bound).
    upper: Option<Bytes>,
    /// The current block's entries in internal order, handed out from the end.
    entries: Vec<InternalEntry>,
    /// Blocks of the current table fetched by an earlier GET, by index.
    ahead: BTreeMap<usize, Block>,
    /// Bytes the next GET may cover (grows up to `readahead`).
    window: u64,
    readahead: u64,
}

impl ChunkBackSource {
    /// Reads `tables` (in key order) from `upper` down, with reads growing
    /// up to `readahead` bytes.
    pub(crate) fn new(
        store: Arc<ChunkStore>,
        tables: Vec<Arc<ChunkTable>>,
        upper: Option<&[u8]>,
        readahead: u64,
    ) -> ChunkBackSource {
        ChunkBackSource {
            store,
            table: tables.len(),
            tables,
            block: 0,
            positioned: false,
            upper: upper.map(Bytes::copy_from_slice),
            entries: Vec::new(),
            ahead: BTreeMap::new(),
            window: 0,
            readahead,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<InternalEntry>> {
        loop {
            if let Some(e) = self.entries.pop() {
                return Ok(Some(e));
            }
            if self.positioned && self.block > 0 {
                self.block -= 1;
                self.fill().await?;
                continue;
            }
            // On to the table below.
            let Some(below) = self.table.checked_sub(1) else {
                return Ok(None);
            };
            self.table = below;
            self.positioned = false;
            self.ahead.clear();
            let table = self.tables[below].clone();
            if let Some(upper) = &self.upper {
                if table.meta.min_key.as_slice() > upper.as_ref() {
                    continue;
                }
            }
            let index = self.store.index(&table).await?;
            let count = index.block_count();
            if count == 0 {
                continue;
            }
            // The block holding the last version of `upper` (or the first
            // block past it); the last block when every key is below it.
            self.block = match &self.upper {
                Some(upper) => index.seek_block(upper, 0).unwrap_or(count - 1),
                None => count - 1,
            };
            self.positioned = true;
            self.fill().await?;
        }
    }

    /// Decodes block `self.block` of the current table into `entries`.
    async fn fill(&mut self) -> Result<()> {
        let table = self.tables[self.table].clone();
        let block = self.load(&table).await?;
        let mut it = block.iter();
        it.seek_to_first()
            .map_err(|e| Error::chunk(&table.object, e))?;
        self.entries.clear();
        while it.valid() {
            if let Some(upper) = &self.upper {
                if it.key() > upper.as_ref() {
                    break;
                }
            }
            self.entries.push(InternalEntry {
                key: Bytes::copy_from_slice(it.key()),
                seq: table.entry_seq(it.seq()),
                kind: it.kind(),
                value: it.value(),
                meta: it.meta().unwrap_or_default(),
            });
            it.next().map_err(|e| Error::chunk(&table.object, e))?;
        }
        Ok(())
    }

    /// Block `self.block`: fetched ahead, or read with the blocks below it
    /// that fit the window (one GET).
    async fn load(&mut self, table: &Arc<ChunkTable>) -> Result<Block> {
        if let Some(block) = self.ahead.remove(&self.block) {
            return Ok(block);
        }
        let index = self.store.index(table).await?;
        let last = index.block_handle(self.block);
        let end = last.offset + last.len;
        let mut first = self.block;
        while first > 0 && end - index.block_handle(first - 1).offset <= self.window {
            first -= 1;
        }
        let span = end - index.block_handle(first).offset;
        let blocks = self.store.blocks(table, first, span.max(1), true).await?;
        // The first read of a table is one block; the next ones double.
        self.window = self
            .window
            .saturating_mul(2)
            .clamp(FIRST_WINDOW, self.readahead.max(FIRST_WINDOW));
        for (i, block) in (first..).zip(blocks) {
            if i <= self.block {
                self.ahead.insert(i, block);
            }
        }
        match self.ahead.remove(&self.block) {
            Some(block) => Ok(block),
            // Served partly from the cache: read the block alone.
            None => {
                let mut one = self.store.blocks(table, self.block, 1, true).await?;
                if one.is_empty() {
                    return Err(Error::Background("empty block read".into()));
                }
                Ok(one.swap_remove(0))
            }
        }
    }
}

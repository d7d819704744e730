//! `Db::multi_get`: many point reads in one call, each distinct block
//! fetched once, the fetches of one round in parallel.
//!
//! A key is looked up in the memtables first. The rest walk their candidate
//! chunks (L0 newest first, then one chunk per run) in rounds: each round
//! every unresolved key names the one block its next candidate chunk could
//! hold it in (bloom filter and block index say which, or that none), the
//! distinct blocks are fetched concurrently, and each key either finds its
//! newest visible version there or moves on to its next candidate.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use firn_chunk::{Block, Kind};
use futures::stream::{StreamExt, TryStreamExt};

use crate::error::Result;
use crate::memtable::MemValue;
use crate::read::block_cache::BlockKey;
use crate::read::record::ReadClock;
use crate::read::table::ChunkTable;
use crate::read::{ReadPoint, Reader};

/// Block reads in flight at once.
const MULTI_GET_PARALLELISM: usize = 32;

/// A key still looking: its candidate chunks and how far it got.
struct Lookup {
    slot: usize,
    candidates: Vec<Arc<ChunkTable>>,
    next: usize,
    /// The newest range delete covering the key in the layers walked so far.
    cover: Option<u64>,
}

impl Reader {
    /// Reads many keys at `seq` (see [`Db::multi_get`](crate::Db::multi_get)).
    pub(crate) async fn multi_get_at<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        at: ReadPoint,
    ) -> Result<Vec<Option<Bytes>>> {
        let seq = at.seq;
        for key in keys {
            self.check_key(key.as_ref())?;
        }
        self.metrics
            .gets
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let state = at.state;
        let chunks = &self.chunks;
        let mut out: Vec<Option<Bytes>> = vec![None; keys.len()];
        let mut clock = ReadClock::new();
        let mut pending = Vec::new();
        'keys: for (slot, key) in keys.iter().enumerate() {
            let key = key.as_ref();
            let mut cover = None;
            for mem in state.memtables().filter(|m| !m.is_empty()) {
                cover = cover.max(mem.range_cover(key, seq));
                if let Some((found, v)) = mem.get(key, seq) {
                    if let MemValue::Put(v, meta) = v {
                        if !clock.expired(&meta) && cover.is_none_or(|c| found > c) {
                            out[slot] = Some(v);
                        }
                    }
                    continue 'keys;
                }
                if cover.is_some() {
                    // Older layers hold only older versions: deleted.
                    continue 'keys;
                }
            }
            pending.push(Lookup {
                slot,
                candidates: state.chunk_candidates(key).cloned().collect(),
                next: 0,
                cover,
            });
        }

        // The indexes of every chunk some key may be in, loaded concurrently
        // (requested in chunk order: the same reads make the same requests).
        let mut tables: BTreeMap<_, Arc<ChunkTable>> = BTreeMap::new();
        for l in &pending {
            for t in &l.candidates {
                tables.entry(t.meta.id).or_insert_with(|| t.clone());
            }
        }
        // Each load owns its table and store handle: a future that borrows
        // them through a closure is not `Send` for every lifetime, and
        // callers must be able to spawn `multi_get`.
        let loads = tables.into_values().map(|t| {
            let chunks = chunks.clone();
            async move { chunks.index(&t).await.map(|_| ()) }
        });
        futures::stream::iter(loads)
            .buffer_unordered(MULTI_GET_PARALLELISM)
            .try_for_each(|_| async { Ok(()) })
            .await?;

        while !pending.is_empty() {
            // Each key's next block to look in.
            let mut wanted: BTreeMap<BlockKey, (Arc<ChunkTable>, usize)> = BTreeMap::new();
            let mut targets: Vec<Option<BlockKey>> = Vec::with_capacity(pending.len());
            for l in &mut pending {
                let key = keys[l.slot].as_ref();
                let mut target = None;
                while let Some(t) = l.candidates.get(l.next) {
                    l.cover = l.cover.max(chunks.range_cover(t, key, seq).await?);
                    if let Some(b) = chunks.candidate_block(t, key, seq).await? {
                        let bk = (t.meta.id, b as u32);
                        wanted.entry(bk).or_insert_with(|| (t.clone(), b));
                        target = Some(bk);
                        break;
                    }
                    if l.cover.is_some() {
                        break; // deleted by a range delete: no older layer counts
                    }
                    l.next += 1;
                }
                targets.push(target);
            }
            let fetched: HashMap<BlockKey, Block> =
                futures::stream::iter(wanted.into_iter().map(|(bk, (t, b))| async move {
                    chunks.block(&t, b).await.map(|block| (bk, block))
                }))
                .buffer_unordered(MULTI_GET_PARALLELISM)
                .try_collect()
                .await?;

            let mut still = Vec::with_capacity(pending.len());
            for (mut l, target) in pending.into_iter().zip(targets) {
                let Some(bk) = target else { continue };
                let Some(block) = fetched.get(&bk) else {
                    continue;
                };
                let key = keys[l.slot].as_ref();
                let table = &l.candidates[l.next];
                let object_seq = table.object_seq(seq).unwrap_or(seq);
                match block
                    .get_with_meta(key, object_seq)
                    .map_err(|e| crate::error::Error::chunk(&table.object, e))?
                {
                    Some((found, kind, value, meta)) => {
                        let found = table.entry_seq(found);
                        if kind == Kind::Put
                            && !meta.is_some_and(|m| clock.expired(&m))
                            && l.cover.is_none_or(|c| found > c)
                        {
                            out[l.slot] = Some(value);
                        }
                    }
                    None if l.cover.is_some() => {} // deleted by a range delete
                    None => {
                        l.next += 1;
                        still.push(l);
                    }
                }
            }
            pending = still;
        }
        Ok(out)
    }
}

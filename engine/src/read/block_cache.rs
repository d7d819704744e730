//! In-memory cache of decoded data blocks with a byte budget.
//!
//! Sharded CLOCK (second-chance) cache: a hit sets the entry's reference bit
//! without reordering anything, so lookups take a shard lock only briefly and
//! never allocate. Eviction sweeps the clock hand, clearing reference bits,
//! and removes the first unreferenced entry.

use crate::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use firn_chunk::Block;
use firn_manifest::ChunkId;

const SHARDS: usize = 16;

/// Identifies a block: its chunk and its index in the chunk.
pub(crate) type BlockKey = (ChunkId, u32);

struct Slot {
    key: BlockKey,
    block: Block,
    charge: usize,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    map: HashMap<BlockKey, usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    used: usize,
}

/// The decoded-block cache.
pub(crate) struct BlockCache {
    shards: Vec<Mutex<Shard>>,
    shard_budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    pub(crate) fn new(budget: usize) -> BlockCache {
        BlockCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_budget: budget / SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &BlockKey) -> &Mutex<Shard> {
        let h = key.0.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ key.0.id.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ u64::from(key.1).wrapping_mul(0x1656_67B1_9E37_79F9);
        &self.shards[(h >> 59) as usize % SHARDS]
    }

    pub(crate) fn get(&self, key: &BlockKey) -> Option<Block> {
        let mut shard = lock(self.shard(key));
        let found = shard.map.get(key).copied().and_then(|i| {
            let slot = shard.slots[i].as_mut()?;
            slot.referenced = true;
            Some(slot.block.clone())
        });
        drop(shard);
        match &found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Whether `key` is cached (no hit or miss is counted).
    pub(crate) fn contains(&self, key: &BlockKey) -> bool {
        lock(self.shard(key)).map.contains_key(key)
    }

    pub(crate) fn insert(&self, key: BlockKey, block: Block) {
        let charge = block.memory_usage() + 64;
        if charge > self.shard_budget {
            return;
        }
        let mut guard = lock(self.shard(&key));
        let shard = &mut *guard;
        if shard.map.contains_key(&key) {
            return;
        }
        while shard.used + charge > self.shard_budget && !shard.map.is_empty() {
            shard.evict_one();
        }
        let slot = Slot {
            key,
            block,
            charge,
            referenced: false,
        };
        let index = match shard.free.pop() {
            Some(i) => {
                shard.slots[i] = Some(slot);
                i
            }
            None => {
                shard.slots.push(Some(slot));
                shard.slots.len() - 1
            }
        };
        shard.map.insert(key, index);
        shard.used += charge;
    }

    /// (hits, misses) so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes currently charged.
    pub(crate) fn used(&self) -> usize {
        self.shards.iter().map(|s| lock(s).used).sum()
    }
}

impl Shard {
    fn evict_one(&mut self) {
        let n = self.slots.len();
        // Two full sweeps always find a victim: the first clears every bit.
        for _ in 0..2 * n {
            let i = self.hand % n;
            self.hand = (self.hand + 1) % n;
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            if let Some(slot) = self.slots[i].take() {
                self.map.remove(&slot.key);
                self.used -= slot.charge;
                self.free.push(i);
            }
            return;
        }
    }
}

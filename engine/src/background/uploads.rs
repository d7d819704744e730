//! Chunk ids and chunk uploads shared by the flusher and the compactor.
//!
//! A chunk id is allocated before its object is written and stays *in
//! flight* until the manifest references it or its writer gave up; the
//! collector never deletes an in-flight chunk.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use firn_manifest::ChunkId;
use firn_store::{ObjectStore, PutOutcome};

use crate::error::{Error, Result};
use crate::lock;

/// This writer's chunk ids: the next one and those in flight.
pub(crate) struct ChunkIds {
    epoch: u64,
    next: AtomicU64,
    in_flight: Mutex<HashSet<ChunkId>>,
}

impl ChunkIds {
    /// Ids of `epoch`, starting at `next` (the manifest's `next_chunk_id`).
    pub(crate) fn new(epoch: u64, next: u64) -> ChunkIds {
        ChunkIds {
            epoch,
            next: AtomicU64::new(next),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// A new chunk id, in flight until [`ChunkIds::settle`].
    pub(crate) fn allocate(&self) -> ChunkId {
        let id = ChunkId {
            epoch: self.epoch,
            id: self.next.fetch_add(1, Ordering::Relaxed),
        };
        lock(&self.in_flight).insert(id);
        id
    }

    /// Ends the in-flight state of chunks (published, or abandoned to GC).
    pub(crate) fn settle(&self, ids: impl IntoIterator<Item = ChunkId>) {
        let mut in_flight = lock(&self.in_flight);
        for id in ids {
            in_flight.remove(&id);
        }
    }

    /// The chunks being written now.
    pub(crate) fn in_flight(&self) -> Vec<ChunkId> {
        lock(&self.in_flight).iter().copied().collect()
    }

    /// The next id that will be allocated.
    pub(crate) fn next_id(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

/// Conditional create of a chunk object. If it exists already, it must be
/// our own earlier attempt (same bytes); anything else is refused.
pub(crate) async fn upload_chunk(
    store: &ObjectStore,
    object: &str,
    bytes: Bytes,
    epoch: u64,
) -> Result<()> {
    match store.put_if_absent(object, bytes.clone()).await? {
        PutOutcome::Created => Ok(()),
        PutOutcome::AlreadyExists => {
            let existing = store.get(object).await?;
            if existing == bytes {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "chunk object {object} already exists with other contents; another writer is using epoch {epoch}"
                )))
            }
        }
    }
}

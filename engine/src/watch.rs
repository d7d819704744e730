//! Watching a database's changes: every batch the writer ships, in sequence
//! order, read from the shipped WAL in the bucket as a follower reads it
//! ([`Db::watch`](crate::Db::watch), `firn watch`).
//!
//! A watch starts after a sequence number: the shipped objects from the one
//! holding the next write onward are read in id order, probing the next id
//! with a GET each poll (no LIST). Writes below the manifest's watermark are
//! in the shipped WAL only until GC collects their objects (after
//! `max(gc_grace, wal_retention)`): a watch that starts earlier, or falls
//! that far behind, stops with an error saying which writes are gone.

use std::collections::VecDeque;
use std::time::Duration;

use firn_manifest::ObjectName;
use firn_store::{ObjectStore, StoreError};

use crate::error::{Error, Result};
use crate::write::batch::WriteBatch;
use crate::write::wal::shipped::{self, ShippedBatch, SHIPPED_HEADER_LEN};

/// A stream of the batches a database's writers ship, in sequence order.
pub struct Watch {
    store: ObjectStore,
    /// The next shipped id to read.
    next_id: u64,
    /// Every write through this one was returned (or was before the start).
    returned: u64,
    /// Batches read but not returned yet.
    pending: VecDeque<ShippedBatch>,
    /// The last object read was a fence: ids after it may have been
    /// collected (the rest of a writer's batch of fences).
    after_fence: bool,
    poll_interval: Duration,
}

impl Watch {
    /// A watch of the database in `store` returning every write after
    /// `after`. Finds the object holding write `after + 1` (one LIST, then
    /// header reads); fails if the shipped WAL no longer holds it.
    pub(crate) async fn start(
        store: ObjectStore,
        after: u64,
        watermark: u64,
        floor: u64,
        poll_interval: Duration,
    ) -> Result<Watch> {
        let listed = crate::write::wal::list_shipped(&store).await?;
        let ids: Vec<u64> = listed.iter().map(|(id, _)| *id).collect();
        // The object to start at: searching back from the newest, the last
        // one whose first write is at or below `after + 1` (fences before
        // it included).
        let mut start = ids.last().map_or(floor.max(1), |last| last + 1);
        let mut earliest: Option<u64> = None;
        for &id in ids.iter().rev() {
            let name = ObjectName::ShippedWal(id).path();
            let header = match store.get_range(&name, 0, SHIPPED_HEADER_LEN as u64).await {
                Ok(h) => h,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let (_, run) = shipped::decode_header(&header, &name)?;
            start = id;
            if run.records == 0 {
                continue; // a fence: look further back
            }
            earliest = Some(run.first_seq);
            if run.first_seq <= after.saturating_add(1) {
                break;
            }
        }
        // The writes right after `after` must still be in the shipped WAL
        // (or not written yet).
        let missing_to = match earliest {
            Some(first) if first > after.saturating_add(1) => Some(first - 1),
            None if after < watermark => Some(watermark),
            _ => None,
        };
        if let Some(to) = missing_to {
            return Err(gone(after.saturating_add(1), to));
        }
        Ok(Watch {
            store,
            next_id: start,
            returned: after,
            pending: VecDeque::new(),
            after_fence: false,
            poll_interval,
        })
    }

    /// Every write through this sequence number has been returned.
    pub fn position(&self) -> u64 {
        self.returned
    }

    /// The next batch and its first sequence number, waiting (polling every
    /// poll interval) until the writer ships one.
    pub async fn next(&mut self) -> Result<(u64, WriteBatch)> {
        loop {
            if let Some(next) = self.take_pending()? {
                return Ok(next);
            }
            if !self.read_next().await? {
                firn_store::clock::sleep(self.poll_interval).await;
            }
        }
    }

    /// The next batch if one is already shipped, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<(u64, WriteBatch)>> {
        loop {
            if let Some(next) = self.take_pending()? {
                return Ok(Some(next));
            }
            if !self.read_next().await? {
                return Ok(None);
            }
        }
    }

    /// The next batch with its commit time if one is already shipped,
    /// without waiting (for the change feed).
    pub(crate) async fn try_next_batch(&mut self) -> Result<Option<ShippedBatch>> {
        loop {
            if let Some(next) = self.take_pending_batch()? {
                return Ok(Some(next));
            }
            if !self.read_next().await? {
                return Ok(None);
            }
        }
    }

    /// The next pending batch above what was returned; a gap is an error.
    fn take_pending(&mut self) -> Result<Option<(u64, WriteBatch)>> {
        Ok(self.take_pending_batch()?.map(|b| (b.first, b.batch)))
    }

    fn take_pending_batch(&mut self) -> Result<Option<ShippedBatch>> {
        while let Some(b) = self.pending.pop_front() {
            if b.last <= self.returned {
                continue;
            }
            if b.first != self.returned.saturating_add(1) {
                return Err(gone(
                    self.returned.saturating_add(1),
                    b.first.saturating_sub(1),
                ));
            }
            self.returned = b.last;
            return Ok(Some(b));
        }
        Ok(None)
    }

    /// Reads the next shipped object into `pending`. False when there is
    /// none yet.
    async fn read_next(&mut self) -> Result<bool> {
        let name = ObjectName::ShippedWal(self.next_id).path();
        let Some(bytes) = crate::write::wal::get_shipped(&self.store, &name).await? else {
            if !std::mem::take(&mut self.after_fence) {
                return Ok(false);
            }
            // Past a fence, ids may have been collected: one LIST.
            let listed = crate::write::wal::list_shipped(&self.store).await?;
            return Ok(match listed.iter().find(|(id, _)| *id > self.next_id) {
                Some((id, _)) => {
                    self.next_id = *id;
                    true
                }
                None => false,
            });
        };
        let object = shipped::decode(&bytes, &name)?;
        self.after_fence = object.is_fence();
        self.pending.extend(object.batches(&name)?);
        self.next_id += 1;
        Ok(true)
    }
}

/// The error for writes `from..=to` that the shipped WAL no longer holds.
fn gone(from: u64, to: u64) -> Error {
    Error::InvalidArgument(format!(
        "the shipped WAL no longer holds writes {from}..={to}: they were flushed into chunks \
         and their WAL objects collected (the writer's wal_retention keeps them longer); \
         start the watch later"
    ))
}

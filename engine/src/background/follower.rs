//! The follower: keeps a read-only handle current with the bucket.
//!
//! Each poll it probes the next shipped WAL id with a GET (never a LIST)
//! and applies every object it finds, in id order, to its own memtables;
//! then, when it found something or `refresh_interval` has passed, it
//! follows the manifest to its newest version (a GET of the next version
//! number) and swaps in that version's chunks, dropping the memtables the
//! new watermark covers. An idle writer costs a follower one GET per poll
//! (and one more per `refresh_interval`).
//!
//! Reads see every write through the follower's applied sequence number,
//! whole batches only: a batch is in a memtable before the sequence number
//! is published. A newer manifest makes everything through its watermark
//! visible at once (those writes are in its chunks).
//!
//! Ids the follower will never find: a writer that takes over creates a
//! batch of fences and GC later deletes all but the lowest of each run;
//! objects below the manifest's `wal_objects_from` are collected too. The
//! manifest's floor moves the follower past the latter; when the manifest
//! names a writer epoch the follower has not seen ship, one LIST finds
//! where that writer's objects are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firn_manifest::{Manifest, ManifestStore, ObjectName};
use tokio::time::Instant;

use crate::changes::ChangeBuffer;
use crate::error::{Error, Result};
use crate::lock;
use crate::memtable::Memtable;
use crate::metrics::EngineMetrics;
use crate::read::table::ChunkStore;
use crate::read::view::{ReadState, ReadView};
use crate::signal::DurableSeq;
use crate::write::wal::shipped::{self, ShippedBatch};

/// Shipped objects one background poll applies at most before it follows
/// the manifest (the next poll starts at once).
const OBJECTS_PER_POLL: u64 = 64;

/// What the follower needs.
pub(crate) struct FollowerDeps {
    pub manifests: ManifestStore,
    pub view: Arc<ReadView>,
    pub chunks: Arc<ChunkStore>,
    pub metrics: Arc<EngineMetrics>,
    /// Everything a follower applied is in the bucket.
    pub durable: Arc<DurableSeq>,
    /// How often the shipped WAL is probed.
    pub poll_interval: Duration,
    /// The manifest is followed at least this often.
    pub refresh_interval: Duration,
    /// The active memtable is frozen at this size (and dropped once a
    /// manifest covers it).
    pub memtable_size: usize,
    /// Change-feed subscribers get every batch applied.
    pub changes: Arc<ChangeBuffer>,
}

/// Where following has got to.
struct Position {
    /// The next shipped WAL id to probe.
    next_id: u64,
    /// Every write through this one is visible.
    applied: u64,
    /// The newest writer epoch seen shipping (or fencing).
    epoch_seen: u64,
    /// When the manifest was last followed.
    manifest_checked: Instant,
}

/// What a follower reports (see `Db::follow_status`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowStatus {
    /// Every write through this sequence number is visible here.
    pub applied_seq: u64,
    /// Milliseconds since the start of the last poll that found the bucket
    /// holding nothing newer: how far this handle may trail the bucket.
    /// The writer's acknowledgements lead the bucket by up to its
    /// `wal_ship_interval` more (none for `Durability::Remote`).
    pub lag_ms: u64,
    /// The manifest version whose chunks are read.
    pub manifest_version: u64,
    /// Shipped WAL objects applied since open.
    pub wal_objects_applied: u64,
    /// Why the last poll failed, if it did (the next one tries again).
    pub last_error: Option<String>,
}

/// Keeps a read-only handle's view current.
pub(crate) struct Follower {
    deps: FollowerDeps,
    position: tokio::sync::Mutex<Position>,
    /// Mirrors `Position::applied` for status reads without the lock.
    applied: AtomicU64,
    /// When the last poll that found nothing newer began.
    caught_up: Mutex<Instant>,
    objects_applied: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Memtable ids for the follower's own memtables.
    next_mem_id: AtomicU64,
}

impl Follower {
    /// A follower whose view holds every write through `applied`, probing
    /// shipped WAL ids from `next_id`.
    pub(crate) fn new(deps: FollowerDeps, next_id: u64, applied: u64, epoch_seen: u64) -> Follower {
        let now = Instant::now();
        let next_mem_id = deps.view.current().active.id.saturating_add(1);
        Follower {
            deps,
            position: tokio::sync::Mutex::new(Position {
                next_id,
                applied,
                epoch_seen,
                manifest_checked: now,
            }),
            applied: AtomicU64::new(applied),
            caught_up: Mutex::new(now),
            objects_applied: AtomicU64::new(0),
            last_error: Mutex::new(None),
            next_mem_id: AtomicU64::new(next_mem_id),
        }
    }

    /// Polls every `poll_interval` until aborted. A failed poll is reported
    /// (`FollowStatus::last_error`, a warning) and tried again.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut behind = false;
        loop {
            // A poll that stopped at its object limit goes on at once.
            let pause = if behind {
                Duration::ZERO
            } else {
                self.deps.poll_interval
            };
            tokio::select! {
                _ = firn_store::clock::sleep(pause) => {
                    behind = matches!(self.poll().await, Ok(false));
                }
                // A read found a chunk collected under this handle.
                _ = self.deps.chunks.stale() => {
                    let _ = self.poll_now(true).await;
                }
            }
        }
    }

    /// The follower's state.
    pub(crate) fn status(&self) -> FollowStatus {
        FollowStatus {
            applied_seq: self.applied.load(Ordering::Acquire),
            lag_ms: lock(&self.caught_up).elapsed().as_millis() as u64,
            manifest_version: self.deps.view.manifest().version,
            wal_objects_applied: self.objects_applied.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }

    /// One poll now: applies every new shipped WAL object and follows the
    /// manifest; `thorough` (an explicit refresh) LISTs as well.
    pub(crate) async fn poll_now(&self, thorough: bool) -> Result<()> {
        self.poll_reporting(thorough).await.map(|_| ())
    }

    /// One poll, its failure reported. `Ok(false)`: it stopped at its
    /// object limit, more is waiting.
    async fn poll_reporting(&self, thorough: bool) -> Result<bool> {
        let result = self.poll_inner(thorough).await;
        match &result {
            Ok(_) => *lock(&self.last_error) = None,
            Err(e) => {
                tracing::warn!("following the bucket: {e}");
                *lock(&self.last_error) = Some(e.to_string());
            }
        }
        result
    }

    async fn poll(&self) -> Result<bool> {
        self.poll_reporting(false).await
    }

    /// One poll. `thorough` (an explicit refresh) also LISTs: the newest
    /// manifest even if versions in between were collected, and the
    /// shipped WAL past any collected ids.
    /// Returns whether it caught up (found the next shipped id absent)
    /// rather than stopping at its object limit: a poll ends, so the
    /// manifest is followed, however fast the writer ships.
    async fn poll_inner(&self, thorough: bool) -> Result<bool> {
        let started = Instant::now();
        let mut pos = self.position.lock().await;
        let limit = if thorough { u64::MAX } else { OBJECTS_PER_POLL };
        let (found, mut caught_up) = self.apply_shipped(&mut pos, limit).await?;
        let due = pos.manifest_checked.elapsed() >= self.deps.refresh_interval;
        if thorough {
            self.follow_manifest(&mut pos, true).await?;
            self.skip_missing_ids(&mut pos).await?;
            self.apply_shipped(&mut pos, limit).await?;
        } else if found > 0 || due {
            self.follow_manifest(&mut pos, false).await?;
            // A writer we have not seen ship took over: its objects may lie
            // past ids GC removed; one LIST finds them.
            if self.deps.view.manifest().epoch > pos.epoch_seen {
                self.skip_missing_ids(&mut pos).await?;
                caught_up &= self.apply_shipped(&mut pos, limit).await?.1;
            }
        }
        if caught_up {
            *lock(&self.caught_up) = started;
        }
        Ok(caught_up)
    }

    /// Applies shipped objects from `pos.next_id` until one is absent or
    /// `limit` were read. Returns how many it read, and whether it found
    /// the next one absent.
    async fn apply_shipped(&self, pos: &mut Position, limit: u64) -> Result<(u64, bool)> {
        let store = self.deps.manifests.store();
        let mut found = 0;
        loop {
            if found >= limit {
                return Ok((found, false));
            }
            let id = pos.next_id;
            let name = ObjectName::ShippedWal(id).path();
            let Some(bytes) = crate::write::wal::get_shipped(store, &name).await? else {
                return Ok((found, true));
            };
            let object = shipped::decode(&bytes, &name)?;
            let batches = object.batches(&name)?;
            if let Err(gap) = self.apply_batches(pos, &batches, &name) {
                // A gap: objects below it were collected once a manifest
                // covered them. Follow the manifest (LISTing: versions in
                // between may be collected too) and try once more.
                self.follow_manifest(pos, true).await?;
                self.apply_batches(pos, &batches, &name).map_err(|_| gap)?;
            }
            pos.epoch_seen = pos.epoch_seen.max(object.epoch);
            // (A manifest installed for a gap may have moved it further.)
            pos.next_id = pos.next_id.max(id + 1);
            found += 1;
            self.objects_applied.fetch_add(1, Ordering::Relaxed);
            self.deps
                .metrics
                .wal_objects_replayed
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Applies the writes of object `name` above `pos.applied`, batch by
    /// batch, each made visible once it is whole in the memtable.
    fn apply_batches(
        &self,
        pos: &mut Position,
        batches: &[ShippedBatch],
        name: &str,
    ) -> Result<()> {
        for &ShippedBatch {
            first,
            last: end,
            time_ms,
            ref batch,
        } in batches
        {
            if end <= pos.applied {
                continue;
            }
            if first != pos.applied.saturating_add(1) {
                return Err(Error::corruption(
                    name,
                    None,
                    format!(
                        "shipped WAL continues at sequence number {first}, but this follower \
                         holds writes only through {}: an earlier shipped object is missing",
                        pos.applied
                    ),
                ));
            }
            let view = &self.deps.view;
            let mut state = view.current();
            if batch.is_ingest_marker() && !state.active.is_empty() {
                // The ingest's manifest covers every write before it: the
                // memtable holding those must not hold later ones too, or
                // it would outlive that manifest and hide the ingest.
                let id = self.next_mem_id.fetch_add(1, Ordering::Relaxed);
                view.update(|s| s.rotated(Arc::new(Memtable::new(id, self.deps.memtable_size))));
                state = view.current();
            }
            state.active.apply(batch, first, time_ms);
            if state.active.size() >= self.deps.memtable_size {
                let id = self.next_mem_id.fetch_add(1, Ordering::Relaxed);
                view.update(|s| s.rotated(Arc::new(Memtable::new(id, self.deps.memtable_size))));
            }
            self.publish(pos, end);
            if self.deps.changes.wanted() {
                self.deps.changes.append(time_ms, [(first, batch)]);
            }
        }
        Ok(())
    }

    /// Makes every write through `seq` visible (after its state is in the
    /// read view).
    fn publish(&self, pos: &mut Position, seq: u64) {
        self.deps.view.publish_seq(seq);
        self.deps.durable.advance(seq);
        pos.applied = seq;
        self.applied.store(seq, Ordering::Release);
    }

    /// Follows the manifest to its newest version (GETting the next version
    /// numbers; `listing`: one LIST, which also finds it when versions in
    /// between were collected) and installs it if newer.
    async fn follow_manifest(&self, pos: &mut Position, listing: bool) -> Result<()> {
        pos.manifest_checked = Instant::now();
        let current = self.deps.view.manifest();
        let manifests = &self.deps.manifests;
        // After a long pause (a stopped process, a slow store), versions in
        // between may be collected: the GET chain would stop at the hole and
        // confirm a stale version as current.
        let listing = listing || self.deps.chunks.versions_may_be_collected();
        let newest = if listing {
            match manifests.load_latest().await? {
                Some(m) if m.db_id != current.db_id => {
                    return Err(Error::InvalidArgument(format!(
                        "the bucket now holds another database (id {}): reopen",
                        crate::local::format_db_id(&m.db_id)
                    )))
                }
                Some(m) => m,
                None => return Ok(()),
            }
        } else {
            manifests.refresh(&current).await?
        };
        if newest.version <= current.version {
            self.deps.chunks.confirm_current(current.version);
            return Ok(());
        }
        self.install(pos, newest).await
    }

    /// Swaps in `manifest`'s chunks, drops the memtables its watermark
    /// covers, and makes everything through the watermark visible.
    async fn install(&self, pos: &mut Position, manifest: Manifest) -> Result<()> {
        let view = &self.deps.view;
        let watermark = manifest.wal_watermark;
        let floor = manifest.wal_objects_from;
        let previous = view.current().tables.clone();
        let tables = self
            .deps
            .chunks
            .table_set_with(Arc::new(manifest), Some(&previous), Vec::new())
            .await?;
        let tables = Arc::new(tables);
        let covered = |m: &Arc<Memtable>| m.seq_range().is_none_or(|(_, max)| max <= watermark);
        let fresh = self.next_mem_id.fetch_add(1, Ordering::Relaxed);
        view.update(|s| ReadState {
            active: if covered(&s.active) && !s.active.is_empty() {
                Arc::new(Memtable::new(fresh, self.deps.memtable_size))
            } else {
                s.active.clone()
            },
            frozen: s.frozen.iter().filter(|m| !covered(m)).cloned().collect(),
            tables,
        });
        if watermark > pos.applied {
            self.publish(pos, watermark);
        }
        pos.next_id = pos.next_id.max(floor);
        Ok(())
    }

    /// Moves `pos.next_id` to the lowest shipped id at or above it (one
    /// LIST), past ids that were collected.
    async fn skip_missing_ids(&self, pos: &mut Position) -> Result<()> {
        let listed = crate::write::wal::list_shipped(self.deps.manifests.store()).await?;
        if let Some((id, _)) = listed.iter().find(|(id, _)| *id >= pos.next_id) {
            pos.next_id = *id;
        }
        // Seen: do not LIST again for this epoch unless it ships.
        pos.epoch_seen = pos.epoch_seen.max(self.deps.view.manifest().epoch);
        Ok(())
    }
}

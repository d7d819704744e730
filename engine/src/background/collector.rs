//! Garbage collection of chunk objects and superseded manifest versions.
//!
//! A manifest version is *retained* while it is the latest, while a
//! checkpoint pins it, or while it was superseded less than the grace period
//! ago (a reader in another process may still be reading it) — or less than
//! the database's retention window ago (`history_retention_ms`, for
//! point-in-time restore), which also keeps shipped WAL objects that long
//! after their writes were flushed. A chunk is
//! deleted once no retained version, no checkpoint, no reader in this process
//! and no upload in flight references it. Chunks of a newer writer epoch are
//! never touched, and only the current epoch holder collects at all.
//!
//! Orphans (uploaded, never published): those of an older epoch are collected
//! once the claim that fenced their writer is older than the grace period;
//! those of our own epoch (a failed compaction's outputs) once they have been
//! seen unreferenced for the grace period.
//!
//! A clone's collector also lets go of its sources: once no version it
//! retains references a chunk of a source (its compactions rewrote them),
//! it deletes its pin there and publishes the release.
//!
//! GC lists the bucket (`chunks/`, `manifest/`, `checkpoints/`) but only in a
//! pass, which runs at open and after manifest changes: never on a read or
//! write path, and never while the database is idle.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use firn_manifest::{ChunkId, ChunkSource, Manifest, ManifestEdit, ManifestStore};
use serde::Serialize;

use crate::background::publisher::ManifestPublisher;
use crate::background::shipper::{ShippedEntry, ShippedIndex};
use crate::background::uploads::ChunkIds;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::metrics::EngineMetrics;
use crate::read::table::ChunkStore;
use crate::read::view::ReadView;
use crate::signal::Wakeup;
use crate::write::wal::shipped::{decode_header, SHIPPED_HEADER_LEN};

/// What one GC pass did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GcReport {
    /// Chunk objects deleted (dropped by compaction, or orphans).
    pub chunks_deleted: u64,
    /// Of those, orphans (never published).
    pub orphans_deleted: u64,
    /// Bytes of the deleted chunks.
    pub bytes_reclaimed: u64,
    /// Superseded manifest versions deleted.
    pub manifests_deleted: u64,
    /// Chunk objects left in the bucket.
    pub chunks_kept: u64,
    /// Manifest versions left in the bucket.
    pub manifests_kept: u64,
    /// Shipped WAL objects deleted (all their writes were in chunks for
    /// longer than the grace period).
    pub wal_objects_deleted: u64,
    /// Shipped WAL objects left in the bucket (fences included).
    pub wal_objects_kept: u64,
    /// Pins released in the databases this clone was made from (none of
    /// their chunks is referenced any more).
    pub pins_released: u64,
}

/// What GC remembers between passes.
#[derive(Default)]
struct GcState {
    /// Per manifest version: publish time and the chunks it references.
    versions: BTreeMap<u64, VersionInfo>,
    /// Set after the first pass of this process.
    primed: bool,
    /// Own-epoch orphans: when first seen unreferenced (ms).
    orphans_seen: HashMap<ChunkId, u64>,
    /// Shipped WAL objects: when first seen entirely below the watermark (ms).
    wal_flushed_seen: HashMap<u64, u64>,
}

struct VersionInfo {
    published_at_ms: u64,
    /// `None`: not read (a version found at this process's first pass).
    chunks: Option<HashSet<ChunkId>>,
}

impl VersionInfo {
    fn of(m: &Manifest) -> VersionInfo {
        VersionInfo {
            published_at_ms: m.published_at_ms,
            chunks: Some(m.all_chunks().map(|c| c.id).collect()),
        }
    }
}

/// What the collector needs to find and delete garbage.
pub(crate) struct CollectorDeps {
    pub view: Arc<ReadView>,
    pub chunks: Arc<ChunkStore>,
    pub manifests: ManifestStore,
    pub publisher: Arc<ManifestPublisher>,
    pub ids: Arc<ChunkIds>,
    /// What each shipped WAL object holds, as far as this process knows.
    pub shipped: Arc<ShippedIndex>,
    pub health: Arc<Health>,
    pub metrics: Arc<EngineMetrics>,
    pub epoch: u64,
    /// `Options::gc_grace`, for background passes.
    pub grace: Duration,
    /// At most one background pass per this interval.
    pub interval: Duration,
    /// `Options::wal_retention`: shipped WAL objects stay at least this long.
    pub wal_retention: Duration,
}

/// The garbage collector: background passes after manifest changes, and
/// passes on request.
pub(crate) struct Collector {
    wakeup: Wakeup,
    /// Serialises passes and remembers what they learned.
    state: tokio::sync::Mutex<GcState>,
    deps: CollectorDeps,
}

impl Collector {
    pub(crate) fn new(wakeup: Wakeup, deps: CollectorDeps) -> Collector {
        Collector {
            wakeup,
            state: tokio::sync::Mutex::new(GcState::default()),
            deps,
        }
    }

    /// Asks for a background pass (something may have become garbage).
    pub(crate) fn wake(&self) {
        self.wakeup.wake();
    }

    /// Runs until aborted: a GC pass at open and after manifest changes, at
    /// most one per `interval`, so bursts of flushes cost one pass.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            self.wakeup.wait().await;
            if self.deps.health.has_failed() {
                return;
            }
            match self.collect(self.deps.grace).await {
                Ok(r) if r.chunks_deleted + r.manifests_deleted > 0 => tracing::info!(
                    chunks_deleted = r.chunks_deleted,
                    orphans_deleted = r.orphans_deleted,
                    bytes_reclaimed = r.bytes_reclaimed,
                    manifests_deleted = r.manifests_deleted,
                    "gc pass deleted what left the database"
                ),
                Ok(_) => {}
                Err(e) if e.is_fenced() => {
                    self.deps.health.fail(e);
                    return;
                }
                Err(e) => tracing::warn!("gc pass failed, will retry after the next change: {e}"),
            }
            firn_store::clock::sleep(self.deps.interval).await;
        }
    }

    /// One GC pass with the given grace period.
    pub(crate) async fn collect(&self, grace: Duration) -> Result<GcReport> {
        let d = &self.deps;
        let mut gc = self.state.lock().await;
        let store = &d.chunks.store;
        let current = d.view.manifest();
        // Only the epoch holder collects: a newer writer may have uploads in flight.
        let latest = d.manifests.refresh(&current).await?;
        if latest.epoch > d.epoch {
            return Err(Error::Fenced {
                our_epoch: d.epoch,
                their_epoch: latest.epoch,
            });
        }
        let now = firn_store::clock::now_ms();
        let horizon = now.saturating_sub(grace.as_millis() as u64);
        // Versions (and the shipped WAL) stay for the retention window too.
        let retention = Duration::from_millis(latest.history_retention_ms);
        let history_horizon = now.saturating_sub(grace.max(retention).as_millis() as u64);

        let pinned: HashSet<u64> = crate::checkpoint::list(store)
            .await?
            .into_iter()
            .map(|c| c.manifest_version)
            .collect();
        let versions = d.manifests.list_versions().await?;
        gc.versions.retain(|v, _| versions.binary_search(v).is_ok());
        // The first pass does not read the superseded versions it finds (there
        // may be hundreds within the grace period): it takes them as published
        // now, so each stays retained for a full grace period from now, and
        // while one is retained no chunk it may reference is deleted. With a
        // retention window it reads them: taken as published now, they would
        // keep every chunk for a whole window after each open.
        let first_pass = !gc.primed && retention.is_zero();
        for &v in &versions {
            // Known versions are not read again, except an unread one that a
            // checkpoint pins since (it is retained for good, so its chunks
            // must be known).
            if let Some(known) = gc.versions.get(&v) {
                if known.chunks.is_some() || !pinned.contains(&v) {
                    continue;
                }
            }
            let info = if v == latest.version {
                VersionInfo::of(&latest)
            } else if first_pass && !pinned.contains(&v) {
                VersionInfo {
                    published_at_ms: now,
                    chunks: None,
                }
            } else {
                match d.manifests.load_version(v).await? {
                    Some(m) => VersionInfo::of(&m),
                    None => continue, // deleted meanwhile
                }
            };
            gc.versions.insert(v, info);
        }
        gc.primed = true;
        // A version stops being current when the next one is published.
        let mut retained = HashSet::new();
        let present: Vec<u64> = gc.versions.keys().copied().collect();
        for (i, &v) in present.iter().enumerate() {
            let superseded_at = present
                .get(i + 1)
                .and_then(|next| gc.versions.get(next))
                .map(|n| n.published_at_ms);
            let keep = v >= latest.version
                || pinned.contains(&v)
                || superseded_at.is_none_or(|t| t > history_horizon);
            if keep {
                retained.insert(v);
            }
        }

        let mut referenced: HashSet<ChunkId> = HashSet::new();
        let mut ever_published: HashSet<ChunkId> = HashSet::new();
        // A retained version whose chunks are unknown may reference any chunk.
        let mut blind = false;
        for (v, info) in &gc.versions {
            let Some(chunks) = &info.chunks else {
                blind |= retained.contains(v);
                continue;
            };
            ever_published.extend(chunks.iter().copied());
            if retained.contains(v) {
                referenced.extend(chunks.iter().copied());
            }
        }
        referenced.extend(d.view.manifest().all_chunks().map(|c| c.id));
        referenced.extend(d.chunks.tables_in_use());
        referenced.extend(d.ids.in_flight());

        let mut report = GcReport::default();
        if !blind {
            report.pins_released = self.release_sources(&latest, &referenced).await?;
        }
        let mut seen_orphans = HashSet::new();
        for object in store.list(firn_manifest::manifest::CHUNK_PREFIX).await? {
            let Some(id) = ChunkId::parse_object_name(&object.path) else {
                continue;
            };
            let collectable = if referenced.contains(&id) || id.epoch > d.epoch {
                false
            } else if blind && (id.epoch != d.epoch || ever_published.contains(&id)) {
                // Only this process's own orphans are known not to be in an
                // unread version.
                false
            } else if ever_published.contains(&id) {
                true // dropped by a version that is no longer retained
            } else if id.epoch < d.epoch {
                latest
                    .claim_after(id.epoch)
                    .is_none_or(|claim| claim.claimed_at_ms <= horizon)
            } else {
                seen_orphans.insert(id);
                let first_seen = *gc.orphans_seen.entry(id).or_insert(now);
                first_seen <= horizon
            };
            if !collectable {
                report.chunks_kept += 1;
                continue;
            }
            store.delete(&object.path).await?;
            report.chunks_deleted += 1;
            report.bytes_reclaimed += object.size;
            if !ever_published.contains(&id) {
                report.orphans_deleted += 1;
            }
            gc.orphans_seen.remove(&id);
        }
        gc.orphans_seen.retain(|id, _| seen_orphans.contains(id));
        let wal_horizon =
            now.saturating_sub(grace.max(d.wal_retention).max(retention).as_millis() as u64);
        self.collect_shipped_wal(&mut gc, &latest, now, wal_horizon, &mut report)
            .await?;

        for v in present {
            if retained.contains(&v) {
                report.manifests_kept += 1;
                continue;
            }
            store.delete(&firn_manifest::manifest_object(v)).await?;
            gc.versions.remove(&v);
            report.manifests_deleted += 1;
        }
        d.publisher.add_pending_totals(&firn_manifest::Totals {
            gc_chunks_deleted: report.chunks_deleted,
            gc_bytes_reclaimed: report.bytes_reclaimed,
            ..Default::default()
        });
        let m = &d.metrics;
        m.gc_passes.fetch_add(1, Ordering::Relaxed);
        m.gc_chunks_deleted
            .fetch_add(report.chunks_deleted, Ordering::Relaxed);
        m.gc_bytes_reclaimed
            .fetch_add(report.bytes_reclaimed, Ordering::Relaxed);
        m.gc_manifests_deleted
            .fetch_add(report.manifests_deleted, Ordering::Relaxed);
        Ok(report)
    }

    /// Lets go of every source of this clone that no referenced chunk lives
    /// in: its pin is deleted first (a source still listed without a pin is
    /// harmless, nothing of it is read; a release published with the pin
    /// left behind would keep the source's chunks for good), then the
    /// release is published. Returns the pins deleted.
    async fn release_sources(
        &self,
        latest: &Manifest,
        referenced: &HashSet<ChunkId>,
    ) -> Result<u64> {
        let unused: Vec<ChunkSource> = latest
            .sources
            .iter()
            .filter(|s| {
                !referenced
                    .iter()
                    .any(|id| latest.source_of(*id) == Some(*s))
            })
            .cloned()
            .collect();
        if unused.is_empty() {
            return Ok(0);
        }
        let released = crate::clone::release_pins(&self.deps.chunks.store, &unused).await?;
        let edit = ManifestEdit {
            release_sources: unused.iter().map(|s| s.db_id).collect(),
            ..ManifestEdit::default()
        };
        self.deps.publisher.publish(edit, Vec::new(), None).await?;
        for s in &unused {
            tracing::info!(
                "released the pin {} in {}: no chunk of it is read any more",
                s.pin,
                s.url
            );
        }
        Ok(released)
    }

    /// Deletes shipped WAL objects whose writes have all been in chunks
    /// (at or below the manifest's watermark) for longer than the grace
    /// period. Fences are kept — a replaced writer that has not shipped
    /// since must still find its next id taken — except one right after a
    /// fence of the same epoch (one writer's batch): a writer ships at
    /// consecutive ids, so none can reach it without creating the id below
    /// it first. The newest object is kept too: the next writer fences the
    /// id after it, which must be above every id ever written (ids are never
    /// reused, and the fence must land on the replaced writer's next id).
    async fn collect_shipped_wal(
        &self,
        gc: &mut GcState,
        latest: &Manifest,
        now: u64,
        horizon: u64,
        report: &mut GcReport,
    ) -> Result<()> {
        let d = &self.deps;
        let store = &d.chunks.store;
        let mut seen = HashSet::new();
        let objects = crate::write::wal::list_shipped(store).await?;
        let newest = objects.iter().map(|(id, _)| *id).max();
        // The previous listed object, if it is a fence: (id, epoch).
        let mut fence_below: Option<(u64, u64)> = None;
        for (id, object) in objects {
            if Some(id) == newest {
                report.wal_objects_kept += 1;
                continue;
            }
            let entry = match d.shipped.get(id) {
                Some(entry) => entry,
                None => {
                    let len = SHIPPED_HEADER_LEN as u64;
                    let header = match store.get_range(&object.path, 0, len).await {
                        Ok(h) => h,
                        Err(firn_store::StoreError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let (epoch, run) = decode_header(&header, &object.path)?;
                    d.shipped.insert(id, epoch, run.last_seq);
                    ShippedEntry {
                        epoch,
                        last_seq: run.last_seq,
                    }
                }
            };
            let redundant = redundant_fence(fence_below, id, entry);
            fence_below = entry.is_fence().then_some((id, entry.epoch));
            if (entry.is_fence() && !redundant) || entry.last_seq > latest.wal_watermark {
                report.wal_objects_kept += 1;
                continue;
            }
            seen.insert(id);
            let first_seen = *gc.wal_flushed_seen.entry(id).or_insert(now);
            if first_seen > horizon {
                report.wal_objects_kept += 1;
                continue;
            }
            store.delete(&object.path).await?;
            d.shipped.remove(id);
            gc.wal_flushed_seen.remove(&id);
            report.wal_objects_deleted += 1;
        }
        gc.wal_flushed_seen.retain(|id, _| seen.contains(id));
        Ok(())
    }
}

/// True for a fence right after a fence of the same epoch (`fence_below`:
/// the previous listed object's id and epoch, if it is a fence). It stops
/// no writer: none ships at an id without having created the id below it,
/// and that one belongs to the writer that made both.
fn redundant_fence(fence_below: Option<(u64, u64)>, id: u64, entry: ShippedEntry) -> bool {
    entry.is_fence()
        && fence_below
            .is_some_and(|(below, epoch)| Some(below) == id.checked_sub(1) && epoch == entry.epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(epoch: u64) -> ShippedEntry {
        ShippedEntry { epoch, last_seq: 0 }
    }

    #[test]
    fn only_a_fence_after_a_fence_of_its_own_epoch_is_redundant() {
        // A batch of epoch 3 after its first fence.
        assert!(redundant_fence(Some((10, 3)), 11, fence(3)));
        // The first of a batch, after another writer's object or nothing.
        assert!(!redundant_fence(None, 11, fence(3)));
        // Side by side with an older writer's last fence: that writer ships
        // at this id next, so it must stay.
        assert!(!redundant_fence(Some((10, 2)), 11, fence(3)));
        // Not adjacent: the id below was collected (a data object, say).
        assert!(!redundant_fence(Some((9, 3)), 11, fence(3)));
        // Data objects are never fences.
        let data = ShippedEntry {
            epoch: 3,
            last_seq: 42,
        };
        assert!(!redundant_fence(Some((10, 3)), 11, data));
    }
}

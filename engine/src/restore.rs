//! Point-in-time restore (`firn restore`, [`restore_database`]): a new
//! database holding exactly the writes of a source database through a
//! sequence number, or through the last write committed at or before a
//! time — from the bucket alone.
//!
//! With a retention window set (`history_retention`, a database setting in
//! the manifest), garbage collection keeps every manifest version
//! superseded within the window, the chunks they reference, and every
//! shipped WAL object whose writes were flushed within it. So for a point
//! `N` inside the window the bucket holds a manifest version `B` whose
//! watermark is at most `N`, and the shipped records `B.watermark+1 ..= N`:
//!
//! ```text
//!   versions   ... B-1   B (watermark W ≤ N)   B+1 (watermark > N) ...
//!   shipped WAL                   │ W+1 ... N │ N+1 ...
//!   restored   = clone of B (chunks read in place, pinned)
//!              + one shipped object per source object, holding W+1..=N
//! ```
//!
//! The restored database is a zero-copy clone of `B` (see `clone.rs`) whose
//! shipped WAL holds those records; its first open replays them like any
//! unflushed writes. What a restore reads and writes is proportional to the
//! WAL replayed, not to the database: a few binary-search GETs of manifest
//! versions, the shipped objects from `B`'s on, the pins and one manifest.
//!
//! Every record of the shipped WAL (format 2) carries the time its commit
//! group was written, never decreasing within a writer; a restore to time
//! `T` keeps the longest run of records from the start whose times are all
//! at or before `T`. Records written by a build that kept no times can be
//! restored by sequence number only.

use bytes::Bytes;
use firn_manifest::{Manifest, ManifestStore, ObjectName};
use firn_store::ObjectStore;
use serde::Serialize;

use crate::clone::{clone_at, CloneWal};
use crate::error::{Error, Result};
use crate::write::wal::shipped::{self, RecordRun};

/// Where to restore to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePoint {
    /// Every write with a sequence number at or below this (whole batches:
    /// a batch that straddles it is left out).
    Seq(u64),
    /// Every write committed at or before this time, in milliseconds since
    /// the Unix epoch.
    TimeMs(u64),
}

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The new database's id.
    pub db_id: String,
    /// The restored database holds exactly the writes through this seq.
    pub seq: u64,
    /// When the last restored write was committed (ms since the Unix
    /// epoch), if the bucket recorded it.
    pub committed_at_ms: Option<u64>,
    /// The source's manifest version the restore starts from.
    pub base_version: u64,
    /// Its WAL watermark: writes above it come from the shipped WAL.
    pub base_watermark: u64,
    /// Shipped WAL objects read.
    pub wal_objects_read: u64,
    /// Their bytes.
    pub wal_bytes_read: u64,
    /// Batches written into the restored database's shipped WAL.
    pub batches_replayed: u64,
    /// Chunks referenced in place (none copied).
    pub chunks: u64,
    /// Every byte the restore wrote (pins, identity, manifest, WAL).
    pub bytes_written: u64,
}

/// Creates in `dest` (which must be empty) a database holding the state of
/// the database in `src` at `point`. Fails, changing nothing, when the
/// point is outside what the bucket keeps (see `history_retention`).
pub async fn restore_database(
    src: &ObjectStore,
    dest: &ObjectStore,
    point: RestorePoint,
) -> Result<RestoreReport> {
    let manifests = ManifestStore::new(src.clone());
    let versions = manifests.list_versions().await?;
    if versions.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no Firn database at {} (no manifest versions)",
            src.url()
        )));
    }
    let history = VersionHistory {
        manifests: &manifests,
        versions: &versions,
    };
    // The newest version certainly older than the point: its chunks hold
    // only writes the restored database keeps.
    let start = match point {
        RestorePoint::Seq(n) => history.newest_where(|m| m.wal_watermark <= n).await?,
        RestorePoint::TimeMs(t) => history.newest_where(|m| m.published_at_ms <= t).await?,
    };
    let Some(start) = start else {
        let oldest = history.load(0).await?;
        return Err(outside_window(src, point, &oldest));
    };
    let walk = read_wal_until(src, &start, point).await?;
    // The newest version whose chunks hold nothing past the point.
    let base = match history
        .newest_where(|m| m.wal_watermark <= walk.through)
        .await?
    {
        Some(m) if m.version >= start.version => m,
        _ => start.clone(),
    };
    let objects = restored_objects(&walk.objects, base.wal_watermark, walk.through, base.epoch)?;
    let batches: u64 = objects.iter().map(|o| u64::from(o.1.records)).sum();
    let objects = objects.into_iter().map(|(bytes, _)| bytes).collect();
    let clone = clone_at(src, dest, &base, CloneWal::Objects(objects), true).await?;
    Ok(RestoreReport {
        db_id: clone.db_id,
        seq: walk.through,
        committed_at_ms: walk.committed_at_ms,
        base_version: base.version,
        base_watermark: base.wal_watermark,
        wal_objects_read: walk.objects_read,
        wal_bytes_read: walk.bytes_read,
        batches_replayed: batches,
        chunks: clone.chunks,
        bytes_written: clone.bytes_written,
    })
}

fn outside_window(src: &ObjectStore, point: RestorePoint, oldest: &Manifest) -> Error {
    let what = match point {
        RestorePoint::Seq(n) => format!("sequence number {n}"),
        RestorePoint::TimeMs(t) => format!("time {}", crate::restore::time_text(t)),
    };
    Error::InvalidArgument(format!(
        "{what} is older than anything {} still holds: its oldest manifest version ({}, \
         published {}, watermark {}) is newer. Restore works inside the retention window \
         (`firn retention --set DURATION` on the source keeps history for that long)",
        src.url(),
        oldest.version,
        crate::restore::time_text(oldest.published_at_ms),
        oldest.wal_watermark
    ))
}

/// The manifest versions present, searched by GETs.
struct VersionHistory<'a> {
    manifests: &'a ManifestStore,
    versions: &'a [u64],
}

impl VersionHistory<'_> {
    /// The version at position `i` of the listing.
    async fn load(&self, i: usize) -> Result<Manifest> {
        let v = *self
            .versions
            .get(i)
            .ok_or_else(|| Error::InvalidArgument("no manifest version".into()))?;
        self.manifests.load_version(v).await?.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "manifest version {v} was collected during the restore: the point is at the \
                 edge of the retention window; restore a later point"
            ))
        })
    }

    /// The newest version for which `holds` is true, given that it holds
    /// for a prefix of the versions (watermarks and publication times never
    /// decrease): a binary search, one GET per step.
    async fn newest_where(&self, holds: impl Fn(&Manifest) -> bool) -> Result<Option<Manifest>> {
        let (mut lo, mut hi) = (0usize, self.versions.len());
        let mut found = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = self.load(mid).await?;
            if holds(&m) {
                lo = mid + 1;
                found = Some(m);
            } else {
                hi = mid;
            }
        }
        Ok(found)
    }
}

/// The shipped WAL from a manifest version on, read up to a point.
struct WalWalk {
    /// The decoded objects holding restored writes, in id order, with their
    /// names.
    objects: Vec<(String, shipped::ShippedObject)>,
    /// The last seq the restored database holds.
    through: u64,
    committed_at_ms: Option<u64>,
    /// True when the walk met a batch past the point (false: the shipped
    /// WAL ended first).
    reached_point: bool,
    objects_read: u64,
    bytes_read: u64,
}

/// Reads the shipped objects that hold writes above `start`'s watermark,
/// in id order, following the chain of sequence numbers, up to the point.
async fn read_wal_until(
    src: &ObjectStore,
    start: &Manifest,
    point: RestorePoint,
) -> Result<WalWalk> {
    let mut walk = WalWalk {
        objects: Vec::new(),
        through: start.wal_watermark,
        committed_at_ms: None,
        reached_point: false,
        objects_read: 0,
        bytes_read: 0,
    };
    if let RestorePoint::Seq(n) = point {
        walk.reached_point = n <= start.wal_watermark;
    }
    let listed = crate::write::wal::list_shipped(src).await?;
    for (id, info) in listed {
        if walk.reached_point {
            break;
        }
        if id < start.wal_objects_from {
            continue;
        }
        let name = ObjectName::ShippedWal(id).path();
        // Absent: collected since the LIST, so its writes are in chunks of
        // versions newer than the point's.
        let Some(bytes) = crate::write::wal::get_shipped(src, &name).await? else {
            continue;
        };
        walk.objects_read += 1;
        walk.bytes_read += info.size;
        let object = shipped::decode(&bytes, &name)?;
        let mut holds_restored = false;
        for b in object.batches(&name)? {
            if b.last <= walk.through {
                continue;
            }
            if b.first != walk.through.saturating_add(1) {
                return Err(Error::corruption(
                    &name,
                    None,
                    format!(
                        "shipped WAL continues at sequence number {}, but the writes before it \
                         end at {}: an object the restore needs is missing (outside the \
                         retention window?)",
                        b.first, walk.through
                    ),
                ));
            }
            let past = match point {
                RestorePoint::Seq(n) => b.last > n,
                RestorePoint::TimeMs(t) => match b.time_ms {
                    Some(time) => time > t,
                    None => {
                        return Err(Error::InvalidArgument(format!(
                            "{name} was shipped by a build that did not record commit times: \
                             restore to a sequence number (--to-seq) instead"
                        )))
                    }
                },
            };
            if past {
                walk.reached_point = true;
                break;
            }
            walk.through = b.last;
            walk.committed_at_ms = b.time_ms;
            holds_restored = true;
        }
        if holds_restored {
            walk.objects.push((name, object));
        }
    }
    if let RestorePoint::Seq(n) = point {
        // The point is held when a later batch was met, or when the shipped
        // WAL ends exactly at it (the newest write).
        if !walk.reached_point && walk.through < n {
            return Err(Error::InvalidArgument(format!(
                "sequence number {n} is past the newest write {} holds ({}): nothing later \
                 reached the bucket",
                src.url(),
                walk.through
            )));
        }
    }
    Ok(walk)
}

/// The shipped objects of the restored database: for each object read, its
/// records with writes in `watermark+1 ..= through` (whole batches), framed
/// again in the object's own layout, as shipped by a writer of `epoch`.
fn restored_objects(
    objects: &[(String, shipped::ShippedObject)],
    watermark: u64,
    through: u64,
    epoch: u64,
) -> Result<Vec<(Bytes, RecordRun)>> {
    let mut out = Vec::new();
    for (name, object) in objects {
        let mut body = Vec::new();
        let mut run: Option<RecordRun> = None;
        for (payload, b) in object.records.iter().zip(object.batches(name)?) {
            if b.first <= watermark || b.last > through {
                continue;
            }
            crate::write::wal::frame_record(&mut body, |out| out.extend_from_slice(payload));
            run = Some(match run {
                None => RecordRun {
                    first_seq: b.first,
                    last_seq: b.last,
                    records: 1,
                },
                Some(r) => RecordRun {
                    last_seq: b.last,
                    records: r.records + 1,
                    ..r
                },
            });
        }
        if let Some(run) = run {
            let bytes = shipped::encode(epoch, &body, Some(run), object.layout)?;
            out.push((Bytes::from(bytes), run));
        }
    }
    Ok(out)
}

/// A time in ms since the Unix epoch as RFC 3339 (UTC, milliseconds).
pub(crate) fn time_text(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

//! Zero-copy clones (`firn clone`, [`clone_database`], `Db::clone_into`)
//! and dropping a database (`firn drop`, [`drop_database`]).
//!
//! A clone is a new database whose first manifest references the source's
//! chunks where they are, listing the source in
//! [`firn_manifest::Manifest::sources`]; no chunk byte is copied. Its own
//! writers start at the epoch after the source's, so a chunk's epoch says
//! where it lives. The two then diverge: each writes and compacts its own
//! chunks under its own prefix.
//!
//! The clone *pins* what it references: a checkpoint named
//! `clone-<clone id>` in the source (and in each source of the source it
//! still reads from) keeps that manifest version, and so its chunks, out of
//! the source's garbage collection. The clone's collector deletes a pin once
//! no version it retains references a chunk of that source any more (its
//! compactions rewrote them), and [`drop_database`] deletes them all.
//!
//! ```text
//! source  s3://b/prod   chunks/…(epochs 1..=7)   checkpoints/clone-<id> ─► version 41
//!                          ▲ read in place
//! clone   s3://b/test   manifest/1: sources = [{url: s3://b/prod, max_epoch: 7, pin}]
//!                       chunks/…(epochs 8..)  its own, written after the clone
//! ```
//!
//! Creation writes the pins, the identity object, the first manifest and —
//! for the current state — the source's shipped WAL above its watermark
//! (writes not in chunks yet): a few KiB plus the unflushed WAL.

use bytes::Bytes;
use firn_manifest::{ChunkSource, Manifest, ManifestStore, ObjectName, IDENTITY_OBJECT};
use firn_store::{ObjectStore, PutOutcome, StoreError};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::read::locator::open_source;

/// The checkpoint name prefix of clone pins (`clone-<clone id, 32 hex>`).
pub const CLONE_PIN_PREFIX: &str = "clone-";

/// What creating a clone did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CloneReport {
    /// The new database's id.
    pub db_id: String,
    /// The source's manifest version the clone starts from.
    pub source_version: u64,
    /// Chunks the clone references in its sources (none copied).
    pub chunks: u64,
    /// Their bytes (read in place, not copied).
    pub chunk_bytes: u64,
    /// Shipped WAL objects copied (the source's writes not yet in chunks).
    pub wal_objects: u64,
    /// Every byte the clone's creation wrote (pins, identity, manifest, WAL).
    pub bytes_written: u64,
    /// The pin's checkpoint name (in each source).
    pub pin: String,
    /// The databases the clone reads chunks from, by URL.
    pub sources: Vec<String>,
}

/// Creates in `dest` (which must hold nothing) a clone of the database in
/// `src` as it is now (its newest manifest version and the shipped WAL
/// above it) or as the checkpoint `checkpoint` pins it.
pub async fn clone_database(
    src: &ObjectStore,
    dest: &ObjectStore,
    checkpoint: Option<&str>,
) -> Result<CloneReport> {
    let manifests = ManifestStore::new(src.clone());
    let base = match checkpoint {
        Some(name) => crate::db::open::load_checkpointed(&manifests, name).await?,
        None => crate::inspect::load_latest_manifest(src).await?,
    };
    let wal = match checkpoint {
        Some(_) => CloneWal::Empty,
        None => CloneWal::FromSource,
    };
    clone_at(src, dest, &base, wal, false).await
}

/// What a new clone's shipped WAL holds.
pub(crate) enum CloneWal {
    /// Nothing: the clone starts at the base version's watermark.
    Empty,
    /// The source's shipped objects above the base version's watermark.
    FromSource,
    /// These shipped objects, as ids 1, 2, ... (a restore's records).
    Objects(Vec<Bytes>),
}

/// Creates in `dest` a clone of manifest version `base` of the database in
/// `src`, with the shipped WAL `wal`. With `verify_chunks`, every chunk of
/// `base` is checked to exist (one HEAD each) once it is pinned: a version
/// found in the bucket may be older than the chunks kept for it.
pub(crate) async fn clone_at(
    src: &ObjectStore,
    dest: &ObjectStore,
    base: &Manifest,
    wal: CloneWal,
    verify_chunks: bool,
) -> Result<CloneReport> {
    check_locations(src, dest).await?;
    let db_id = *firn_store::clock::uuid().as_bytes();
    let pin = format!(
        "{CLONE_PIN_PREFIX}{}",
        uuid::Uuid::from_bytes(db_id).simple()
    );
    let mut report = CloneReport {
        db_id: crate::local::format_db_id(&db_id),
        source_version: base.version,
        pin: pin.clone(),
        ..CloneReport::default()
    };
    // The source needs an identity object: the clone checks it before
    // reading there (a database from before identity objects gets one).
    let identity = firn_manifest::identity_contents(&base.db_id);
    if src.stat(IDENTITY_OBJECT).await?.is_none() {
        src.put_if_absent(IDENTITY_OBJECT, Bytes::from(identity))
            .await?;
    }

    // The sources: the ones of `src` that `base` still reads from, then
    // `src` itself. Each gets a pin of its own.
    let mut sources: Vec<ChunkSource> = base
        .sources
        .iter()
        .filter(|s| base.all_chunks().any(|c| base.source_of(c.id) == Some(*s)))
        .map(|s| ChunkSource {
            pin: pin.clone(),
            ..s.clone()
        })
        .collect();
    sources.push(ChunkSource {
        url: src.url().to_string(),
        db_id: base.db_id,
        max_epoch: base.epoch,
        pinned_version: base.version,
        pin: pin.clone(),
    });
    let mut pinned: Vec<(ObjectStore, String)> = Vec::new();
    let result = async {
        for source in &sources {
            let store = if source.url == src.url() {
                src.clone()
            } else {
                open_source(src, source).await?
            };
            report.bytes_written += write_pin(&store, source, &db_id).await?;
            pinned.push((store.clone(), source.pin.clone()));
            // The version must still be there now that it is pinned (a
            // collection that started before the pin may have removed it).
            if ManifestStore::new(store.clone())
                .load_version(source.pinned_version)
                .await?
                .is_none()
            {
                return Err(Error::InvalidArgument(format!(
                    "manifest version {} of {} was collected while the clone was being made: \
                     clone again (or clone a checkpoint)",
                    source.pinned_version, source.url
                )));
            }
        }
        if verify_chunks {
            check_chunks_exist(src, base).await?;
        }
        let wal_objects_from = match wal {
            CloneWal::Empty => 0,
            CloneWal::FromSource => {
                let (objects, bytes) = crate::copy::copy_shipped_wal(
                    src,
                    dest,
                    base.wal_objects_from,
                    base.wal_watermark,
                    &|_| {},
                )
                .await?;
                report.wal_objects = objects;
                report.bytes_written += bytes;
                base.wal_objects_from
            }
            CloneWal::Objects(objects) => {
                for (id, bytes) in (1u64..).zip(objects) {
                    report.wal_objects += 1;
                    report.bytes_written += bytes.len() as u64;
                    let name = ObjectName::ShippedWal(id).path();
                    crate::copy::put_same(dest, &name, bytes).await?;
                }
                1
            }
        };
        let identity = firn_manifest::identity_contents(&db_id);
        report.bytes_written += identity.len() as u64;
        crate::copy::put_same(dest, IDENTITY_OBJECT, Bytes::from(identity)).await?;

        let mut first = base.clone();
        first.db_id = db_id;
        first.claims.clear();
        first.fenced.clear();
        first.writer_clean = true;
        first.fence_records_since = 0;
        first.totals = firn_manifest::Totals::default();
        first.sources = sources.clone();
        first.wal_objects_from = wal_objects_from;
        let created = ManifestStore::new(dest.clone())
            .create_initial(&first)
            .await?
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{} received another database while the clone was being made",
                    dest.url()
                ))
            })?;
        report.bytes_written += firn_manifest::encode(&created).len() as u64;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        // Nothing references the pins: take them back (best effort; a pin
        // left behind only keeps chunks, and `firn checkpoint delete` frees them).
        for (store, name) in pinned {
            let _ = store
                .delete(&crate::checkpoint::checkpoint_object(&name))
                .await;
        }
        return Err(e);
    }
    for c in base.all_chunks() {
        report.chunks += 1;
        report.chunk_bytes += c.size;
    }
    report.sources = sources.iter().map(|s| s.url.clone()).collect();
    Ok(report)
}

/// Checks that every chunk of `base` is where it should be (in `src` or in
/// one of its sources).
async fn check_chunks_exist(src: &ObjectStore, base: &Manifest) -> Result<()> {
    use futures::stream::{StreamExt, TryStreamExt};
    let locator = crate::read::locator::ChunkLocator::new(src.clone());
    let checks = base.all_chunks().map(|meta| {
        let locator = &locator;
        async move {
            let holder = locator.store_for(base, meta.id).await?;
            let object = meta.id.object_name();
            match holder.stat(&object).await? {
                Some(_) => Ok(()),
                None => Err(Error::InvalidArgument(format!(
                    "chunk {} of manifest version {} is no longer in {}: the point is outside \
                     what the bucket keeps (set a retention window with `firn retention --set`)",
                    meta.id,
                    base.version,
                    holder.url()
                ))),
            }
        }
    });
    futures::stream::iter(checks)
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Refuses a destination that holds anything, or that lies inside the
/// source's prefix (or the source inside it): dropping or collecting one
/// would reach into the other.
async fn check_locations(src: &ObjectStore, dest: &ObjectStore) -> Result<()> {
    let (a, b) = (
        src.url().trim_end_matches('/').to_string(),
        dest.url().trim_end_matches('/').to_string(),
    );
    if let Some(path) = a.strip_prefix("file://") {
        if !std::path::Path::new(path).is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "the source {a} is a relative path: the clone records where its source is, so \
                 name it by an absolute path"
            )));
        }
    }
    if a == b || b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/")) {
        return Err(Error::InvalidArgument(format!(
            "the clone's location {b} overlaps its source {a}: pick a prefix outside it"
        )));
    }
    if let Some(object) = dest.list("").await?.first() {
        return Err(Error::InvalidArgument(format!(
            "{b} is not empty (it holds {}): clone into an empty location",
            object.path
        )));
    }
    Ok(())
}

/// Writes the pin checkpoint of `source` (by conditional create); returns
/// the bytes written.
async fn write_pin(store: &ObjectStore, source: &ChunkSource, clone_id: &[u8; 16]) -> Result<u64> {
    let checkpoint = crate::Checkpoint {
        name: source.pin.clone(),
        db_id: source.db_id,
        manifest_version: source.pinned_version,
        created_at_ms: firn_store::clock::now_ms(),
    };
    let bytes = Bytes::from(crate::checkpoint::encode(&checkpoint)?);
    let len = bytes.len() as u64;
    let object = crate::checkpoint::checkpoint_object(&source.pin);
    match store.put_if_absent(&object, bytes).await? {
        PutOutcome::Created => Ok(len),
        PutOutcome::AlreadyExists => Err(Error::InvalidArgument(format!(
            "{object} already exists in {} (the pin of clone {}): a clone id repeated",
            store.url(),
            crate::local::format_db_id(clone_id)
        ))),
    }
}

/// Deletes the pins a database holds in `sources` (its clone pins), skipping
/// a source that is gone. Returns how many were deleted.
pub(crate) async fn release_pins(own: &ObjectStore, sources: &[ChunkSource]) -> Result<u64> {
    let mut released = 0;
    for source in sources {
        let store = match open_source(own, source).await {
            Ok(store) => store,
            Err(Error::InvalidArgument(why)) => {
                tracing::warn!("not releasing the pin {} : {why}", source.pin);
                continue;
            }
            Err(e) => return Err(e),
        };
        store
            .delete(&crate::checkpoint::checkpoint_object(&source.pin))
            .await?;
        released += 1;
    }
    Ok(released)
}

/// What dropping a database did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DropReport {
    /// Objects deleted.
    pub objects_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Pins released in the databases it was cloned from.
    pub pins_released: u64,
}

/// Deletes the database in `store`: fences its writer (a claim), releases
/// the pins it holds in the databases it was cloned from, then deletes
/// every object under its prefix, the manifest versions and the identity
/// object last (an interrupted drop is run again). Refused while clones of
/// it exist (their pins are its checkpoints) unless `break_clones`: those
/// clones would lose chunks they read.
pub async fn drop_database(store: &ObjectStore, break_clones: bool) -> Result<DropReport> {
    let manifests = ManifestStore::new(store.clone());
    let latest = manifests.load_latest().await?;
    if latest.is_none() && store.stat(IDENTITY_OBJECT).await?.is_none() {
        return Err(Error::InvalidArgument(format!(
            "no Firn database at {} (no manifest versions, no identity object)",
            store.url()
        )));
    }
    let clones: Vec<String> = crate::checkpoint::list(store)
        .await?
        .into_iter()
        .filter(|c| c.name.starts_with(CLONE_PIN_PREFIX))
        .map(|c| c.name)
        .collect();
    if !clones.is_empty() && !break_clones {
        return Err(Error::InvalidArgument(format!(
            "{} has clones that read chunks from it (pins {}): drop those clones first \
             (`firn drop CLONE`), or drop this one anyway and break them (`firn drop \
             --break-clones`)",
            store.url(),
            clones.join(", ")
        )));
    }
    let mut report = DropReport::default();
    if let Some(latest) = &latest {
        // A running writer is fenced: its next publish fails.
        manifests.claim_writer(latest).await?;
        report.pins_released = release_pins(store, &latest.sources).await?;
    }
    // Manifest versions after everything they reference; identity last.
    let rank = |path: &str| match ObjectName::parse(path) {
        Some(ObjectName::Identity) => 2,
        Some(ObjectName::ManifestVersion(_)) => 1,
        _ => 0,
    };
    // A writer fenced meanwhile may still land a last upload: list again.
    for _ in 0..3 {
        let mut objects = store.list("").await?;
        if objects.is_empty() {
            break;
        }
        objects.sort_by_key(|o| (rank(&o.path), o.path.clone()));
        for object in objects {
            match store.delete(&object.path).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            report.objects_deleted += 1;
            report.bytes_deleted += object.size;
        }
    }
    Ok(report)
}

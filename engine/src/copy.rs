//! Copying a database from one object store to another (`firn copy`, also
//! the backup command): its current state, or a checkpoint, byte for byte.
//!
//! Every chunk the manifest version references is read whole, checked
//! (every checksum, and its size and properties against the manifest) and
//! written to the destination with a conditional create; for the current
//! state, so are the shipped WAL objects holding writes above the
//! watermark (decoded and checked). The manifest version goes last: until
//! it is written the destination holds no database, and a copy that
//! stopped half-way is run again (objects already there with the same
//! bytes are kept). The copy keeps the database id; it opens as an
//! ordinary database, and its first writer claims the next epoch. A copy of
//! a clone holds every chunk itself (read from the clone's sources): it
//! reads from no other database.

use bytes::Bytes;
use firn_manifest::{Manifest, ManifestStore, ObjectName, IDENTITY_OBJECT};
use firn_store::{ObjectStore, PutOutcome, StoreError};
use futures::stream::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};

/// Objects copied at once.
const COPY_PARALLELISM: usize = 4;

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// The manifest version copied.
    pub manifest_version: u64,
    /// Chunks copied (or found already in place with the same bytes).
    pub chunks: u64,
    /// Their bytes.
    pub chunk_bytes: u64,
    /// Shipped WAL objects copied (writes above the watermark, fences).
    pub wal_objects: u64,
    /// Their bytes.
    pub wal_bytes: u64,
}

/// Progress of a copy, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct CopyProgress {
    /// Bytes copied so far.
    pub bytes: u64,
    /// Bytes to copy in all (the chunks as the manifest records them, and
    /// the shipped WAL objects as listed).
    pub total: u64,
}

/// Copies the database in `src` (its newest manifest version, or the one
/// `checkpoint` pins) into `dest`, which must hold no database. Calls
/// `progress` after each object.
pub async fn copy_database(
    src: &ObjectStore,
    dest: &ObjectStore,
    checkpoint: Option<&str>,
    progress: &(dyn Fn(CopyProgress) + Sync),
) -> Result<CopyReport> {
    let dest_manifests = ManifestStore::new(dest.clone());
    if let Some(existing) = dest_manifests.list_versions().await?.last() {
        return Err(Error::InvalidArgument(format!(
            "{} already holds a database (manifest version {existing}): copy into an empty \
             location",
            dest.url()
        )));
    }
    let src_manifests = ManifestStore::new(src.clone());
    let manifest = match checkpoint {
        Some(name) => crate::db::open::load_checkpointed(&src_manifests, name).await?,
        None => crate::inspect::load_latest_manifest(src).await?,
    };
    // The shipped WAL above the watermark belongs to the current state (a
    // checkpoint is its chunks alone).
    let wal: Vec<(String, u64)> = match checkpoint {
        Some(_) => Vec::new(),
        None => shipped_from(src, manifest.wal_objects_from).await?,
    };
    let chunk_total: u64 = manifest.all_chunks().map(|c| c.size).sum();
    let total = chunk_total + wal.iter().map(|(_, size)| size).sum::<u64>();
    let done = std::sync::atomic::AtomicU64::new(0);
    let report_progress = |bytes: u64| {
        let so_far = done.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
        progress(CopyProgress {
            bytes: so_far,
            total,
        });
    };
    progress(CopyProgress { bytes: 0, total });

    let mut report = CopyReport {
        manifest_version: manifest.version,
        ..CopyReport::default()
    };
    let locator = crate::read::locator::ChunkLocator::new(src.clone());
    let chunks = manifest.all_chunks().map(|meta| {
        let report_progress = &report_progress;
        let manifest = &manifest;
        let locator = &locator;
        async move {
            let object = meta.id.object_name();
            let holder = locator.store_for(manifest, meta.id).await?;
            let bytes = match holder.get(&object).await {
                Ok(b) => b,
                Err(StoreError::NotFound { .. }) => {
                    return Err(Error::corruption(
                        &object,
                        None,
                        format!(
                            "the chunk is missing from {}, but manifest version {} references \
                             it: nothing was copied past it (run `firn verify` on the source)",
                            holder.url(),
                            manifest.version
                        ),
                    ))
                }
                Err(e) => return Err(e.into()),
            };
            let len = bytes.len() as u64;
            crate::inspect::check_chunk_bytes(bytes.clone(), meta, manifest.version)??;
            put_same(dest, &object, bytes).await?;
            report_progress(len);
            Ok(len)
        }
    });
    let sizes: Vec<u64> = futures::stream::iter(chunks)
        .buffer_unordered(COPY_PARALLELISM)
        .try_collect()
        .await?;
    report.chunks = sizes.len() as u64;
    report.chunk_bytes = sizes.iter().sum();

    let (objects, bytes) =
        copy_wal_objects(src, dest, &wal, manifest.wal_watermark, &report_progress).await?;
    report.wal_objects = objects;
    report.wal_bytes = bytes;
    match src.get(ObjectName::Identity.path().as_str()).await {
        Ok(identity) => put_same(dest, IDENTITY_OBJECT, identity).await?,
        // A database from before the identity object: the first writer of
        // the copy creates one.
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let mut manifest = manifest;
    // Every chunk is the copy's own now.
    manifest.sources.clear();
    write_manifest(dest, &manifest).await?;
    Ok(report)
}

/// Copies the shipped WAL objects of `src` from id `from` on that hold
/// writes above `watermark` into `dest`, each decoded and checked (objects
/// holding only flushed writes, which a writer still shipping behind its
/// flushes leaves above `from`, and fences are read but not copied).
/// Returns how many objects and bytes were copied.
pub(crate) async fn copy_shipped_wal(
    src: &ObjectStore,
    dest: &ObjectStore,
    from: u64,
    watermark: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(u64, u64)> {
    let wal = shipped_from(src, from).await?;
    copy_wal_objects(src, dest, &wal, watermark, progress).await
}

/// The shipped WAL objects of `src` from id `from` on: name and size.
async fn shipped_from(src: &ObjectStore, from: u64) -> Result<Vec<(String, u64)>> {
    Ok(crate::write::wal::list_shipped(src)
        .await?
        .into_iter()
        .filter(|(id, _)| *id >= from)
        .map(|(_, o)| (o.path, o.size))
        .collect())
}

async fn copy_wal_objects(
    src: &ObjectStore,
    dest: &ObjectStore,
    wal: &[(String, u64)],
    watermark: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(u64, u64)> {
    let (mut objects, mut bytes_copied) = (0, 0);
    for (name, _) in wal {
        // Absent: collected since the LIST, its writes are in chunks.
        let Some(bytes) = crate::write::wal::get_shipped(src, name).await? else {
            continue;
        };
        let object = crate::write::wal::shipped::decode(&bytes, name)?;
        let len = bytes.len() as u64;
        if object.last_seq <= watermark {
            progress(len);
            continue;
        }
        put_same(dest, name, bytes).await?;
        objects += 1;
        bytes_copied += len;
        progress(len);
    }
    Ok((objects, bytes_copied))
}

/// Writes the manifest version last: from now on `dest` holds a database.
async fn write_manifest(dest: &ObjectStore, manifest: &Manifest) -> Result<()> {
    let name = ObjectName::ManifestVersion(manifest.version).path();
    let bytes = Bytes::from(firn_manifest::encode(manifest));
    put_same(dest, &name, bytes).await
}

/// Conditional create of `name`; an object already there must hold the
/// same bytes (an earlier, interrupted copy).
pub(crate) async fn put_same(dest: &ObjectStore, name: &str, bytes: Bytes) -> Result<()> {
    match dest.put_if_absent(name, bytes.clone()).await? {
        PutOutcome::Created => Ok(()),
        PutOutcome::AlreadyExists => {
            if dest.get(name).await? == bytes {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "{name} already exists in {} with other contents: copy into an empty \
                     location",
                    dest.url()
                )))
            }
        }
    }
}

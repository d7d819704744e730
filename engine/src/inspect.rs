//! Whole-database inspection as library calls (the `firn` command line only
//! prints them): the newest manifest version read straight from the store,
//! a summary of it, and [`verify`], which checks every checksum of every
//! chunk the manifest references.
//!
//! These work from the object store directly rather than through an opened
//! [`Db`](crate::Db): opening decodes chunk indexes, so one damaged chunk
//! would stop the check before the others were looked at.

use bytes::Bytes;
use firn_chunk::{ChunkError, ChunkReader};
use firn_manifest::{ChunkMeta, Manifest, ManifestStore};
use firn_store::{ObjectStore, StoreError};
use serde::Serialize;

use crate::error::{Error, Result};

/// The newest manifest version in `store` (one LIST and one GET), or an
/// error saying there is no database there.
pub async fn load_latest_manifest(store: &ObjectStore) -> Result<Manifest> {
    ManifestStore::new(store.clone())
        .load_latest()
        .await?
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no Firn database at {} (no manifest versions)",
                store.url()
            ))
        })
}

/// Counts over one manifest version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ManifestSummary {
    /// The manifest version.
    pub version: u64,
    /// Its writer epoch.
    pub epoch: u64,
    /// Its WAL watermark.
    pub wal_watermark: u64,
    /// Chunks referenced.
    pub chunks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their entries (puts and tombstones).
    pub entries: u64,
    /// Their tombstones.
    pub tombstones: u64,
    /// Chunks in level 0.
    pub l0_chunks: u64,
    /// Sorted runs.
    pub runs: u64,
    /// Chunks in sorted runs.
    pub run_chunks: u64,
}

impl ManifestSummary {
    /// The summary of `m`.
    pub fn of(m: &Manifest) -> ManifestSummary {
        let all = || m.all_chunks();
        ManifestSummary {
            version: m.version,
            epoch: m.epoch,
            wal_watermark: m.wal_watermark,
            chunks: all().count() as u64,
            bytes: all().map(|c| c.size).sum(),
            entries: all().map(|c| c.entries).sum(),
            tombstones: all().map(|c| c.tombstones).sum(),
            l0_chunks: m.l0.len() as u64,
            runs: m.runs.len() as u64,
            run_chunks: m.runs.iter().map(|r| r.chunks.len() as u64).sum(),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The manifest version checked (its own checksum passed).
    pub manifest: Manifest,
    /// Chunks that passed every check.
    pub chunks_ok: u64,
    /// Their data blocks.
    pub blocks: u64,
    /// Their entries.
    pub entries: u64,
    /// Their tombstones.
    pub tombstones: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Shipped WAL objects (`wal/`, fences included) that passed every
    /// check: header, body and record checksums, sequence ranges.
    pub wal_objects_ok: u64,
    /// One [`Error::Corruption`] per damaged chunk or shipped WAL object
    /// (naming the object and offset): chunks in manifest order, then
    /// shipped objects in id order.
    pub damaged: Vec<Error>,
}

impl VerifyReport {
    /// True when every chunk passed.
    pub fn is_ok(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// Reads the newest manifest version and every chunk it references whole,
/// and checks each: its size and metadata region against the manifest, the
/// footer, index, filter and properties (against the manifest too), every
/// data block's checksum and the order of all entries. A damaged chunk is
/// recorded in the report and the check goes on; an error that is not
/// damage (the store unreachable, a newer format) ends it. A clone's chunks
/// in its sources are read and checked where they are.
pub async fn verify(store: &ObjectStore) -> Result<VerifyReport> {
    verify_with_progress(store, &|_| {}).await
}

/// How far [`verify_with_progress`] has got: the chunks (and their bytes) checked so far out
/// of those the manifest references.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Chunks checked.
    pub chunks: u64,
    /// Chunks to check.
    pub total_chunks: u64,
    /// Bytes of the chunks checked.
    pub bytes: u64,
    /// Bytes of all chunks to check.
    pub total_bytes: u64,
}

/// [`verify`], calling `progress` before the first chunk and after each one (for a
/// progress bar: `firn verify` shows one on a terminal).
pub async fn verify_with_progress(
    store: &ObjectStore,
    progress: &(dyn Fn(VerifyProgress) + Sync),
) -> Result<VerifyReport> {
    let manifest = load_latest_manifest(store).await?;
    let mut done = VerifyProgress {
        total_chunks: manifest.all_chunks().count() as u64,
        total_bytes: manifest.all_chunks().map(|c| c.size).sum(),
        ..VerifyProgress::default()
    };
    progress(done);
    let mut report = VerifyReport {
        manifest: manifest.clone(),
        chunks_ok: 0,
        blocks: 0,
        entries: 0,
        tombstones: 0,
        bytes: 0,
        wal_objects_ok: 0,
        damaged: Vec::new(),
    };
    let locator = crate::read::locator::ChunkLocator::new(store.clone());
    for meta in manifest.all_chunks() {
        let holder = locator.store_for(&manifest, meta.id).await?;
        match check_chunk(&holder, meta, manifest.version).await? {
            Ok(blocks) => {
                report.chunks_ok += 1;
                report.entries += meta.entries;
                report.tombstones += meta.tombstones;
                report.blocks += blocks;
                report.bytes += meta.size;
            }
            Err(damage) => report.damaged.push(damage),
        }
        done.chunks += 1;
        done.bytes += meta.size;
        progress(done);
    }
    for (_, object) in crate::write::wal::list_shipped(store).await? {
        let name = object.path;
        // Absent: collected since the LIST.
        let Some(bytes) = crate::write::wal::get_shipped(store, &name).await? else {
            continue;
        };
        match crate::write::wal::shipped::decode(&bytes, &name) {
            Ok(_) => report.wal_objects_ok += 1,
            Err(damage) if damage.is_corruption() => report.damaged.push(damage),
            Err(other) => return Err(other),
        }
    }
    Ok(report)
}

/// Checks one chunk: `Ok(Ok(blocks))` when it is sound, `Ok(Err(corruption))`
/// when it is damaged, `Err` when it could not be checked.
async fn check_chunk(
    store: &ObjectStore,
    meta: &ChunkMeta,
    version: u64,
) -> Result<std::result::Result<u64, Error>> {
    let object = meta.id.object_name();
    let bytes: Bytes = match store.get(&object).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => {
            return Ok(Err(Error::Corruption {
                object,
                offset: None,
                detail: format!(
                    "the object is missing, but manifest version {version} references it"
                ),
            }))
        }
        Err(e) => return Err(e.into()),
    };
    check_chunk_bytes(bytes, meta, version)
}

/// Checks the bytes of chunk `meta` (every checksum, and that its size,
/// metadata region and properties match what manifest `version` records):
/// `Ok(Ok(blocks))` when sound, `Ok(Err(corruption))` when damaged.
pub(crate) fn check_chunk_bytes(
    bytes: Bytes,
    meta: &ChunkMeta,
    version: u64,
) -> Result<std::result::Result<u64, Error>> {
    let object = meta.id.object_name();
    let corrupt = |offset: Option<u64>, detail: String| Error::Corruption {
        object: object.clone(),
        offset,
        detail,
    };
    let size = bytes.len() as u64;
    if size != meta.size {
        return Ok(Err(corrupt(
            Some(size.min(meta.size)),
            format!(
                "the object is {size} bytes, manifest version {version} says {}",
                meta.size
            ),
        )));
    }
    let reader = match ChunkReader::open(bytes) {
        Ok(r) => r,
        Err(e) => return chunk_problem(&object, e).map(Err),
    };
    let index = reader.index();
    if index.meta_offset() != meta.meta_offset
        || meta.meta_len != size.saturating_sub(meta.meta_offset)
    {
        return Ok(Err(corrupt(
            Some(index.meta_offset()),
            format!(
                "metadata region starts at {}, manifest version {version} says {} ({} bytes)",
                index.meta_offset(),
                meta.meta_offset,
                meta.meta_len
            ),
        )));
    }
    let p = index.properties();
    let show = |k: &[u8]| format!("{:?}", String::from_utf8_lossy(k));
    let mismatch = [
        (
            "entries",
            p.entries != meta.entries,
            p.entries.to_string(),
            meta.entries.to_string(),
        ),
        (
            "tombstones",
            p.tombstones != meta.tombstones,
            p.tombstones.to_string(),
            meta.tombstones.to_string(),
        ),
        (
            "min_key",
            p.min_key != meta.min_key,
            show(&p.min_key),
            show(&meta.min_key),
        ),
        (
            "max_key",
            p.max_key != meta.max_key,
            show(&p.max_key),
            show(&meta.max_key),
        ),
        (
            "min_seq",
            !meta.seqs_match(p.min_seq, p.max_seq),
            p.min_seq.to_string(),
            meta.min_seq.to_string(),
        ),
        (
            "max_seq",
            !meta.seqs_match(p.min_seq, p.max_seq),
            p.max_seq.to_string(),
            meta.max_seq.to_string(),
        ),
    ]
    .into_iter()
    .find(|(_, differs, _, _)| *differs);
    if let Some((field, _, ours, theirs)) = mismatch {
        return Ok(Err(corrupt(
            Some(index.footer().properties.offset),
            format!("properties say {field} {ours}, manifest version {version} says {theirs}"),
        )));
    }
    let blocks = index.block_count() as u64;
    match reader.verify() {
        Ok(()) => Ok(Ok(blocks)),
        Err(e) => chunk_problem(&object, e).map(Err),
    }
}

/// A chunk decoding error: `Ok(corruption of object)` for damage, `Err` for
/// what is not damage (an unknown format version, an I/O failure).
fn chunk_problem(object: &str, err: ChunkError) -> Result<Error> {
    let (offset, detail) = match err {
        ChunkError::Corrupt { offset, detail } => (Some(offset), detail),
        ChunkError::Truncated { size, .. } => (Some(size), err.to_string()),
        ChunkError::NotAChunk { .. } => (None, err.to_string()),
        ChunkError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => (None, e.to_string()),
        other => return Err(Error::InvalidArgument(format!("{object}: {other}"))),
    };
    Ok(Error::Corruption {
        object: object.to_string(),
        offset,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_problems_name_object_and_offset_and_a_newer_format_is_not_damage() {
        let e = chunk_problem(
            "chunks/a.chunk",
            ChunkError::Corrupt {
                offset: 42,
                detail: "block checksum mismatch".into(),
            },
        )
        .expect("damage");
        assert!(e.is_corruption());
        assert_eq!(
            e.to_string(),
            "corruption in chunks/a.chunk at offset 42: block checksum mismatch"
        );
        let e = chunk_problem(
            "c",
            ChunkError::UnsupportedVersion {
                found: 2,
                supported: 1,
            },
        );
        assert!(e.is_err(), "a newer format is not damage");
    }
}

/// One WAL segment or shipped WAL object as `firn wal-dump` shows it.
#[derive(Clone, Debug)]
pub struct WalSource {
    /// The segment file, or the object name (`wal/<id>.wal`).
    pub name: String,
    /// True for a shipped object, false for a local segment.
    pub shipped: bool,
    /// The epoch of the writer that wrote it.
    pub epoch: u64,
    /// Its records, in order (none for a fence).
    pub records: Vec<WalRecord>,
}

/// One WAL record: one write batch.
#[derive(Clone, Debug)]
pub struct WalRecord {
    /// Byte offset of the record in its segment, or in the object's
    /// (uncompressed) body.
    pub offset: u64,
    /// Sequence number of the batch's first op.
    pub first_seq: u64,
    /// When its commit group was written, ms since the Unix epoch (`None`
    /// in a segment or object written before commit times were recorded).
    pub committed_at_ms: Option<u64>,
    /// The batch.
    pub batch: crate::WriteBatch,
}

/// Every segment of the local WAL in `local_dir`, oldest first, decoded and
/// checked (a torn tail of the newest is left out, as recovery cuts it;
/// damage anywhere else is a corruption error naming the file and offset).
/// Reads only; needs no database.
pub fn local_wal(local_dir: &std::path::Path) -> Result<Vec<WalSource>> {
    use crate::write::wal::{list_segments, replay_segment, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
    let dir = local_dir.join("wal");
    let segments = list_segments(&dir)?;
    let count = segments.len();
    let mut out = Vec::new();
    for (i, (_, path)) in segments.iter().enumerate() {
        let replay = replay_segment(path, i + 1 == count)?;
        let name = path.display().to_string();
        let records = decode_records(
            &name,
            &replay.records,
            replay.layout,
            SEGMENT_HEADER_LEN as u64,
            RECORD_HEADER_LEN as u64,
        )?;
        out.push(WalSource {
            name,
            shipped: false,
            epoch: replay.epoch,
            records,
        });
    }
    Ok(out)
}

/// Every shipped WAL object in `store`, in id order, decoded and checked
/// (header, body and record checksums): a damaged object is a corruption
/// error naming it.
pub async fn shipped_wal(store: &ObjectStore) -> Result<Vec<WalSource>> {
    use crate::write::wal::RECORD_HEADER_LEN;
    let mut out = Vec::new();
    for (_, object) in crate::write::wal::list_shipped(store).await? {
        let name = object.path;
        // Absent: collected since the LIST.
        let Some(bytes) = crate::write::wal::get_shipped(store, &name).await? else {
            continue;
        };
        let object = crate::write::wal::shipped::decode(&bytes, &name)?;
        let records = decode_records(
            &name,
            &object.records,
            object.layout,
            0,
            RECORD_HEADER_LEN as u64,
        )?;
        out.push(WalSource {
            name,
            shipped: true,
            epoch: object.epoch,
            records,
        });
    }
    Ok(out)
}

/// Decodes record payloads that follow each other from byte `start`.
fn decode_records(
    name: &str,
    payloads: &[bytes::Bytes],
    layout: crate::write::wal::record::RecordLayout,
    start: u64,
    header: u64,
) -> Result<Vec<WalRecord>> {
    let mut offset = start;
    let mut out = Vec::with_capacity(payloads.len());
    for payload in payloads {
        let record = crate::write::wal::record::decode_record(payload, layout).map_err(|why| {
            Error::corruption(name, Some(offset), format!("bad batch in WAL: {why}"))
        })?;
        out.push(WalRecord {
            offset,
            first_seq: record.first,
            committed_at_ms: record.time_ms,
            batch: record.batch,
        });
        offset += header + payload.len() as u64;
    }
    Ok(out)
}

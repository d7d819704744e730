//! The write-ahead log: numbered segment files of CRC-framed batch records.
//!
//! The layout is documented byte by byte in `wal/FORMAT.md`:
//!
//! ```text
//! segment = header(24) record*
//! header  = "FIRNWAL\0" | version u32 | epoch u64 | crc32(header[0..20]) u32
//! record  = len u32 | crc32(payload) u32 | crc32(record[0..8]) u32 | payload[len]
//! payload = commit_time_ms u64 | batch      (version 2; version 1: batch)
//! ```

pub(crate) mod reader;
pub(crate) mod record;
pub(crate) mod shipped;
mod writer;

use std::path::{Path, PathBuf};

pub(crate) use reader::{list_segments, replay_segment};

pub(crate) use writer::WalWriter;

/// Segment magic (FORMAT.md, "Segment header").
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"FIRNWAL\0";
/// The WAL segment format version this build writes (version 1, whose
/// records carry no commit time, is still read; see [`record`]).
pub(crate) const WAL_FORMAT_VERSION: u32 = record::TIMED_RECORDS_VERSION;
/// Bytes in a segment header.
pub(crate) const SEGMENT_HEADER_LEN: usize = 24;
/// Bytes in a record header.
pub(crate) const RECORD_HEADER_LEN: usize = 12;
/// Largest payload a record may carry.
pub(crate) const MAX_RECORD_LEN: usize = (1 << 30) + (1 << 20);

/// File name of segment `n`.
pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

/// The temporary name segment `n` is created under (`<n>.wal.tmp`, never
/// listed as a segment): its header is written there, then it is renamed to
/// [`segment_path`].
pub(crate) fn temp_segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal.tmp"))
}

/// Removes temporary segment files a crash left behind (writer only).
pub(crate) fn remove_temp_segments(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(".wal.tmp"))
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The segment header of a segment written by a writer of `epoch`.
pub(crate) fn segment_header(epoch: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&epoch.to_le_bytes());
    let crc = crc32fast::hash(&h[..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Appends one framed record to `buf`: reserves the header, lets `fill`
/// write the payload, then completes the header.
pub(crate) fn frame_record(buf: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    fill(buf);
    let len = (buf.len() - start - RECORD_HEADER_LEN) as u32;
    let payload_crc = crc32fast::hash(&buf[start + RECORD_HEADER_LEN..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&buf[start..start + 8]);
    buf[start + 8..start + 12].copy_from_slice(&header_crc.to_le_bytes());
}

/// Every shipped WAL object in `store` (one LIST), in id order, with its
/// listing (name, size).
pub(crate) async fn list_shipped(
    store: &firn_store::ObjectStore,
) -> crate::Result<Vec<(u64, firn_store::ObjectInfo)>> {
    use firn_manifest::ObjectName;
    let mut objects: Vec<(u64, firn_store::ObjectInfo)> = store
        .list(firn_manifest::manifest::WAL_PREFIX)
        .await?
        .into_iter()
        .filter_map(|o| match ObjectName::parse(&o.path) {
            Some(ObjectName::ShippedWal(id)) => Some((id, o)),
            _ => None,
        })
        .collect();
    objects.sort_unstable_by_key(|(id, _)| *id);
    objects.dedup_by_key(|(id, _)| *id);
    Ok(objects)
}

/// The bytes of the shipped WAL object `name`; `None` when it is absent
/// (not shipped yet, or collected since it was listed).
pub(crate) async fn get_shipped(
    store: &firn_store::ObjectStore,
    name: &str,
) -> crate::Result<Option<bytes::Bytes>> {
    match store.get(name).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(firn_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// fsyncs a directory so created or deleted names in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// One batch read back from a local WAL by [`read_local_wal`].
#[derive(Clone, Debug)]
pub struct WalBatch {
    /// The epoch of the writer that logged it.
    pub epoch: u64,
    /// Sequence number of the batch's first op.
    pub first_seq: u64,
    /// When its commit group was written, ms since the Unix epoch (`None`
    /// in a segment written before commit times were recorded).
    pub committed_at_ms: Option<u64>,
    /// The batch.
    pub batch: crate::WriteBatch,
}

/// Reads every batch in the WAL of the local directory `local_dir`, oldest
/// first, without opening the database or changing anything (a torn tail is
/// skipped). For inspecting or re-applying writes a fenced writer left
/// behind.
pub fn read_local_wal(local_dir: &Path) -> crate::Result<Vec<WalBatch>> {
    let dir = local_dir.join("wal");
    let segments = list_segments(&dir)?;
    let mut out = Vec::new();
    let count = segments.len();
    for (i, (_, path)) in segments.iter().enumerate() {
        let replay = replay_segment(path, i + 1 == count)?;
        for payload in &replay.records {
            let record = record::decode_record(payload, replay.layout).map_err(|why| {
                crate::Error::corruption(
                    path.display().to_string(),
                    None,
                    format!("bad batch in WAL: {why}"),
                )
            })?;
            out.push(WalBatch {
                epoch: replay.epoch,
                first_seq: record.first,
                committed_at_ms: record.time_ms,
                batch: record.batch,
            });
        }
    }
    Ok(out)
}

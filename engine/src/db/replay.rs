//! WAL replay at open: which acknowledged writes are not in the bucket yet,
//! and which belong to a writer that was fenced before they got there.

use std::path::Path;

use firn_manifest::Manifest;

use crate::error::{Error, Result};
use crate::memtable::Memtable;
use crate::write::wal::{list_segments, replay_segment};

/// What WAL replay found.
pub(crate) struct Recovered {
    /// Writes above the watermark, in one memtable.
    pub mem: Memtable,
    /// The last sequence number in the WAL.
    pub last_seq: u64,
    /// The newest segment number.
    pub last_segment: u64,
    /// The oldest segment left (where shipping resumes).
    pub first_segment: Option<u64>,
    /// Shipped WAL objects read from the bucket.
    pub bucket_objects: u64,
}

impl Recovered {
    pub(crate) fn empty(capacity: usize) -> Recovered {
        Recovered {
            mem: Memtable::new(0, capacity),
            last_seq: 0,
            last_segment: 0,
            first_segment: None,
            bucket_objects: 0,
        }
    }
}

/// Replays every WAL segment into one memtable, skipping what the manifest
/// says is already in chunks. A writer truncates a torn tail and removes
/// segments that never received a complete header (a crash while creating
/// one): they hold no write.
///
/// A local directory whose writer was fenced by another directory's claim
/// has a fence record in the manifest ([`Manifest::fenced`]) giving the
/// watermark at that claim: of this directory's writes, exactly those at or
/// below it reached the bucket, however many writers came after. Writes
/// above it never did, and a writer refuses to open over them
/// ([`Error::FencedWrites`]) rather than drop them silently; a reader skips
/// them. Without a record (this directory's own earlier epochs, or a writer
/// that closed cleanly) segments replay normally.
pub(crate) fn replay_wal(
    dir: &Path,
    manifest: &Manifest,
    writer: bool,
    local: &Path,
    writer_id: [u8; 16],
    capacity: usize,
) -> Result<Recovered> {
    if writer {
        crate::write::wal::remove_temp_segments(dir).map_err(|e| Error::io(dir, e))?;
    }
    let segments = list_segments(dir)?;
    let last_segment = segments.last().map(|(n, _)| *n).unwrap_or(0);
    let mem = Memtable::new(last_segment, capacity);
    let mut last_seq = 0u64;
    let mut orphans: Option<Orphans> = None;
    let count = segments.len();
    for (i, (_, path)) in segments.iter().enumerate() {
        let newest = i + 1 == count;
        let replay = replay_segment(path, newest)?;
        if replay.headerless {
            // A crash while creating this segment: it never held a write.
            if writer {
                remove_headerless(path)?;
            }
            continue;
        }
        let fence = fence_for(manifest, replay.epoch, writer_id);
        let watermark = match fence {
            Fence::None => manifest.wal_watermark,
            Fence::Exact { watermark, .. } => watermark,
            Fence::Unknown { .. } => 0,
        };
        for payload in &replay.records {
            let crate::write::wal::record::WalRecord {
                first,
                batch,
                time_ms,
                ..
            } = crate::write::wal::record::decode_record(payload, replay.layout).map_err(
                |why| {
                    Error::corruption(
                        path.display().to_string(),
                        None,
                        format!("bad batch in WAL: {why}"),
                    )
                },
            )?;
            let len = batch.len() as u64;
            let end = first
                .checked_add(len.saturating_sub(1))
                .filter(|_| len > 0)
                .ok_or_else(|| {
                    Error::corruption(
                        path.display().to_string(),
                        None,
                        format!("WAL record with {len} ops at seq {first} is out of range"),
                    )
                })?;
            if first <= last_seq {
                return Err(Error::corruption(
                    path.display().to_string(),
                    None,
                    format!("WAL sequence numbers go backwards ({first} after {last_seq})"),
                ));
            }
            last_seq = end;
            if end <= watermark {
                continue;
            }
            match fence {
                Fence::None => {
                    mem.apply(&batch, first, time_ms);
                }
                Fence::Exact { epoch, .. } | Fence::Unknown { epoch } => {
                    let o = orphans.get_or_insert(Orphans {
                        epoch,
                        first_seq: first.max(watermark.saturating_add(1)),
                        last_seq: end,
                        exact: matches!(fence, Fence::Exact { .. }),
                    });
                    o.last_seq = end;
                }
            }
        }
        if replay.torn && writer {
            truncate(path, replay.valid_len)?;
        }
    }
    if let (Some(o), true) = (&orphans, writer) {
        return Err(Error::FencedWrites {
            local: local.display().to_string(),
            epoch: o.epoch,
            their_epoch: manifest.epoch,
            first_seq: o.first_seq,
            last_seq: o.last_seq,
            exact: o.exact,
        });
    }
    if orphans.is_some() {
        // A reader skipped the orphaned writes: it sees up to what it loaded.
        last_seq = mem.seq_range().map_or(0, |(_, max)| max);
    }
    Ok(Recovered {
        mem,
        last_seq,
        last_segment,
        first_segment: segments.first().map(|(n, _)| *n),
        bucket_objects: 0,
    })
}

/// Writes of a fenced writer that never reached the bucket.
struct Orphans {
    epoch: u64,
    first_seq: u64,
    last_seq: u64,
    exact: bool,
}

/// How a WAL segment written under some epoch relates to the bucket.
#[derive(Clone, Copy)]
enum Fence {
    /// Not fenced: replay what is above the manifest's watermark.
    None,
    /// Fenced by another directory's claim: exactly the writes at or below
    /// `watermark` reached the bucket.
    Exact { epoch: u64, watermark: u64 },
    /// Fenced before the manifest kept exact records (a database upgraded
    /// from manifest format 1): which writes reached the bucket is unknown.
    Unknown { epoch: u64 },
}

fn fence_for(manifest: &Manifest, epoch: u64, writer_id: [u8; 16]) -> Fence {
    if epoch == 0 || epoch >= manifest.epoch {
        return Fence::None;
    }
    if let Some(record) = manifest.fenced_writer(writer_id) {
        if epoch <= record.epoch {
            return Fence::Exact {
                epoch: record.epoch,
                watermark: record.wal_watermark,
            };
        }
        return Fence::None;
    }
    if epoch < manifest.fence_records_since && manifest.writer_id() != Some(writer_id) {
        return Fence::Unknown { epoch };
    }
    Fence::None
}

/// Removes a segment that never received a complete header.
fn remove_headerless(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    if let Some(dir) = path.parent() {
        crate::write::wal::sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    tracing::warn!(
        "removed WAL segment {} left without a complete header by a crash (it held no write)",
        path.display()
    );
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    tracing::warn!(
        "truncated a torn WAL tail: {} cut to {len} bytes",
        path.display()
    );
    Ok(())
}

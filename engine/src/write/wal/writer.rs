//! Appending to the active WAL segment.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{segment_header, segment_path, sync_dir, temp_segment_path};
use crate::crash_point::{crash, crash_point, reached};
use crate::error::{Error, Result};

/// The active WAL segment: appends whole commit groups with one `write`,
/// syncs on demand. Owned by the commit path (one writer at a time).
pub(crate) struct WalWriter {
    path: PathBuf,
    file: File,
    segment: u64,
    epoch: u64,
    written: u64,
    synced: u64,
}

impl WalWriter {
    /// Creates segment `n` in `dir` for a writer of `epoch`: the header is
    /// written and synced under a temporary name, then renamed into place and
    /// the directory synced. A crash at any point leaves either no segment or
    /// one with a complete header (and at worst a stray temporary file, which
    /// recovery removes).
    pub(crate) fn create(dir: &Path, segment: u64, epoch: u64) -> Result<WalWriter> {
        crash_point("wal.segment.before_create");
        let path = segment_path(dir, segment);
        let tmp = temp_segment_path(dir, segment);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        crash_point("wal.segment.created");
        let header = segment_header(epoch);
        if reached("wal.segment.mid_header") {
            let _ = file.write_all(&header[..header.len() / 2]);
            let _ = file.sync_data();
            crash();
        }
        file.write_all(&header).map_err(|e| Error::io(&tmp, e))?;
        file.sync_data().map_err(|e| Error::io(&tmp, e))?;
        crash_point("wal.segment.before_rename");
        if path.exists() {
            // Segment numbers only grow; an existing one is never replaced.
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "WAL segment already exists",
                ),
            ));
        }
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        crash_point("wal.segment.before_dir_sync");
        sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        let len = header.len() as u64;
        Ok(WalWriter {
            path,
            file,
            segment,
            epoch,
            written: len,
            synced: len,
        })
    }

    /// Appends framed records (one commit group) with a single write.
    pub(crate) fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// `fdatasync`s everything appended so far. No-op when already synced.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.synced == self.written {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.path, e))?;
        self.synced = self.written;
        Ok(())
    }

    /// True when appended bytes await a sync.
    pub(crate) fn needs_sync(&self) -> bool {
        self.synced != self.written
    }

    /// The epoch of the writer that owns the segment.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The segment number.
    pub(crate) fn segment(&self) -> u64 {
        self.segment
    }

    /// Bytes appended so far (header included): the segment's length.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Bytes known to be on stable storage.
    pub(crate) fn synced_len(&self) -> u64 {
        self.synced
    }
}

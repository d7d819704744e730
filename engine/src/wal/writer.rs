//! Appending to the active WAL segment.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{segment_header, segment_path, sync_dir};
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
    /// Creates segment `n` in `dir` for a writer of `epoch` (header written
    /// and synced, directory synced).
    pub(crate) fn create(dir: &Path, segment: u64, epoch: u64) -> Result<WalWriter> {
        let path = segment_path(dir, segment);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let header = segment_header(epoch);
        file.write_all(&header).map_err(|e| Error::io(&path, e))?;
        file.sync_data().map_err(|e| Error::io(&path, e))?;
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

    /// Bytes known to be on stable storage.
    pub(crate) fn synced_len(&self) -> u64 {
        self.synced
    }
}

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
    /// Bytes in the file (handed to the OS).
    written: u64,
    synced: u64,
    /// `Durability::Deferred` records not yet handed to the OS: the log's
    /// newest bytes, written before anything that follows them.
    pending: Vec<u8>,
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
            pending: Vec::new(),
        })
    }

    /// Appends framed records (one commit group), with any deferred bytes
    /// before them, in a single write.
    pub(crate) fn append(&mut self, data: &[u8]) -> Result<()> {
        if self.pending.is_empty() {
            self.file
                .write_all(data)
                .map_err(|e| Error::io(&self.path, e))?;
            self.written += data.len() as u64;
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        self.flush_pending()
    }

    /// Keeps `data` in the process until `limit` bytes wait (then hands them
    /// all to the OS). Returns whether it wrote.
    pub(crate) fn append_deferred(&mut self, data: &[u8], limit: usize) -> Result<bool> {
        self.pending.extend_from_slice(data);
        if self.pending.len() < limit {
            return Ok(false);
        }
        self.flush_pending()?;
        Ok(true)
    }

    /// Hands the deferred bytes to the OS.
    pub(crate) fn flush_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.pending)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written += self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > (1 << 20) {
            self.pending = Vec::new();
        }
        Ok(())
    }

    /// True while deferred bytes wait in the process.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands deferred bytes to the OS, then `fdatasync`s everything
    /// appended so far. No-op when already synced.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.flush_pending()?;
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
        self.synced != self.written || !self.pending.is_empty()
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

impl Drop for WalWriter {
    /// A writer closed or dropped hands its deferred bytes to the OS (best
    /// effort: only a crash loses them).
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.file.write_all(&self.pending);
        }
    }
}

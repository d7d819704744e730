//! The local directory: writer lock, database identity, WAL folder.
//!
//! ```text
//! <local_dir>/LOCK       flock'ed by the writer process
//! <local_dir>/IDENTITY   "firn-db <uuid>\n": the database this folder serves
//! <local_dir>/wal/       WAL segments (see wal/FORMAT.md)
//! ```

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const IDENTITY_PREFIX: &str = "firn-db ";

/// An opened local directory. The writer's lock is held while this lives.
pub(crate) struct LocalDir {
    pub root: PathBuf,
    _lock: Option<File>,
}

impl LocalDir {
    /// Opens `root`. A writer creates it and takes the lock (failing with
    /// [`Error::Locked`] if another process has it); a reader touches nothing.
    pub(crate) fn open(root: &Path, writer: bool) -> Result<LocalDir> {
        if !writer {
            return Ok(LocalDir {
                root: root.to_path_buf(),
                _lock: None,
            });
        }
        std::fs::create_dir_all(root.join("wal")).map_err(|e| Error::io(root, e))?;
        let path = root.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked(root.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        Ok(LocalDir {
            root: root.to_path_buf(),
            _lock: Some(file),
        })
    }

    pub(crate) fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }

    /// The database id recorded here, if any.
    pub(crate) fn identity(&self) -> Result<Option<String>> {
        let path = self.root.join("IDENTITY");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = text
                    .trim_end()
                    .strip_prefix(IDENTITY_PREFIX)
                    .ok_or_else(|| {
                        Error::corruption(
                            path.display().to_string(),
                            Some(0),
                            "not a Firn IDENTITY file",
                        )
                    })?;
                Ok(Some(id.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Records the database id (durably: temp file, fsync, rename, dir fsync).
    pub(crate) fn write_identity(&self, id: &str) -> Result<()> {
        let path = self.root.join("IDENTITY");
        let tmp = self.root.join("IDENTITY.tmp");
        let io = |p: &Path, e| Error::io(p, e);
        std::fs::write(&tmp, format!("{IDENTITY_PREFIX}{id}\n")).map_err(|e| io(&tmp, e))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        crate::wal::sync_dir(&self.root).map_err(|e| io(&self.root, e))
    }
}

/// Formats a database id as a UUID string.
pub(crate) fn format_db_id(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).hyphenated().to_string()
}

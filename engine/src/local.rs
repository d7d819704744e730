//! The local directory: writer lock, database identity, WAL folder.
//!
//! ```text
//! <local_dir>/LOCK       flock'ed by the writer process
//! <local_dir>/IDENTITY   "firn-db <uuid>\n": the database this folder serves
//! <local_dir>/WRITER_ID  "firn-writer <uuid>\n": this folder's id in writer claims
//! <local_dir>/wal/       WAL segments (see wal/FORMAT.md)
//! <local_dir>/index/     one mapped index file per chunk (local_index.rs;
//!                        format in chunk/FORMAT.md, "Local index file")
//! <local_dir>/cache/     the disk block cache (disk_cache.rs)
//! ```
//!
//! Only the WAL matters for durability; `index/` and `cache/` are rebuilt
//! from the object store when missing.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const IDENTITY_PREFIX: &str = "firn-db ";
const WRITER_PREFIX: &str = "firn-writer ";

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
        self.write_durably("IDENTITY", &format!("{IDENTITY_PREFIX}{id}\n"))
    }

    /// This folder's writer id, recorded in the manifest's writer claims so
    /// the folder can tell its own claims from another writer's. A writer
    /// creates it on first use; a reader gets zeros when there is none.
    pub(crate) fn writer_id(&self, create: bool) -> Result<[u8; 16]> {
        let path = self.root.join("WRITER_ID");
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim_end()
                .strip_prefix(WRITER_PREFIX)
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map(|u| *u.as_bytes())
                .ok_or_else(|| {
                    Error::corruption(
                        path.display().to_string(),
                        Some(0),
                        "not a Firn WRITER_ID file",
                    )
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return Ok([0; 16]);
                }
                let id = uuid::Uuid::new_v4();
                self.write_durably(
                    "WRITER_ID",
                    &format!("{WRITER_PREFIX}{}\n", id.hyphenated()),
                )?;
                Ok(*id.as_bytes())
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Writes `name` durably: temp file, fsync, rename, directory fsync.
    fn write_durably(&self, name: &str, text: &str) -> Result<()> {
        let path = self.root.join(name);
        let tmp = self.root.join(format!("{name}.tmp"));
        let io = |p: &Path, e| Error::io(p, e);
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
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

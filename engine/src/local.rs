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

    /// The database id recorded here, if any. A damaged file (not UTF-8, not
    /// `firn-db <uuid>`, cut short) is an error naming it, never taken for
    /// another database's id.
    pub(crate) fn identity(&self) -> Result<Option<String>> {
        let path = self.root.join("IDENTITY");
        let Some(id) = read_id_file(&path, IDENTITY_PREFIX)? else {
            return Ok(None);
        };
        match id {
            Ok(uuid) => Ok(Some(uuid.hyphenated().to_string())),
            Err(why) => Err(Error::corruption(
                path.display().to_string(),
                Some(0),
                format!(
                    "the local IDENTITY file is damaged ({why}; expected \"{IDENTITY_PREFIX}<uuid>\"). \
                     It names the database this folder serves. If {} belongs to this database, \
                     delete the file and open again as writer (it is written anew); otherwise use \
                     another local directory",
                    self.root.display()
                ),
            )),
        }
    }

    /// Records the database id (durably: temp file, fsync, rename, dir fsync).
    pub(crate) fn write_identity(&self, id: &str) -> Result<()> {
        self.write_durably("IDENTITY", &format!("{IDENTITY_PREFIX}{id}\n"))
    }

    /// This folder's writer id, recorded in the manifest's writer claims and
    /// fence records so the folder can tell which of its WAL's writes reached
    /// the bucket. A writer creates it on first use; a reader gets zeros when
    /// there is none. A damaged file, or a missing one while the WAL holds
    /// segments, is an error: the WAL could not be matched to its fence record.
    pub(crate) fn writer_id(&self, create: bool) -> Result<[u8; 16]> {
        let path = self.root.join("WRITER_ID");
        let damaged = |why: String| {
            Error::corruption(
                path.display().to_string(),
                Some(0),
                format!(
                    "the local WRITER_ID file is {why}, so the WAL in {wal} cannot be matched to \
                     the writer that wrote it. Export the WAL with `firn wal-export --local {root}` \
                     and review it, then delete {wal} and {path} and open again",
                    wal = self.wal_dir().display(),
                    root = self.root.display(),
                    path = path.display(),
                ),
            )
        };
        match read_id_file(&path, WRITER_PREFIX)? {
            Some(Ok(uuid)) => Ok(*uuid.as_bytes()),
            Some(Err(why)) => Err(damaged(format!(
                "damaged ({why}; expected \"{WRITER_PREFIX}<uuid>\")"
            ))),
            None => {
                if !create {
                    return Ok([0; 16]);
                }
                let segments = crate::write::wal::list_segments(&self.wal_dir())?;
                if !segments.is_empty() {
                    return Err(damaged("missing although the WAL holds segments".into()));
                }
                let id = firn_store::clock::uuid();
                self.write_durably(
                    "WRITER_ID",
                    &format!("{WRITER_PREFIX}{}\n", id.hyphenated()),
                )?;
                Ok(*id.as_bytes())
            }
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
        crate::write::wal::sync_dir(&self.root).map_err(|e| io(&self.root, e))
    }
}

/// Reads a `<prefix><uuid>\n` file: `None` when it does not exist,
/// `Some(Err(why))` when it is damaged.
fn read_id_file(
    path: &Path,
    prefix: &str,
) -> Result<Option<std::result::Result<uuid::Uuid, String>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(Some(Err("not valid UTF-8".into())));
    };
    let Some(id) = text.trim_end().strip_prefix(prefix) else {
        return Ok(Some(Err(format!(
            "{} bytes that do not start with \"{prefix}\"",
            bytes.len()
        ))));
    };
    Ok(Some(uuid::Uuid::try_parse(id).map_err(|_| {
        format!("{id:?} is not a whole UUID (cut short or altered)")
    })))
}

/// Formats a database id as a UUID string.
pub(crate) fn format_db_id(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).hyphenated().to_string()
}

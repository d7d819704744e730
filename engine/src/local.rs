//! The local directory: lock, database identity, WAL folder, local read state.
//!
//! ```text
//! <local_dir>/LOCK       flock'ed by the process that writes here; holds its role
//! <local_dir>/IDENTITY   "firn-db <uuid>\n": the database this folder serves
//! <local_dir>/WRITER_ID  "firn-writer <uuid>\n": this folder's id in writer claims
//! <local_dir>/wal/       WAL segments (see wal/FORMAT.md)
//! <local_dir>/index/     one mapped index file per chunk (local_index.rs;
//!                        format in chunk/FORMAT.md, "Local index file")
//! <local_dir>/cache/     the disk block cache (disk_cache.rs)
//! <local_dir>/MANIFEST   a copy of the newest manifest version a reader loaded (the
//!                        object's bytes, checksummed), reused while it is the newest
//! ```
//!
//! Only the WAL matters for durability; `index/`, `cache/` and `MANIFEST` are rebuilt
//! from the object store when missing.
//!
//! One process at a time writes here: the one holding `LOCK`. A writer and a follower
//! always take it; a read-only handle with [`Options::reader_local_state`] takes it when it
//! is free (and then writes `IDENTITY`, `index/`, `cache/` and `MANIFEST`, never `wal/`),
//! and otherwise uses the folder without writing. The holder writes its role into `LOCK`
//! (`firn-lock writer|reader pid=N`), so a writer that finds the lock taken by a reader
//! waits for it (up to [`READER_LOCK_WAIT`]) instead of failing at once.
//!
//! [`Options::reader_local_state`]: crate::Options::reader_local_state

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

const IDENTITY_PREFIX: &str = "firn-db ";
const WRITER_PREFIX: &str = "firn-writer ";
const LOCK_PREFIX: &str = "firn-lock ";
/// The local copy of the newest manifest version a reader loaded.
pub(crate) const MANIFEST_COPY: &str = "MANIFEST";

/// How long a writer (or follower) waits for a read-only process to release the local
/// directory's lock before it fails with [`Error::Locked`].
pub(crate) const READER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Who takes a local directory's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A writer or a follower: needs the lock.
    Writer,
    /// A read-only handle keeping its local state: takes the lock only if free.
    Reader,
}

/// What [`LocalDir::lock`] found.
pub(crate) enum Locking {
    /// The lock is ours.
    Held(LocalDir),
    /// Another process holds it; `reader` when that process says it is a read-only one.
    Busy { reader: bool },
}

/// An opened local directory. The lock is held while this lives, if taken.
pub(crate) struct LocalDir {
    pub root: PathBuf,
    _lock: Option<File>,
}

impl LocalDir {
    /// Opens `root` without its lock: nothing is written through it.
    pub(crate) fn unlocked(root: &Path) -> LocalDir {
        LocalDir {
            root: root.to_path_buf(),
            _lock: None,
        }
    }

    /// Creates `root` (and `wal/` for a writer) and tries to take the lock for `role`.
    pub(crate) fn lock(root: &Path, role: Role) -> Result<Locking> {
        let made = match role {
            Role::Writer => std::fs::create_dir_all(root.join("wal")),
            Role::Reader => std::fs::create_dir_all(root),
        };
        made.map_err(|e| Error::io(root, e))?;
        let path = root.join("LOCK");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let reader = text.starts_with(&format!("{LOCK_PREFIX}reader"));
                return Ok(Locking::Busy { reader });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let who = match role {
            Role::Writer => "writer",
            Role::Reader => "reader",
        };
        let line = format!("{LOCK_PREFIX}{who} pid={}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all(line.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(Locking::Held(LocalDir {
            root: root.to_path_buf(),
            _lock: Some(file),
        }))
    }

    /// Opens `root` as a writer (or follower) does: takes the lock, waiting up to
    /// [`READER_LOCK_WAIT`] while a read-only process holds it; [`Error::Locked`] if another
    /// writer or follower has it, or the reader keeps it longer.
    pub(crate) async fn open_writer(root: &Path) -> Result<LocalDir> {
        let started = firn_store::clock::now_ms();
        loop {
            match LocalDir::lock(root, Role::Writer)? {
                Locking::Held(dir) => return Ok(dir),
                Locking::Busy { reader: true }
                    if firn_store::clock::now_ms().saturating_sub(started)
                        < READER_LOCK_WAIT.as_millis() as u64 =>
                {
                    firn_store::clock::sleep(Duration::from_millis(20)).await;
                }
                Locking::Busy { .. } => return Err(Error::Locked(root.to_path_buf())),
            }
        }
    }

    /// Whether this process holds the lock (and so may write here).
    pub(crate) fn held(&self) -> bool {
        self._lock.is_some()
    }

    /// The local copy of the newest manifest version, if any (unchecked bytes: the caller
    /// decodes them, which verifies their checksum).
    pub(crate) fn manifest_copy(&self) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(MANIFEST_COPY)).ok()
    }

    /// Keeps `bytes` (a manifest object) as the local copy; only the lock holder writes.
    pub(crate) fn keep_manifest_copy(&self, bytes: &[u8]) -> Result<()> {
        if !self.held() {
            return Ok(());
        }
        let path = self.root.join(MANIFEST_COPY);
        let tmp = self.root.join(format!("{MANIFEST_COPY}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
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

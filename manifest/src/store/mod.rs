//! The object-store wrapper every Firn crate uses: an OpenDAL operator plus request counting,
//! URL-based setup and a crash-safe conditional create.
//!
//! Object names are relative, `/`-separated paths such as `manifest/00000000000000000001`.
//! They may not be empty, start or end with `/`, contain empty, `.` or `..` segments, or start
//! with the reserved `.tmp/` folder.

mod counts;
mod local;
mod memory;
mod url;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use opendal::{ErrorKind, Operator};
use tokio::sync::Mutex as AsyncMutex;

use self::counts::Counters;
pub use self::counts::RequestCounts;
use self::url::Location;
pub use crate::error::StoreError;

/// The result of a conditional create ([`ObjectStore::put_if_absent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// This call created the object.
    Created,
    /// An object of that name already existed; it was left untouched.
    AlreadyExists,
}

/// One object found by [`ObjectStore::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object name, relative to the store's root.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A handle on an object store (a local folder, an in-process store, or any OpenDAL operator).
///
/// Cheap to clone; clones share the operator and the request counters.
#[derive(Clone)]
pub struct ObjectStore {
    inner: Arc<Inner>,
}

struct Inner {
    op: Operator,
    url: String,
    /// Set for `file://` stores: writes go through [`local`] instead of OpenDAL.
    local_root: Option<PathBuf>,
    counters: Counters,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore")
            .field("url", &self.inner.url)
            .field("requests", &self.inner.counters.snapshot())
            .finish()
    }
}

impl ObjectStore {
    /// Opens the store a URL names:
    ///
    /// - `file:///absolute/path` — a local folder acting as the bucket (created if missing; the
    ///   path is taken literally, without percent-decoding). Writes are crash-safe: an object is
    ///   either absent or complete under its name.
    /// - `memory://NAME` — an in-process store; every `memory://NAME` with the same `NAME` in
    ///   one process shares the same objects (across close and reopen). `memory://` alone is a
    ///   fresh store of its own.
    ///
    /// Anything else is [`StoreError::InvalidUrl`] saying what is wrong and which forms are
    /// accepted.
    pub fn from_url(url: &str) -> Result<ObjectStore, StoreError> {
        match url::parse(url)? {
            Location::File(path) => {
                let root = local::open_root(&path).map_err(|e| StoreError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!("cannot create or open folder {}: {e}", path.display()),
                })?;
                let root_str = root.to_str().ok_or_else(|| StoreError::InvalidUrl {
                    url: url.to_string(),
                    reason: "the folder path is not valid UTF-8".to_string(),
                })?;
                let op = Operator::new(opendal::services::Fs::default().root(root_str)).map_err(
                    |e| StoreError::InvalidUrl {
                        url: url.to_string(),
                        reason: format!("cannot set up the folder store: {e}"),
                    },
                )?;
                Ok(Self::build(op, url.to_string(), Some(root)))
            }
            Location::Memory(name) => {
                let op = memory::operator(&name).map_err(|e| StoreError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!("cannot set up the memory store: {e}"),
                })?;
                Ok(Self::build(op, url.to_string(), None))
            }
        }
    }

    /// Wraps an existing OpenDAL operator (for tests and extra layers). `url` is used in error
    /// messages only. Conditional creates use the service's `if_not_exists` support, or a
    /// process-wide lock around stat-then-write if the service has none; writes through an fs
    /// operator passed here do not get the crash-safe `file://` path.
    pub fn from_operator(op: Operator, url: String) -> ObjectStore {
        Self::build(op, url, None)
    }

    fn build(op: Operator, url: String, local_root: Option<PathBuf>) -> ObjectStore {
        ObjectStore {
            inner: Arc::new(Inner {
                op,
                url,
                local_root,
                counters: Counters::default(),
            }),
        }
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// A snapshot of the request counters (shared by all clones of this store).
    pub fn requests(&self) -> RequestCounts {
        self.inner.counters.snapshot()
    }

    /// Reads a whole object (one GET). A missing object is [`StoreError::NotFound`].
    pub async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        const OP: &str = "get";
        self.check_name(OP, path)?;
        self.inner.counters.get();
        let buf = self
            .inner
            .op
            .read(path)
            .await
            .map_err(|e| self.op_error(OP, path, e))?;
        let bytes = buf.to_bytes();
        self.inner.counters.read_bytes(bytes.len());
        Ok(bytes)
    }

    /// Reads `len` bytes at `offset` (one ranged GET). Fewer bytes than asked for (the object
    /// ends early) is an error. `len == 0` returns nothing without a request.
    pub async fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        const OP: &str = "get_range";
        self.check_name(OP, path)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let end = offset.checked_add(len).ok_or_else(|| {
            self.io_error(
                OP,
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("range {offset} + {len} overflows"),
                ),
            )
        })?;
        self.inner.counters.get();
        let buf = self
            .inner
            .op
            .read_with(path)
            .range(offset..end)
            .await
            .map_err(|e| self.op_error(OP, path, e))?;
        let bytes = buf.to_bytes();
        self.inner.counters.read_bytes(bytes.len());
        if bytes.len() as u64 != len {
            return Err(self.io_error(
                OP,
                path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "short read: asked for {len} bytes at offset {offset}, got {}",
                        bytes.len()
                    ),
                ),
            ));
        }
        Ok(bytes)
    }

    /// Writes an object unconditionally (one PUT), replacing any existing one. On `file://`
    /// the write is atomic and durable when this returns.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        const OP: &str = "put";
        self.check_name(OP, path)?;
        self.inner.counters.put(data.len());
        if let Some(root) = &self.inner.local_root {
            let (root, rel) = (root.clone(), path.to_string());
            return self
                .blocking(OP, path, move || local::put(&root, &rel, &data))
                .await;
        }
        self.inner
            .op
            .write(path, data)
            .await
            .map_err(|e| self.op_error(OP, path, e))?;
        Ok(())
    }

    /// Conditional create (`If-None-Match: *`, one PUT): writes the object only if no object
    /// of that name exists. An existing object is never replaced.
    ///
    /// On `file://` this is crash-safe: the bytes go to a temporary file under `<root>/.tmp/`,
    /// are fsynced, hard-linked to the final name (`EEXIST` means [`PutOutcome::AlreadyExists`]),
    /// the temporary file is removed and the folder fsynced. A crash never leaves a torn object
    /// under the final name.
    pub async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<PutOutcome, StoreError> {
        const OP: &str = "put_if_absent";
        self.check_name(OP, path)?;
        self.inner.counters.put(data.len());
        if let Some(root) = &self.inner.local_root {
            let (root, rel) = (root.clone(), path.to_string());
            let created = self
                .blocking(OP, path, move || local::put_if_absent(&root, &rel, &data))
                .await?;
            return Ok(if created {
                PutOutcome::Created
            } else {
                PutOutcome::AlreadyExists
            });
        }
        let op = &self.inner.op;
        if op.info().capability().write_with_if_not_exists {
            return match op.write_with(path, data).if_not_exists(true).await {
                Ok(_) => Ok(PutOutcome::Created),
                Err(e) if e.kind() == ErrorKind::ConditionNotMatch => Ok(PutOutcome::AlreadyExists),
                Err(e) => Err(self.op_error(OP, path, e)),
            };
        }
        // The service cannot create conditionally: serialise stat-then-write within this
        // process (exact for in-process services, which are the only ones lacking it here).
        let _guard = fallback_lock().lock().await;
        match op.stat(path).await {
            Ok(_) => Ok(PutOutcome::AlreadyExists),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                op.write(path, data)
                    .await
                    .map_err(|e| self.op_error(OP, path, e))?;
                Ok(PutOutcome::Created)
            }
            Err(e) => Err(self.op_error(OP, path, e)),
        }
    }

    /// Lists all objects whose names start with `prefix` (one LIST, however many pages),
    /// recursively, sorted by name. Temporary files of `file://` stores are never listed.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        const OP: &str = "list";
        if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") {
            return Err(self.invalid_name(OP, prefix));
        }
        self.inner.counters.list();
        // List the folder the prefix lies in, then keep the names that match.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let entries = self
            .inner
            .op
            .list_with(dir)
            .recursive(true)
            .await
            .map_err(|e| self.op_error(OP, prefix, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.path();
            let meta = entry.metadata();
            if meta.is_dir()
                || path.ends_with('/')
                || !path.starts_with(prefix)
                || path.starts_with(local::TMP_PREFIX)
            {
                continue;
            }
            let size = if meta.is_file() {
                meta.content_length()
            } else {
                // Some services list names only; their sizes are local lookups, not requests.
                match self.inner.op.stat(path).await {
                    Ok(m) => m.content_length(),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(self.op_error(OP, path, e)),
                }
            };
            out.push(ObjectInfo {
                path: path.to_string(),
                size,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The size of an object (one HEAD), `None` if it does not exist.
    pub async fn stat(&self, path: &str) -> Result<Option<u64>, StoreError> {
        const OP: &str = "stat";
        self.check_name(OP, path)?;
        self.inner.counters.head();
        match self.inner.op.stat(path).await {
            Ok(meta) if meta.is_dir() => Ok(None),
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.op_error(OP, path, e)),
        }
    }

    /// Deletes an object (one DELETE). Deleting an absent object is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        const OP: &str = "delete";
        self.check_name(OP, path)?;
        self.inner.counters.delete();
        match self.inner.op.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.op_error(OP, path, e)),
        }
    }

    /// Runs blocking local-file I/O off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        path: &str,
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        match tokio::task::spawn_blocking(f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.io_error(op, path, e)),
            Err(join) => Err(StoreError::Io {
                op,
                path: path.to_string(),
                url: self.inner.url.clone(),
                source: Box::new(join),
            }),
        }
    }

    fn check_name(&self, op: &'static str, path: &str) -> Result<(), StoreError> {
        if valid_object_name(path) {
            Ok(())
        } else {
            Err(self.invalid_name(op, path))
        }
    }

    fn invalid_name(&self, op: &'static str, path: &str) -> StoreError {
        self.io_error(
            op,
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "invalid object name: names are relative '/'-separated paths without empty, \
                 '.' or '..' segments, and '.tmp/' is reserved",
            ),
        )
    }

    fn io_error(&self, op: &'static str, path: &str, e: std::io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.to_string(),
            url: self.inner.url.clone(),
            source: Box::new(e),
        }
    }

    fn op_error(&self, op: &'static str, path: &str, e: opendal::Error) -> StoreError {
        if e.kind() == ErrorKind::NotFound {
            StoreError::NotFound {
                path: path.to_string(),
            }
        } else {
            StoreError::Io {
                op,
                path: path.to_string(),
                url: self.inner.url.clone(),
                source: Box::new(e),
            }
        }
    }
}

/// Whether `path` is an acceptable object name (see the module documentation).
fn valid_object_name(path: &str) -> bool {
    !path.is_empty()
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && path.split('/').next() != Some(local::TMP_DIR)
}

fn fallback_lock() -> &'static AsyncMutex<()> {
    static LOCK: std::sync::OnceLock<AsyncMutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| AsyncMutex::new(()))
}

#[cfg(test)]
mod tests {
    use super::valid_object_name;

    #[test]
    fn object_names() {
        for ok in [
            "a",
            "manifest/00000000000000000001",
            "chunks/x.chunk",
            "a.tmp/b",
        ] {
            assert!(valid_object_name(ok), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "./a", "a/../b", ".tmp/x", ".tmp", "a\0b",
        ] {
            assert!(!valid_object_name(bad), "{bad:?}");
        }
    }
}

//! `firn-store`: the object-store wrapper every Firn crate uses: an OpenDAL operator plus request counting,
//! URL-based setup (`file://`, `s3://`, `azblob://`, `memory://`), retries with backoff on S3
//! and Azure Blob, multipart uploads of large objects and a crash-safe conditional create.
//!
//! Object names are relative, `/`-separated paths such as `manifest/00000000000000000001`.
//! They may not be empty, start or end with `/`, contain empty, `.` or `..` segments, or start
//! with the reserved `.tmp/` folder.

#![warn(missing_docs)]

mod azblob;
mod checks;
pub mod clock;
mod counts;
mod error;
mod local;
mod memory;
mod options;
mod s3;
pub mod testing;
mod url;
mod wire;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use opendal::{ErrorKind, Operator};
use tokio::sync::Mutex as AsyncMutex;

use self::azblob::AzblobTarget;
pub use self::checks::PROBE_DIR;
pub use self::counts::RequestCounts;
use self::counts::{Counters, RequestKind};
pub use self::options::StoreOptions;
use self::s3::S3Target;
use self::url::Location;
pub use crate::error::{BoxedSource, StoreError};

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

/// A handle on an object store (a local folder, an S3 bucket, an Azure Blob container, an
/// in-process store, or any OpenDAL operator).
///
/// Cheap to clone; clones share the operator and the request counters.
#[derive(Clone)]
pub struct ObjectStore {
    inner: Arc<Inner>,
}

struct Inner {
    op: Operator,
    url: String,
    options: StoreOptions,
    /// Which kind of store this is.
    backend: Backend,
    counters: Arc<Counters>,
    /// Local-file operations still running on the blocking pool (they run
    /// to the end even when the future that started them is dropped).
    blocking_in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

/// What an [`ObjectStore`] talks to.
enum Backend {
    /// A `file://` folder: writes go through [`local`] instead of OpenDAL.
    Local(PathBuf),
    /// A `memory://` store of this process.
    Memory,
    /// An `s3://` bucket; requests are counted on the wire by the operator's layers.
    S3(Box<S3Target>),
    /// An `azblob://` container; requests are counted on the wire, as for S3.
    Azblob(Box<AzblobTarget>),
    /// An operator given to [`ObjectStore::from_operator`].
    Custom,
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
    /// Opens the store a URL names, with default [`StoreOptions`]: see
    /// [`ObjectStore::from_url_with`].
    pub fn from_url(url: &str) -> Result<ObjectStore, StoreError> {
        Self::from_url_with(url, &StoreOptions::default())
    }

    /// Opens the store a URL names:
    ///
    /// - `file:///absolute/path` — a local folder acting as the bucket (created if missing; the
    ///   path is taken literally, without percent-decoding). Writes are crash-safe: an object is
    ///   either absent or complete under its name.
    /// - `s3://bucket/prefix` — the objects under `prefix/` in an S3 bucket (AWS, MinIO or
    ///   another S3-compatible server). Endpoint, region and credentials come from `options`
    ///   or the AWS environment variables (see [`StoreOptions`]). Requests that fail
    ///   transiently are retried with exponential backoff and jitter; objects above
    ///   [`StoreOptions::multipart_threshold`] are uploaded in parts.
    /// - `azblob://container/prefix` — the objects under `prefix/` in an Azure Blob Storage
    ///   container (Azure or the Azurite emulator). Account, endpoint and credentials come from
    ///   the `azblob_*` options or a connection string (the option, else
    ///   `AZURE_STORAGE_CONNECTION_STRING`; see [`StoreOptions`]). Retries and large uploads
    ///   work as for `s3://` (large objects become block blobs uploaded block by block).
    /// - `memory://NAME` — an in-process store; every `memory://NAME` with the same `NAME` in
    ///   one process shares the same objects (across close and reopen). `memory://` alone is a
    ///   fresh store of its own.
    ///
    /// This makes no network request: a missing bucket or wrong credentials show up at the
    /// first request; call [`ObjectStore::check_access`] to find out at once, and
    /// [`ObjectStore::verify_conditional_writes`] before writing.
    ///
    /// A URL that cannot be parsed is [`StoreError::InvalidUrl`] saying what is wrong and which
    /// forms are accepted; unusable settings (endpoint, credentials, sizes) are
    /// [`StoreError::InvalidConfig`].
    pub fn from_url_with(url: &str, options: &StoreOptions) -> Result<ObjectStore, StoreError> {
        let location = url::parse(url)?;
        options.validate(url)?;
        let counters = Arc::new(Counters::default());
        let (op, backend) = match location {
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
                (op, Backend::Local(root))
            }
            Location::Memory(name) => {
                let op = memory::operator(&name).map_err(|e| StoreError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!("cannot set up the memory store: {e}"),
                })?;
                (op, Backend::Memory)
            }
            Location::S3 { bucket, prefix } => {
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let target = s3::resolve(url, &bucket, &prefix, options, &env)?;
                let op = target.operator(url, options, Arc::clone(&counters))?;
                (op, Backend::S3(Box::new(target)))
            }
            Location::Azblob { container, prefix } => {
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let target = azblob::resolve(url, &container, &prefix, options, &env)?;
                let op = target.operator(url, options, Arc::clone(&counters))?;
                (op, Backend::Azblob(Box::new(target)))
            }
        };
        Ok(Self::build(
            op,
            url.to_string(),
            options.clone(),
            backend,
            counters,
        ))
    }

    /// Wraps an existing OpenDAL operator (for tests and extra layers), with default
    /// [`StoreOptions`]. `url` is used in error messages only. Conditional creates use the
    /// service's `if_not_exists` support, or a process-wide lock around stat-then-write if the
    /// service has none; writes through an fs operator passed here do not get the crash-safe
    /// `file://` path. Retries and timeouts are the operator's own (add OpenDAL's layers).
    pub fn from_operator(op: Operator, url: String) -> ObjectStore {
        Self::build(
            op,
            url,
            StoreOptions::default(),
            Backend::Custom,
            Arc::default(),
        )
    }

    /// [`ObjectStore::from_operator`] with options; of them, only
    /// `allow_unconditional_writes` and the multipart settings apply.
    pub fn from_operator_with(
        op: Operator,
        url: String,
        options: &StoreOptions,
    ) -> Result<ObjectStore, StoreError> {
        options.validate(&url)?;
        Ok(Self::build(
            op,
            url,
            options.clone(),
            Backend::Custom,
            Arc::default(),
        ))
    }

    fn build(
        op: Operator,
        url: String,
        options: StoreOptions,
        backend: Backend,
        counters: Arc<Counters>,
    ) -> ObjectStore {
        ObjectStore {
            inner: Arc::new(Inner {
                op,
                url,
                options,
                backend,
                counters,
                blocking_in_flight: Arc::default(),
            }),
        }
    }

    /// Waits (up to `timeout`) until no local-file operation started through
    /// this store is still running. A `file://` write runs to completion on
    /// the blocking pool even when the task that started it was aborted, so
    /// a writer that is closing waits here: after it, nothing it started can
    /// still land in the bucket. Returns whether it got there in time.
    pub async fn quiesce(&self, timeout: std::time::Duration) -> bool {
        use std::sync::atomic::Ordering;
        let deadline = tokio::time::Instant::now() + timeout;
        while self.inner.blocking_in_flight.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            clock::sleep(std::time::Duration::from_millis(1)).await;
        }
        true
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
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
        self.count(RequestKind::Get);
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
        self.count(RequestKind::Get);
        let short = |got: String| StoreError::ShortObject {
            path: path.to_string(),
            offset,
            len,
            end,
            got,
        };
        let buf = match self.inner.op.read_with(path).range(offset..end).await {
            Ok(buf) => buf,
            Err(e) if e.kind() == ErrorKind::RangeNotSatisfied => {
                return Err(short("none (range not satisfiable)".into()))
            }
            // S3 answers a range that runs past the end with the bytes there are, and
            // OpenDAL's reader reports the shortfall as an unexpected error.
            Err(e)
                if e.kind() == ErrorKind::Unexpected
                    && e.to_string().contains("too little data") =>
            {
                return Err(short(format!("fewer bytes ({e})")))
            }
            Err(e) => return Err(self.op_error(OP, path, e)),
        };
        let bytes = buf.to_bytes();
        self.inner.counters.read_bytes(bytes.len());
        if bytes.len() as u64 != len {
            return Err(short(format!("{} bytes", bytes.len())));
        }
        Ok(bytes)
    }

    /// Writes an object unconditionally, replacing any existing one: one PUT, or a multipart
    /// upload above [`StoreOptions::multipart_threshold`] on stores that support it (S3). On
    /// `file://` the write is atomic and durable when this returns.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        const OP: &str = "put";
        self.check_name(OP, path)?;
        self.count_put(data.len());
        if let Backend::Local(root) = &self.inner.backend {
            let (root, rel) = (root.clone(), path.to_string());
            return self
                .blocking(OP, path, move || local::put(&root, &rel, &data))
                .await;
        }
        self.write(path, data, false)
            .await
            .map_err(|e| self.op_error(OP, path, e))
    }

    /// Conditional create (`If-None-Match: *`): writes the object only if no object of that
    /// name exists. An existing object is never replaced. One PUT, or a multipart upload above
    /// [`StoreOptions::multipart_threshold`] whose completing request carries the condition
    /// (AWS S3, MinIO and moto honour it there; a refused completion is aborted).
    ///
    /// # Retries (S3)
    ///
    /// A refusal — HTTP 412 `PreconditionFailed`, OpenDAL's `ConditionNotMatch` — is a final
    /// answer: it is never retried and is returned as [`PutOutcome::AlreadyExists`]. Only
    /// transient failures (network errors, timeouts, 5xx, throttling, 409
    /// `ConditionalRequestConflict`) are retried, always with the same condition, so a retry
    /// can never overwrite anything. One ambiguity remains and callers must allow for it: if an
    /// attempt landed but its answer was lost (a timeout, a dropped connection), the retry is
    /// refused and this returns `AlreadyExists` although the object holds *our* bytes. The
    /// manifest layer handles that by reading the winner and recognising its own nonce; the
    /// engine compares chunk bytes. Never "retry into success" by turning such a refusal into
    /// an unconditional write.
    ///
    /// # `file://`
    ///
    /// Crash-safe: the bytes go to a temporary file under `<root>/.tmp/`, are fsynced,
    /// hard-linked to the final name (`EEXIST` means [`PutOutcome::AlreadyExists`]), the
    /// temporary file is removed and the folder fsynced. A crash never leaves a torn object
    /// under the final name.
    pub async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<PutOutcome, StoreError> {
        const OP: &str = "put_if_absent";
        self.check_name(OP, path)?;
        self.count_put(data.len());
        if let Backend::Local(root) = &self.inner.backend {
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
            return match self.write(path, data, true).await {
                Ok(()) => Ok(PutOutcome::Created),
                Err(e) if e.kind() == ErrorKind::ConditionNotMatch => Ok(PutOutcome::AlreadyExists),
                Err(e) => Err(self.op_error(OP, path, e)),
            };
        }
        // The service cannot create conditionally: serialise stat-then-write within this
        // process (exact for in-process services, which are the only ones lacking it here;
        // `verify_conditional_writes` refuses such a store for anything else).
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

    /// Writes through OpenDAL: one request, or a multipart upload for large objects on
    /// services that can (parts of [`StoreOptions::multipart_part_size`], sent
    /// [`StoreOptions::multipart_concurrency`] at a time). `if_not_exists` goes with the single
    /// PUT or with the request completing the multipart upload.
    async fn write(&self, path: &str, data: Bytes, if_not_exists: bool) -> opendal::Result<()> {
        let op = &self.inner.op;
        let opts = &self.inner.options;
        if data.len() <= opts.multipart_threshold || !op.info().capability().write_can_multi {
            op.write_with(path, data)
                .if_not_exists(if_not_exists)
                .await?;
            return Ok(());
        }
        let mut writer = op
            .writer_with(path)
            .chunk(opts.multipart_part_size)
            .concurrent(opts.multipart_concurrency)
            .if_not_exists(if_not_exists)
            .await?;
        let written = match writer.write(data).await {
            Ok(()) => writer.close().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if written.is_err() {
            // S3 keeps (and bills) the parts of an unfinished upload until it is aborted. Best
            // effort: the first error is the one worth reporting.
            let _ = writer.abort().await;
        }
        written
    }

    /// Lists all objects whose names start with `prefix` (one LIST, however many pages; on S3
    /// one LIST per page of 1000 names), recursively, sorted by name. Temporary files of `file://` stores are never listed.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        const OP: &str = "list";
        if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") {
            return Err(self.invalid_name(OP, prefix));
        }
        self.count(RequestKind::List);
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
        self.count(RequestKind::Head);
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
        self.count(RequestKind::Delete);
        match self.inner.op.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.op_error(OP, path, e)),
        }
    }

    /// Counts one request of `kind`, unless the store counts requests on the wire (S3, Azure
    /// Blob).
    fn count(&self, kind: RequestKind) {
        if !matches!(self.inner.backend, Backend::S3(_) | Backend::Azblob(_)) {
            self.inner.counters.count(kind);
        }
    }

    /// Counts a PUT (unless counted on the wire) and its payload bytes.
    fn count_put(&self, bytes: usize) {
        self.count(RequestKind::Put);
        self.inner.counters.written_bytes(bytes);
    }

    /// Runs blocking local-file I/O off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        path: &str,
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering;
        /// Counts the operation as in flight until the closure ends.
        struct InFlight(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for InFlight {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.inner.blocking_in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(self.inner.blocking_in_flight.clone());
        let f = move || {
            let _guard = guard;
            f()
        };
        match clock::run_blocking(f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.io_error(op, path, e)),
            Err(lost) => Err(self.io_error(op, path, std::io::Error::other(lost))),
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

//! The one error type of object-store access.

/// The underlying cause of a [`StoreError::Io`]: an OpenDAL error or a local I/O error.
pub type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from the object-store wrapper ([`crate::store::ObjectStore`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("object {path:?} not found")]
    NotFound {
        /// The object name, relative to the store's root.
        path: String,
    },

    /// A ranged read asked for bytes past the end of the object: the object is shorter than
    /// the caller expected (a truncated or replaced object). Not retryable.
    #[error("object {path:?} ends before byte {end}: a read of {len} bytes at offset {offset} got {got}")]
    ShortObject {
        /// The object name, relative to the store's root.
        path: String,
        /// Where the read started.
        offset: u64,
        /// How many bytes were asked for.
        len: u64,
        /// `offset + len`: the object is shorter than this.
        end: u64,
        /// What came back (`none`: the store refused the range).
        got: String,
    },

    /// The store URL could not be understood.
    #[error("invalid object-store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What was wrong and which forms are accepted.
        reason: String,
    },

    /// The store settings cannot work: an invalid endpoint or region, missing or half-set
    /// credentials, multipart sizes S3 does not accept. Found before any request is made.
    #[error("cannot set up object store {url}: {reason}")]
    InvalidConfig {
        /// The store URL.
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The store answered [`crate::store::ObjectStore::check_access`] with a refusal or not
    /// at all: the bucket does not exist, the credentials are wrong, the server is down.
    #[error("cannot access object store {url}: {detail}")]
    Access {
        /// The store URL.
        url: String,
        /// What failed (bucket, endpoint, region) and what to check.
        detail: String,
        /// The OpenDAL error underneath.
        source: BoxedSource,
    },

    /// The store does not refuse a second conditional create (`If-None-Match: *`) of an
    /// object, found by [`crate::store::ObjectStore::verify_conditional_writes`].
    #[error(
        "object store {url} cannot be trusted with conditional creates: {reason}. Writer \
         fencing and the safety of manifest publication depend on the store refusing to \
         create an object that already exists (If-None-Match: *), so Firn will not write to \
         it. Use a server that honours conditional writes (AWS S3, MinIO, ...), or, if no two \
         writers will ever open this database at the same time, opt into the unfenced \
         single-writer mode with StoreOptions::allow_unconditional_writes"
    )]
    UnsafeConditionalWrites {
        /// The store URL.
        url: String,
        /// What the check saw.
        reason: String,
    },

    /// A request failed (network, disk, permissions, a short read, an invalid object name, ...).
    #[error("{op} of object {path:?} in {url} failed: {source}")]
    Io {
        /// The operation: `get`, `get_range`, `put`, `put_if_absent`, `list`, `stat`, `delete`.
        op: &'static str,
        /// The object name (or list prefix), relative to the store's root.
        path: String,
        /// The store URL.
        url: String,
        /// The OpenDAL or `std::io` error underneath.
        source: BoxedSource,
    },
}

impl StoreError {
    /// Whether retrying the same request may succeed: network or server trouble, timeouts,
    /// throttling, a full disk — an outage, however long. Final answers are not: a refused
    /// permission, an invalid configuration or request, an operation the service does not
    /// support, a missing bucket or folder, and every variant but [`StoreError::Io`].
    /// (Requests to S3 have been retried with backoff already; what is retried here is an
    /// outage that outlasts those retries.)
    pub fn is_retryable(&self) -> bool {
        let StoreError::Io { source, .. } = self else {
            return false;
        };
        if let Some(e) = source.downcast_ref::<opendal::Error>() {
            use opendal::ErrorKind as K;
            return !matches!(
                e.kind(),
                K::PermissionDenied
                    | K::ConfigInvalid
                    | K::Unsupported
                    | K::NotFound
                    | K::IsADirectory
                    | K::IsSameFile
                    | K::ConditionNotMatch
                    | K::AlreadyExists
            );
        }
        if let Some(e) = source.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return !matches!(
                e.kind(),
                K::PermissionDenied | K::ReadOnlyFilesystem | K::InvalidInput | K::Unsupported
            );
        }
        true
    }
}

//! Errors of this crate: [`StoreError`] for object-store access and [`ManifestError`] for
//! everything about manifest versions (which wraps a [`StoreError`] when the store failed).

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

    /// The store URL could not be understood.
    #[error("invalid object-store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What was wrong and which forms are accepted.
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
    /// Whether retrying the same request may succeed (network or disk trouble). `NotFound` and
    /// `InvalidUrl` are final answers.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Io { .. })
    }
}

/// An error about manifest versions: decoding, publishing, fencing.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Another writer with a higher epoch has published: this writer must stop writing.
    #[error(
        "writer fenced: our epoch is {our_epoch}, but epoch {their_epoch} has published since"
    )]
    Fenced {
        /// The epoch this writer holds.
        our_epoch: u64,
        /// The epoch found in the manifest that beat us.
        their_epoch: u64,
    },

    /// A manifest object failed its checks (magic, length, checksum, payload).
    #[error("corrupt manifest object {object:?} at offset {offset}: {detail}")]
    Corrupt {
        /// The object name.
        object: String,
        /// Byte offset of the problem within the object.
        offset: u64,
        /// What is wrong.
        detail: String,
    },

    /// The manifest object was written by a newer format version than this build reads.
    #[error(
        "manifest object {object:?} has format version {found}, this build reads up to version \
         {supported}; upgrade Firn to open it"
    )]
    UnsupportedVersion {
        /// The object name.
        object: String,
        /// The format version in the object.
        found: u32,
        /// The newest format version this build understands.
        supported: u32,
    },

    /// An edit cannot be applied to the manifest it is meant for (a chunk to remove is gone,
    /// a chunk to add is already there, or the publish lost too many races).
    #[error("manifest edit conflict: {detail}")]
    Conflict {
        /// What conflicted.
        detail: String,
    },

    /// A manifest object belongs to a different database than the one being followed.
    #[error(
        "manifest object {object:?} belongs to database {found}, expected database {expected}"
    )]
    DatabaseMismatch {
        /// The object name.
        object: String,
        /// The database id we follow.
        expected: String,
        /// The database id in the object.
        found: String,
    },

    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

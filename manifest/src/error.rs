//! The error of this crate: [`ManifestError`], for everything about manifest versions (which
//! wraps a [`StoreError`] when the store failed).

#[cfg(feature = "store")]
use firn_store::StoreError;

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
    #[cfg(feature = "store")]
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! The engine's one error type.

use std::path::PathBuf;
use std::sync::Arc;

use firn_chunk::ChunkError;
use firn_manifest::ManifestError;
use firn_store::StoreError;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a [`Db`](crate::Db) call.
///
/// Variants carry the object, file, offset or key they are about, so the
/// message alone tells the user what broke and where.
///
/// New variants may be added (the enum is `#[non_exhaustive]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local directory holds acknowledged writes of a writer that was
    /// fenced before they reached the bucket. The open refuses to drop them.
    ///
    /// With `exact` (always, unless the writer was fenced before the database
    /// kept exact fence records), `first_seq..=last_seq` are exactly the
    /// writes in the WAL that never reached the bucket, however many writers
    /// opened the database since.
    #[error(
        "fenced: local directory {local} holds acknowledged writes with sequence numbers \
         {first_seq}..={last_seq} from writer epoch {epoch} that {} the bucket; \
         writer epoch {their_epoch} has taken over the database since. Export them with \
         `firn wal-export --local {local} --from-seq {first_seq}` and re-apply them with `firn load`, or discard them \
         by deleting {local}/wal; then open again",
        if *.exact { "never reached" } else {
            "may not all have reached (the database was fenced before it kept exact fence records, \
             so some of them may be in the bucket already: review them before re-applying)"
        }
    )]
    FencedWrites {
        /// The local directory.
        local: String,
        /// The epoch the writes were made under.
        epoch: u64,
        /// The epoch that fenced it.
        their_epoch: u64,
        /// First sequence number that never reached the bucket.
        first_seq: u64,
        /// Last one.
        last_seq: u64,
        /// Whether the range is exact (see above).
        exact: bool,
    },

    /// The object store no longer holds what this writer built on: its
    /// identity object is gone (the bucket was wiped, re-created or replaced).
    /// The writer stops accepting writes and keeps its WAL.
    #[error(
        "the object store {url} no longer holds the database this writer built on: {missing} \
         is gone (was the bucket wiped, re-created or restored from an older copy?). No more \
         writes are accepted, and the WAL in {wal} is kept with every acknowledged write: \
         restore the bucket's objects and open again, or export the writes with \
         `firn wal-export --local {local}`"
    )]
    BucketLost {
        /// The object-store URL.
        url: String,
        /// The object found missing.
        missing: String,
        /// The WAL folder that keeps the writes.
        wal: String,
        /// The local directory.
        local: String,
    },

    /// The caller asked for something invalid (oversized key, empty key, a
    /// malformed URL, ...). Nothing was written.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Stored bytes failed a checksum or could not be decoded.
    #[error("corruption in {object}{}: {detail}", offset_suffix(*.offset))]
    Corruption {
        /// The object or local file holding the bad bytes.
        object: String,
        /// Byte offset of the bad region, when known.
        offset: Option<u64>,
        /// What was wrong.
        detail: String,
    },

    /// A read-only handle fell behind the writer by longer than the GC grace
    /// period, and a chunk its manifest version references was collected.
    /// The handle has started to refresh itself; retry the read (or call
    /// `Db::refresh()` first). Nothing is wrong with the database.
    #[error("{object} was collected under this read-only handle: {detail}")]
    Collected {
        /// The chunk object that is gone.
        object: String,
        /// The manifest version the handle read, how old it was, what to do.
        detail: String,
    },

    /// Another process opened the database as writer and bumped the epoch;
    /// this handle no longer accepts writes.
    #[error(
        "fenced: another writer took over this database (our epoch {our_epoch}, theirs {their_epoch}); \
         this handle accepts no more writes"
    )]
    Fenced {
        /// The epoch this handle was writing with.
        our_epoch: u64,
        /// The newer epoch found in the manifest.
        their_epoch: u64,
    },

    /// A change-feed subscriber fell behind further than its writes can
    /// still be read: out of the in-memory change buffer, and out of the
    /// shipped WAL (or the writer does not ship it). Subscribe again from a
    /// later seq, or read the current state instead.
    #[error("the change feed lagged: every write through {position} was returned, but {detail}")]
    Lagged {
        /// Every write through this seq was returned to the subscriber.
        position: u64,
        /// Why the next writes cannot be read, and what limits it.
        detail: String,
    },

    /// A read asked for a sequence number the database cannot read exactly:
    /// older than the read history keeps (`Options::read_history`; versions
    /// only older seqs could see may have been dropped by flush or
    /// compaction), or newer than the last committed write.
    #[error(
        "cannot read at seq {seq}: reads are exact from seq {oldest} to seq {newest} (the last \
         committed write); keep more history with Options::read_history, or pin a seq with \
         Db::snapshot while it is current"
    )]
    SeqOutOfRange {
        /// The seq asked for.
        seq: u64,
        /// The oldest seq still readable.
        oldest: u64,
        /// The newest committed seq.
        newest: u64,
    },

    /// A write was attempted on a read-only handle.
    #[error("the database is open read-only; open it as writer to change it")]
    ReadOnly,

    /// The handle was closed, or an error stopped it: then the error is
    /// attached with its own kind (a lost bucket, a failed WAL write, a
    /// store that refused an upload for good, a close that timed out).
    #[error("the database is closed{}", reason_suffix(.0))]
    Closed(#[source] Option<Arc<Error>>),

    /// `close()` could not flush the memtables in time. Nothing is lost:
    /// the WAL keeps every acknowledged write and replays on the next open.
    #[error(
        "close could not flush within {after:?}; the WAL is kept and replays on the next open{}",
        last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default()
    )]
    CloseTimeout {
        /// `Options::close_timeout`.
        after: std::time::Duration,
        /// The store problem uploads were retrying through, if any.
        last_error: Option<String>,
    },

    /// Another process holds the lock of the local directory: a writer, a
    /// follower, or (for longer than a writer waits) a read-only handle
    /// keeping its local state there.
    #[error("local directory {} is locked by another writer process (or a follower, or a reader keeping its local state there); close it first or open read-only", .0.display())]
    Locked(PathBuf),

    /// The local directory belongs to a different database than the bucket.
    #[error("local directory {local} belongs to database {local_id}, but {url} holds database {store_id}; use another local directory")]
    DatabaseMismatch {
        /// The local directory.
        local: String,
        /// Database id recorded in the local directory.
        local_id: String,
        /// The object-store URL.
        url: String,
        /// Database id found in the object store (or "none").
        store_id: String,
    },

    /// A local file operation failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An object-store request failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A manifest operation failed (other than fencing and corruption,
    /// which map to their own variants).
    #[error(transparent)]
    Manifest(ManifestError),

    /// A background task failed; the message is the original error.
    #[error("background task failed: {0}")]
    Background(String),
}

fn offset_suffix(offset: Option<u64>) -> String {
    match offset {
        Some(o) => format!(" at offset {o}"),
        None => String::new(),
    }
}

fn reason_suffix(reason: &Option<Arc<Error>>) -> String {
    match reason {
        Some(r) => format!(" ({r})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corruption(
        object: impl Into<String>,
        offset: Option<u64>,
        detail: impl Into<String>,
    ) -> Error {
        Error::Corruption {
            object: object.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// Wraps a chunk decoding error with the object it came from.
    pub(crate) fn chunk(object: &str, err: ChunkError) -> Error {
        match err {
            ChunkError::Io(e) => Error::Io {
                path: PathBuf::from(object),
                source: e,
            },
            other => {
                let offset = chunk_error_offset(&other);
                Error::corruption(object, offset, other.to_string())
            }
        }
    }

    /// The error a caller gets from a database that `cause` stopped:
    /// fencing as itself (callers test for it), anything else as
    /// [`Error::Closed`] carrying `cause`.
    pub(crate) fn stopped_by(cause: Arc<Error>) -> Error {
        match &*cause {
            Error::Fenced {
                our_epoch,
                their_epoch,
            } => Error::Fenced {
                our_epoch: *our_epoch,
                their_epoch: *their_epoch,
            },
            _ => Error::Closed(Some(cause)),
        }
    }

    /// True for errors that mean stored data is damaged.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// True when this handle was fenced by a newer writer.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Error::Fenced { .. } | Error::FencedWrites { .. })
    }

    /// The error that stopped the database, when this is a
    /// [`Error::Closed`] that carries one (else `self`).
    pub fn root_cause(&self) -> &Error {
        match self {
            Error::Closed(Some(cause)) => cause.root_cause(),
            other => other,
        }
    }
}

fn chunk_error_offset(err: &ChunkError) -> Option<u64> {
    match err {
        ChunkError::Corrupt { offset, .. } => Some(*offset),
        _ => None,
    }
}

impl From<ManifestError> for Error {
    fn from(err: ManifestError) -> Error {
        match err {
            ManifestError::Fenced {
                our_epoch,
                their_epoch,
            } => Error::Fenced {
                our_epoch,
                their_epoch,
            },
            ManifestError::Corrupt {
                object,
                offset,
                detail,
            } => Error::Corruption {
                object,
                offset: Some(offset),
                detail,
            },
            ManifestError::Store(s) => Error::Store(s),
            other => Error::Manifest(other),
        }
    }
}

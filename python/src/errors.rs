//! Firn's errors as Python exceptions.
//!
//! Every variant of [`firn::Error`] maps to one class, chosen here on purpose
//! (see [`to_py`]); the exception carries the engine's message, a `kind`
//! attribute naming the variant, and for some kinds the fields a caller may
//! act on.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use firn_manifest::ManifestError;
use firn_store::StoreError as StoreFailure;

create_exception!(
    firn,
    FirnError,
    PyException,
    "Base class of every error Firn raises. `kind` names the engine's error kind."
);
create_exception!(
    firn,
    InvalidArgumentError,
    FirnError,
    "The caller asked for something invalid: an oversized or empty key, a malformed URL, an \
     unknown or bad option, a local directory of another database, a sequence number the \
     database cannot read. Nothing was written."
);
create_exception!(
    firn,
    CorruptionError,
    FirnError,
    "Stored bytes failed a checksum or could not be decoded. `object` names the object or \
     file, `offset` the byte offset when known."
);
create_exception!(
    firn,
    FencedError,
    FirnError,
    "Another writer took over the database: this handle accepts no more writes \
     (`kind` 'fenced'), or the local directory holds acknowledged writes of a fenced writer \
     that never reached the bucket and the open refuses to drop them ('fenced_writes')."
);
create_exception!(
    firn,
    ClosedError,
    FirnError,
    "The database (or this snapshot) is closed, or an error stopped it: then `__cause__` is \
     that error."
);
create_exception!(
    firn,
    ReadOnlyError,
    FirnError,
    "A write (or flush, compaction, checkpoint) on a handle opened read-only."
);
create_exception!(
    firn,
    StoreError,
    FirnError,
    "Every other failure: an object-store request or local file operation that failed, a \
     bucket that lost its objects, a chunk collected under a read-only handle (retry), a local \
     directory locked by another process, a manifest this build cannot read."
);

/// The Python exception for `err`.
pub(crate) fn to_py(py: Python<'_>, err: &firn::Error) -> PyErr {
    use firn::Error as E;
    let msg = err.to_string();
    let (exc, kind) = match err {
        E::InvalidArgument(_) => (InvalidArgumentError::new_err(msg), "invalid_argument"),
        E::DatabaseMismatch { .. } => (InvalidArgumentError::new_err(msg), "database_mismatch"),
        E::SeqOutOfRange { .. } => (InvalidArgumentError::new_err(msg), "seq_out_of_range"),
        E::Corruption { .. } => (CorruptionError::new_err(msg), "corruption"),
        E::Fenced { .. } => (FencedError::new_err(msg), "fenced"),
        E::FencedWrites { .. } => (FencedError::new_err(msg), "fenced_writes"),
        E::Closed(_) => (ClosedError::new_err(msg), "closed"),
        E::CloseTimeout { .. } => (ClosedError::new_err(msg), "close_timeout"),
        E::ReadOnly => (ReadOnlyError::new_err(msg), "read_only"),
        E::Store(StoreFailure::InvalidUrl { .. } | StoreFailure::InvalidConfig { .. }) => {
            (InvalidArgumentError::new_err(msg), "invalid_argument")
        }
        E::Store(_) => (StoreError::new_err(msg), "store"),
        E::Io { .. } => (StoreError::new_err(msg), "io"),
        E::Manifest(ManifestError::DatabaseMismatch { .. }) => {
            (InvalidArgumentError::new_err(msg), "database_mismatch")
        }
        E::Manifest(_) => (StoreError::new_err(msg), "manifest"),
        E::Background(_) => (StoreError::new_err(msg), "background"),
        E::BucketLost { .. } => (StoreError::new_err(msg), "bucket_lost"),
        E::Collected { .. } => (StoreError::new_err(msg), "collected"),
        E::Lagged { .. } => (StoreError::new_err(msg), "lagged"),
        E::Locked(_) => (StoreError::new_err(msg), "locked"),
        // `firn::Error` is non-exhaustive: a kind added later is a general error
        // until it is mapped here.
        _ => (StoreError::new_err(msg), "other"),
    };
    let value = exc.value(py);
    // Setting attributes on a fresh exception instance cannot fail in
    // practice; if it did, the exception is still right, only less detailed.
    let _ = value.setattr("kind", kind);
    match err {
        E::Corruption { object, offset, .. } => {
            let _ = value.setattr("object", object);
            let _ = value.setattr("offset", *offset);
        }
        E::Fenced {
            our_epoch,
            their_epoch,
        } => {
            let _ = value.setattr("our_epoch", *our_epoch);
            let _ = value.setattr("their_epoch", *their_epoch);
        }
        E::FencedWrites {
            epoch,
            their_epoch,
            first_seq,
            last_seq,
            ..
        } => {
            let _ = value.setattr("our_epoch", *epoch);
            let _ = value.setattr("their_epoch", *their_epoch);
            let _ = value.setattr("first_seq", *first_seq);
            let _ = value.setattr("last_seq", *last_seq);
        }
        E::Closed(Some(cause)) => exc.set_cause(py, Some(to_py(py, cause))),
        _ => {}
    }
    exc
}

/// Maps an engine result to a Python one.
pub(crate) fn check<T>(py: Python<'_>, result: firn::Result<T>) -> PyResult<T> {
    result.map_err(|e| to_py(py, &e))
}

/// An [`InvalidArgumentError`] with `msg`.
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    to_py_detached(firn::Error::InvalidArgument(msg.into()))
}

/// The Python exception for `err`, attached to the interpreter for the
/// moment it takes to build it.
pub(crate) fn to_py_detached(err: firn::Error) -> PyErr {
    Python::attach(|py| to_py(py, &err))
}

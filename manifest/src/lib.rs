//! Firn's durable catalogue.
//!
//! - [`manifest`]: [`Manifest`] versions (chunk metadata, sorted runs, WAL watermark, writer
//!   epoch, fence records) and their checksummed byte format ([`encode`], [`decode`]): pure
//!   data, which the compaction planner builds on.
//! - With the `store` feature (on by default): `ManifestStore`, which publishes new versions
//!   on the object store (the `firn-store` crate, re-exported as `store`) by conditional
//!   create with writer fencing.
//!
//! The object layout and the publish protocol are described in `FORMAT.md`.

#![warn(missing_docs)]

mod error;
pub mod manifest;

/// The object store ([`firn_store`]), re-exported for the crates that publish manifests.
#[cfg(feature = "store")]
pub use firn_store as store;

pub use crate::error::ManifestError;
pub use crate::manifest::{
    decode, encode, identity_contents, manifest_object, parse_manifest_object, ChunkId, ChunkMeta,
    ChunkSource, FencedWriter, Manifest, ManifestEdit, ObjectName, SortedRun, Totals, WriterClaim,
    IDENTITY_OBJECT, MAX_CLAIMS,
};
#[cfg(feature = "store")]
pub use crate::manifest::{fresh_nonce, ManifestStore};
#[cfg(feature = "store")]
pub use firn_store::{BoxedSource, StoreError};
#[cfg(feature = "store")]
pub use firn_store::{ObjectInfo, ObjectStore, PutOutcome, RequestCounts, StoreOptions};

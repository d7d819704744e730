//! Firn's durable catalogue and object-store access.
//!
//! - [`store`]: [`ObjectStore`], the object-store wrapper every Firn crate uses — URL setup
//!   (`file:///path`, `s3://bucket/prefix`, `memory://NAME`) with [`StoreOptions`], request
//!   counting, retries and multipart uploads on S3, access and conditional-write checks, and
//!   a conditional create that is crash-safe on local folders.
//! - [`manifest`]: [`Manifest`] versions (chunk metadata, sorted runs, WAL watermark, writer
//!   epoch), their checksummed byte format ([`encode`], [`decode`]) and [`ManifestStore`], which
//!   publishes new versions by conditional create with writer fencing.
//!
//! The object layout and the publish protocol are described in `FORMAT.md`.

#![warn(missing_docs)]

mod error;
pub mod manifest;
pub mod store;

pub use crate::error::{BoxedSource, ManifestError, StoreError};
pub use crate::manifest::{
    decode, encode, fresh_nonce, identity_contents, manifest_object, parse_manifest_object,
    ChunkId, ChunkMeta, FencedWriter, Manifest, ManifestEdit, ManifestStore, SortedRun, Totals,
    WriterClaim, IDENTITY_OBJECT, MAX_CLAIMS,
};
pub use crate::store::{ObjectInfo, ObjectStore, PutOutcome, RequestCounts, StoreOptions};

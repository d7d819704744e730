//! The durable catalogue: which chunks make up the database (level 0 and sorted runs), the WAL
//! watermark, the writer epoch; its byte format; and publication of new versions by
//! conditional create on the object store.

mod codec;
mod edit;
#[cfg(feature = "store")]
mod manifest_store;
mod model;
mod names;

pub use self::codec::{decode, encode, FORMAT_VERSION, HEADER_LEN, MAGIC, TRAILER_LEN};
pub use self::edit::ManifestEdit;
#[cfg(feature = "store")]
pub use self::manifest_store::{fresh_nonce, ManifestStore};
pub use self::model::{
    identity_contents, manifest_object, parse_manifest_object, ChunkId, ChunkMeta, ChunkSource,
    FencedWriter, Manifest, SortedRun, Totals, WriterClaim, CHUNK_PREFIX, IDENTITY_OBJECT,
    MANIFEST_PREFIX, MAX_CLAIMS,
};
pub use self::names::{ObjectName, CHECKPOINT_PREFIX, WAL_PREFIX};
pub use crate::error::ManifestError;

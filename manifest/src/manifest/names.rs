//! [`ObjectName`]: the one place that names every object Firn keeps in a bucket.
//!
//! ```text
//! manifest/<version, 20 digits>                         a manifest version
//! chunks/<epoch, 20 digits>-<id, 20 digits>.chunk       a chunk
//! checkpoints/<name>                                    a checkpoint
//! wal/<id, 20 digits>.wal                               a shipped WAL object
//! IDENTITY                                              the bucket's identity
//! ```
//!
//! Numbers are zero-padded to 20 digits (enough for any `u64`) so that names sort like the
//! numbers they carry. These names are part of the on-disk format: never change one.

use std::fmt;

/// The folder holding manifest versions.
pub const MANIFEST_PREFIX: &str = "manifest/";
/// The folder holding chunks.
pub const CHUNK_PREFIX: &str = "chunks/";
/// The folder holding checkpoints.
pub const CHECKPOINT_PREFIX: &str = "checkpoints/";
/// The folder holding shipped WAL objects.
pub const WAL_PREFIX: &str = "wal/";
/// The bucket's identity object: `firn-db-identity 1 <uuid>\n` (the `1` is its format
/// version), created with the database and never deleted or replaced. A writer checks that it
/// is still there before it deletes WAL that a flush put into the bucket: a bucket that was
/// wiped or replaced under it must not take acknowledged writes with it.
pub const IDENTITY_OBJECT: &str = "IDENTITY";

const CHUNK_SUFFIX: &str = ".chunk";
const WAL_SUFFIX: &str = ".wal";

/// Digits in the zero-padded numbers of object names.
const NAME_DIGITS: usize = 20;

/// Every kind of object in a Firn bucket. [`ObjectName::path`] and [`ObjectName::parse`] are
/// inverses; every object name the engine and the tools use comes from here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectName {
    /// Manifest version `v`.
    ManifestVersion(u64),
    /// The chunk a writer of `epoch` numbered `id`.
    Chunk {
        /// The writer epoch that built it.
        epoch: u64,
        /// Its number within the epoch.
        id: u64,
    },
    /// The checkpoint with this name (see the engine's checkpoint name rules).
    Checkpoint(String),
    /// Shipped WAL object `id` (one sequence across writers).
    ShippedWal(u64),
    /// The bucket's identity ([`IDENTITY_OBJECT`]).
    Identity,
}

impl ObjectName {
    /// The object's path relative to the store root.
    pub fn path(&self) -> String {
        match self {
            ObjectName::ManifestVersion(v) => format!("{MANIFEST_PREFIX}{v:020}"),
            ObjectName::Chunk { epoch, id } => {
                format!("{CHUNK_PREFIX}{epoch:020}-{id:020}{CHUNK_SUFFIX}")
            }
            ObjectName::Checkpoint(name) => format!("{CHECKPOINT_PREFIX}{name}"),
            ObjectName::ShippedWal(id) => format!("{WAL_PREFIX}{id:020}{WAL_SUFFIX}"),
            ObjectName::Identity => IDENTITY_OBJECT.to_string(),
        }
    }

    /// The object a path names, or `None` for a name Firn does not write (readers ignore
    /// those).
    pub fn parse(path: &str) -> Option<ObjectName> {
        if path == IDENTITY_OBJECT {
            return Some(ObjectName::Identity);
        }
        if let Some(rest) = path.strip_prefix(MANIFEST_PREFIX) {
            return parse_padded(rest).map(ObjectName::ManifestVersion);
        }
        if let Some(rest) = path.strip_prefix(CHUNK_PREFIX) {
            let (epoch, id) = rest.strip_suffix(CHUNK_SUFFIX)?.split_once('-')?;
            return Some(ObjectName::Chunk {
                epoch: parse_padded(epoch)?,
                id: parse_padded(id)?,
            });
        }
        if let Some(rest) = path.strip_prefix(WAL_PREFIX) {
            return parse_padded(rest.strip_suffix(WAL_SUFFIX)?).map(ObjectName::ShippedWal);
        }
        if let Some(name) = path.strip_prefix(CHECKPOINT_PREFIX) {
            return (!name.is_empty() && !name.contains('/'))
                .then(|| ObjectName::Checkpoint(name.to_string()));
        }
        None
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Parses exactly [`NAME_DIGITS`] ASCII digits.
fn parse_padded(digits: &str) -> Option<u64> {
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_others_are_refused() {
        for name in [
            ObjectName::ManifestVersion(0),
            ObjectName::ManifestVersion(u64::MAX),
            ObjectName::Chunk { epoch: 3, id: 42 },
            ObjectName::Checkpoint("nightly.1".into()),
            ObjectName::ShippedWal(7),
            ObjectName::Identity,
        ] {
            assert_eq!(
                ObjectName::parse(&name.path()),
                Some(name.clone()),
                "{name}"
            );
        }
        assert_eq!(
            ObjectName::ShippedWal(7).path(),
            "wal/00000000000000000007.wal"
        );
        for bad in [
            "manifest/7",
            "manifest/99999999999999999999",
            "chunks/3-42.chunk",
            "wal/00000000000000000007",
            "checkpoints/",
            "checkpoints/a/b",
            ".probe/x",
            "identity",
        ] {
            assert_eq!(ObjectName::parse(bad), None, "{bad}");
        }
    }
}

//! Checkpoints: named, durable pins of one manifest version.
//!
//! A checkpoint is the object `checkpoints/<name>`. Garbage collection keeps
//! the manifest version it names and every chunk that version references, so
//! the database as of the checkpoint can be opened read-only at any time
//! (`Options::checkpoint`), across reopens, until the checkpoint is deleted.
//!
//! ```text
//! +----------+----------------+-------------+------------------+--------+
//! | "FIRNCKPT" | format u32 LE | len u32 LE  | postcard payload | crc32  |
//! +----------+----------------+-------------+------------------+--------+
//! payload = name string | db_id [u8;16] | manifest_version u64 | created_at_ms u64
//! crc32 (LE) covers every byte before it
//! ```

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Magic at the start of a checkpoint object.
pub(crate) const CHECKPOINT_MAGIC: &[u8; 8] = b"FIRNCKPT";
/// Current checkpoint format version.
pub(crate) const CHECKPOINT_FORMAT_VERSION: u32 = 1;
/// Folder of checkpoint objects.
pub(crate) use firn_manifest::manifest::CHECKPOINT_PREFIX;

/// A named pin of one manifest version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The checkpoint's name.
    pub name: String,
    /// The database it belongs to.
    pub db_id: [u8; 16],
    /// The manifest version it pins.
    pub manifest_version: u64,
    /// When it was created, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// The object holding checkpoint `name`.
pub(crate) fn checkpoint_object(name: &str) -> String {
    firn_manifest::ObjectName::Checkpoint(name.to_string()).path()
}

/// Checks a checkpoint name: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "bad checkpoint name {name:?}: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// Encodes a checkpoint object. Fails (rather than write an empty or
/// truncated payload) if the payload cannot be encoded.
pub(crate) fn encode(c: &Checkpoint) -> Result<Vec<u8>> {
    let payload = postcard::to_allocvec(c).map_err(|e| {
        Error::InvalidArgument(format!("cannot encode checkpoint {:?}: {e}", c.name))
    })?;
    let len = u32::try_from(payload.len()).map_err(|_| {
        Error::InvalidArgument(format!("checkpoint {:?} is too large to encode", c.name))
    })?;
    let mut out = Vec::with_capacity(payload.len().saturating_add(HEADER + TRAILER));
    out.extend_from_slice(CHECKPOINT_MAGIC);
    out.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Bytes before the payload: magic, version, payload length.
const HEADER: usize = 16;
/// Bytes after it: the CRC-32.
const TRAILER: usize = 4;

/// The little-endian u32 at `at`, if the bytes are there.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

pub(crate) fn decode(bytes: &[u8], object: &str) -> Result<Checkpoint> {
    let bad = |offset: usize, detail: &str| Error::corruption(object, Some(offset as u64), detail);
    if bytes.len() < HEADER + TRAILER || bytes.get(..8) != Some(&CHECKPOINT_MAGIC[..]) {
        return Err(bad(
            0,
            "not a Firn checkpoint object (bad magic or too short)",
        ));
    }
    let version = u32_at(bytes, 8).ok_or_else(|| bad(8, "truncated header"))?;
    if version > CHECKPOINT_FORMAT_VERSION {
        return Err(bad(
            8,
            &format!("checkpoint format {version} is newer than this build supports ({CHECKPOINT_FORMAT_VERSION}); upgrade Firn"),
        ));
    }
    let len = u32_at(bytes, 12).ok_or_else(|| bad(12, "truncated header"))? as usize;
    let payload_end = len.checked_add(HEADER);
    if payload_end.and_then(|e| e.checked_add(TRAILER)) != Some(bytes.len()) {
        return Err(bad(12, "length does not match the object size"));
    }
    let payload_end = payload_end.unwrap_or_default();
    let crc = u32_at(bytes, payload_end).ok_or_else(|| bad(payload_end, "checksum missing"))?;
    let covered = bytes.get(..payload_end).unwrap_or_default();
    if crc32fast::hash(covered) != crc {
        return Err(bad(payload_end, "checkpoint checksum mismatch"));
    }
    let payload = bytes.get(HEADER..payload_end).unwrap_or_default();
    postcard::from_bytes(payload).map_err(|e| bad(HEADER, &format!("bad payload: {e}")))
}

/// Every checkpoint in `store`, by name (one LIST, one GET each).
pub(crate) async fn list(store: &firn_store::ObjectStore) -> Result<Vec<Checkpoint>> {
    let mut out = Vec::new();
    for object in store.list(CHECKPOINT_PREFIX).await? {
        let bytes = match store.get(&object.path).await {
            Ok(b) => b,
            Err(firn_store::StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        out.push(decode(&bytes, &object.path)?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let c = Checkpoint {
            name: "nightly-1".into(),
            db_id: [7; 16],
            manifest_version: 42,
            created_at_ms: 1_700_000_000_000,
        };
        let bytes = encode(&c).unwrap();
        assert_eq!(decode(&bytes, "checkpoints/x").unwrap(), c);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad, "checkpoints/x").is_err(), "flip at {i}");
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], "checkpoints/x").is_err());
        }
        assert!(validate_name("ok_name-1.2").is_ok());
        for bad in ["", ".hidden", "a/b", "space here", &"x".repeat(129)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}

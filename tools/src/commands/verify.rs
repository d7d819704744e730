//! `verify`: read the manifest and every chunk it references, check every
//! checksum.
//!
//! This works from the object store directly (manifest crate + chunk
//! crate) rather than through an opened engine: opening the engine already
//! decodes every chunk's index, so one damaged chunk would stop the check
//! before the others were looked at. Every chunk is checked; each damaged
//! one is reported as `error: corruption in OBJECT at offset N: DETAIL`.

use bytes::Bytes;
use firn::ChunkMeta;
use firn_chunk::{ChunkError, ChunkReader};
use firn_manifest::{ManifestStore, ObjectStore, StoreError};

use crate::error::{chunk_error_is_corruption, CliError, CliResult, ExitKind};
use crate::escape::quote;
use crate::output::diag;
use crate::session::Session;

/// What one verified chunk held.
#[derive(Default)]
struct Totals {
    chunks: u64,
    entries: u64,
    tombstones: u64,
    blocks: u64,
    bytes: u64,
}

/// Runs `verify`: exit 0 with a summary when everything checks out, exit 2
/// naming the object and offset of each damaged chunk.
pub async fn verify(session: &mut Session) -> CliResult {
    let store = session.open_store()?;
    let url = store.url().to_string();
    // Decoding a manifest version checks its magic, length and CRC.
    let m = ManifestStore::new(store.clone())
        .load_latest()
        .await?
        .ok_or_else(|| {
            CliError::other(format!("no Firn database at {url} (no manifest versions)"))
        })?;
    let mut totals = Totals::default();
    let mut problems = Vec::new();
    for meta in m.all_chunks() {
        match check_chunk(&store, meta, m.version).await {
            Ok(blocks) => {
                totals.chunks += 1;
                totals.entries += meta.entries;
                totals.tombstones += meta.tombstones;
                totals.blocks += blocks;
                totals.bytes += meta.size;
            }
            Err(e) if e.kind == ExitKind::Corruption => problems.push(e),
            Err(e) => return Err(e),
        }
    }
    let bad = problems.len();
    if let Some(last) = problems.pop() {
        for p in &problems {
            if let Some(line) = p.line() {
                diag(&line);
            }
        }
        let total = bad + totals.chunks as usize;
        return Err(if bad > 1 {
            last.context(format!("{bad} of {total} chunks are damaged; last"))
        } else {
            last
        });
    }
    session.out.line(&format!(
        "ok: manifest version {} ({}), {} chunks, {} blocks, {} entries ({} tombstones), {} bytes: every checksum matches",
        m.version,
        m.object_name(),
        totals.chunks,
        totals.blocks,
        totals.entries,
        totals.tombstones,
        totals.bytes
    ))
}

/// Reads one chunk object whole and checks it: size, footer, index, filter,
/// properties (against the manifest too), every data block and the order of
/// all entries. Returns the number of data blocks.
async fn check_chunk(store: &ObjectStore, meta: &ChunkMeta, version: u64) -> CliResult<u64> {
    let object = meta.id.object_name();
    let corrupt = |offset: Option<u64>, detail: String| -> CliError {
        firn::Error::Corruption {
            object: object.clone(),
            offset,
            detail,
        }
        .into()
    };
    let bytes: Bytes = match store.get(&object).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => {
            return Err(corrupt(
                None,
                format!("the object is missing, but manifest version {version} references it"),
            ))
        }
        Err(e) => return Err(CliError::other(e.to_string())),
    };
    let size = bytes.len() as u64;
    if size != meta.size {
        return Err(corrupt(
            Some(size.min(meta.size)),
            format!(
                "the object is {size} bytes, manifest version {version} says {}",
                meta.size
            ),
        ));
    }
    let reader = ChunkReader::open(bytes).map_err(|e| chunk_problem(&object, e))?;
    let index = reader.index();
    if index.meta_offset() != meta.meta_offset
        || meta.meta_len != size.saturating_sub(meta.meta_offset)
    {
        return Err(corrupt(
            Some(index.meta_offset()),
            format!(
                "metadata region starts at {}, manifest version {version} says {} ({} bytes)",
                index.meta_offset(),
                meta.meta_offset,
                meta.meta_len
            ),
        ));
    }
    let p = index.properties();
    let mismatch = [
        (
            "entries",
            p.entries != meta.entries,
            p.entries.to_string(),
            meta.entries.to_string(),
        ),
        (
            "tombstones",
            p.tombstones != meta.tombstones,
            p.tombstones.to_string(),
            meta.tombstones.to_string(),
        ),
        (
            "min_key",
            p.min_key != meta.min_key,
            quote(&p.min_key),
            quote(&meta.min_key),
        ),
        (
            "max_key",
            p.max_key != meta.max_key,
            quote(&p.max_key),
            quote(&meta.max_key),
        ),
        (
            "min_seq",
            p.min_seq != meta.min_seq,
            p.min_seq.to_string(),
            meta.min_seq.to_string(),
        ),
        (
            "max_seq",
            p.max_seq != meta.max_seq,
            p.max_seq.to_string(),
            meta.max_seq.to_string(),
        ),
    ]
    .into_iter()
    .find(|(_, differs, _, _)| *differs);
    if let Some((field, _, ours, theirs)) = mismatch {
        return Err(corrupt(
            Some(index.footer().properties.offset),
            format!("properties say {field} {ours}, manifest version {version} says {theirs}"),
        ));
    }
    reader.verify().map_err(|e| chunk_problem(&object, e))?;
    Ok(index.block_count() as u64)
}

/// A chunk decoding error as a corruption of `object` (or, for I/O
/// failures and unknown format versions, an ordinary error).
fn chunk_problem(object: &str, err: ChunkError) -> CliError {
    if !chunk_error_is_corruption(&err) {
        return CliError::other(format!("{object}: {err}"));
    }
    let (offset, detail) = match err {
        ChunkError::Corrupt { offset, detail } => (Some(offset), detail),
        ChunkError::Truncated { size, .. } => (Some(size), err.to_string()),
        other => (None, other.to_string()),
    };
    firn::Error::Corruption {
        object: object.to_string(),
        offset,
        detail,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_problems_name_object_and_offset() {
        let e = chunk_problem(
            "chunks/a.chunk",
            ChunkError::Corrupt {
                offset: 42,
                detail: "block checksum mismatch".into(),
            },
        );
        assert_eq!(e.kind, ExitKind::Corruption);
        assert_eq!(
            e.line().as_deref(),
            Some("error: corruption in chunks/a.chunk at offset 42: block checksum mismatch")
        );
        let e = chunk_problem(
            "c",
            ChunkError::UnsupportedVersion {
                found: 2,
                supported: 1,
            },
        );
        assert_eq!(e.kind, ExitKind::Other);
    }
}

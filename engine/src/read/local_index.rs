//! The persistent local index: each chunk's bloom filter and block index in
//! `<local_dir>/index/<epoch>-<id>.idx`, memory-mapped and queried in place.
//!
//! The file format (versioned, checksummed) belongs to the chunk crate; see
//! "Local index file" in `chunk/FORMAT.md`. This module only names, writes,
//! maps and checks the files. A file is written under a temporary name and
//! renamed into place, and never changed after that, so a mapping stays
//! valid even when the file is deleted (the pages live until unmapped).
//!
//! A file is trusted only after its checksum verifies and what it describes
//! matches the manifest's entry for the chunk (size, metadata offset, key and
//! sequence range, entry count). Anything else is discarded and the index is
//! fetched again from the object store. The folder is disposable.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use firn_chunk::ChunkIndex;
use firn_manifest::{ChunkId, ChunkMeta};

/// Why a local index file could not be used.
pub(crate) enum LoadFailure {
    /// No file for the chunk.
    Missing,
    /// A file that is damaged or describes another chunk (logged, and
    /// removed when the handle may write).
    Bad,
}

/// The `index/` folder of a local directory.
pub(crate) struct LocalIndexDir {
    dir: PathBuf,
    writable: bool,
}

impl LocalIndexDir {
    pub(crate) fn open(dir: PathBuf, writable: bool) -> LocalIndexDir {
        if writable {
            // Failing here only means the index stays in memory.
            let _ = fs::create_dir_all(&dir);
        }
        LocalIndexDir { dir, writable }
    }

    fn path(&self, id: ChunkId) -> PathBuf {
        self.dir.join(format!("{:020}-{:020}.idx", id.epoch, id.id))
    }

    /// Maps and checks the local index of `meta`'s chunk.
    pub(crate) fn load(&self, meta: &ChunkMeta) -> Result<ChunkIndex, LoadFailure> {
        let path = self.path(meta.id);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LoadFailure::Missing),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot open a local index file: {e}");
                return Err(LoadFailure::Bad);
            }
        };
        let checked = map(&file)
            .and_then(|bytes| ChunkIndex::decode_local(bytes).map_err(|e| format!("{e}")))
            .and_then(|index| describes(&index, meta).map(|()| index));
        checked.map_err(|why| {
            tracing::warn!(
                path = %path.display(),
                "discarding a bad local index file ({why}); it is fetched again"
            );
            if self.writable {
                let _ = fs::remove_file(&path);
            }
            LoadFailure::Bad
        })
    }

    /// Writes `index` as `meta`'s local index file and maps it back, so the
    /// caller can drop its heap copy. `None` if the handle may not write or
    /// the write fails (the caller keeps its copy).
    pub(crate) fn store(&self, meta: &ChunkMeta, index: &ChunkIndex) -> Option<ChunkIndex> {
        if !self.writable {
            return None;
        }
        let path = self.path(meta.id);
        let written = (|| -> std::io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .tempfile_in(&self.dir)?;
            tmp.write_all(&index.encode_local())?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = written {
            tracing::debug!(path = %path.display(), "local index write failed: {e}");
            return None;
        }
        self.load(meta).ok()
    }

    /// Removes the files of `chunks`.
    pub(crate) fn remove(&self, chunks: &[ChunkId]) {
        if self.writable {
            for id in chunks {
                let _ = fs::remove_file(self.path(*id));
            }
        }
    }

    /// Removes the files of chunks not in `live` (and stray temporary files).
    pub(crate) fn retain(&self, live: &HashSet<ChunkId>) {
        if !self.writable {
            return;
        }
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        for item in listing.flatten() {
            let name = item.file_name();
            let keep = parse_name(&name.to_string_lossy()).is_some_and(|id| live.contains(&id));
            if !keep {
                let _ = fs::remove_file(item.path());
            }
        }
    }
}

fn parse_name(name: &str) -> Option<ChunkId> {
    let (epoch, id) = name.strip_suffix(".idx")?.split_once('-')?;
    Some(ChunkId {
        epoch: epoch.parse().ok()?,
        id: id.parse().ok()?,
    })
}

fn map(file: &fs::File) -> Result<Bytes, String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len == 0 {
        return Err("empty file".into());
    }
    // SAFETY: local index files are written under a temporary name, renamed
    // into place and never modified or truncated afterwards (only deleted,
    // which leaves existing mappings intact), so the mapped bytes cannot
    // change under the reader. What would break it: any code that writes to
    // or truncates an index file in place, or another program doing so (a
    // truncation under a mapping raises SIGBUS on access).
    #[allow(
        unsafe_code,
        reason = "the one mmap: index files are immutable once renamed into place"
    )]
    let mmap = unsafe { memmap2::Mmap::map(file) }.map_err(|e| format!("cannot map: {e}"))?;
    Ok(Bytes::from_owner(mmap))
}

/// Checks that `index` is the index of the chunk `meta` describes.
fn describes(index: &ChunkIndex, meta: &ChunkMeta) -> Result<(), String> {
    let p = index.properties();
    let same = index.file_size() == meta.size
        && index.meta_offset() == meta.meta_offset
        && p.entries == meta.entries
        && p.tombstones == meta.tombstones
        && p.min_key == meta.min_key
        && p.max_key == meta.max_key
        && meta.seqs_match(p.min_seq, p.max_seq);
    if same {
        Ok(())
    } else {
        Err(format!(
            "it describes another chunk than {} (stale file)",
            meta.id.object_name()
        ))
    }
}

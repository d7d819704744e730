//! The manifest data model: chunk ids and metadata, sorted runs, the manifest itself (object
//! names come from [`super::names`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::names::ObjectName;
pub use super::names::{CHUNK_PREFIX, IDENTITY_OBJECT, MANIFEST_PREFIX};

/// The contents of [`IDENTITY_OBJECT`] for the database `db_id`.
pub fn identity_contents(db_id: &[u8; 16]) -> String {
    format!("firn-db-identity 1 {}\n", format_db_id(db_id))
}

/// The object name of a manifest version: `manifest/<version, 20 digits>`.
pub fn manifest_object(version: u64) -> String {
    ObjectName::ManifestVersion(version).path()
}

/// The version a manifest object name carries, or `None` if `name` is not one
/// (the inverse of [`manifest_object`]).
pub fn parse_manifest_object(name: &str) -> Option<u64> {
    match ObjectName::parse(name)? {
        ObjectName::ManifestVersion(v) => Some(v),
        _ => None,
    }
}

/// The identity of a chunk: the epoch of the writer that built it and a number unique within
/// that epoch. Writers of different epochs can never pick the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkId {
    /// The writer epoch that built the chunk.
    pub epoch: u64,
    /// The chunk's number within its epoch.
    pub id: u64,
}

impl ChunkId {
    /// The chunk's object name: `chunks/<epoch, 20 digits>-<id, 20 digits>.chunk`.
    pub fn object_name(&self) -> String {
        ObjectName::Chunk {
            epoch: self.epoch,
            id: self.id,
        }
        .path()
    }

    /// The chunk id a chunk object name carries, or `None` if `name` is not one
    /// (the inverse of [`ChunkId::object_name`]).
    pub fn parse_object_name(name: &str) -> Option<ChunkId> {
        match ObjectName::parse(name)? {
            ObjectName::Chunk { epoch, id } => Some(ChunkId { epoch, id }),
            _ => None,
        }
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.id)
    }
}

/// What the manifest records about one chunk: enough to open it (one ranged read of
/// `meta_offset..meta_offset + meta_len`) and to plan reads and compactions without opening it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// The chunk's id (and so its object name).
    pub id: ChunkId,
    /// Total size of the chunk object in bytes.
    pub size: u64,
    /// Start of the metadata region (index, filter, properties, footer), which runs to the end.
    pub meta_offset: u64,
    /// Length of the metadata region (`size - meta_offset`).
    pub meta_len: u64,
    /// Number of entries (puts and tombstones).
    pub entries: u64,
    /// Number of tombstones.
    pub tombstones: u64,
    /// Smallest user key.
    pub min_key: Vec<u8>,
    /// Largest user key.
    pub max_key: Vec<u8>,
    /// Smallest sequence number.
    pub min_seq: u64,
    /// Largest sequence number.
    pub max_seq: u64,
}

impl ChunkMeta {
    /// The one sequence number of every entry, for a chunk whose `min_seq == max_seq`.
    ///
    /// Such a chunk holds each key at most once, all at that seq, and a reader takes the seq
    /// from here, not from the object: a bulk-ingested chunk (format version 5) is built
    /// before its seq is known, so its object carries seq 0 and the manifest assigns the seq
    /// when the chunk is published (RocksDB's "global seqno"). For any other chunk with one
    /// seq, the object says the same, so the rule holds for every chunk.
    pub fn uniform_seq(&self) -> Option<u64> {
        (self.min_seq == self.max_seq).then_some(self.max_seq)
    }

    /// True when a chunk object whose properties give `min_seq..=max_seq` can be the chunk this
    /// entry describes: the same range, or seq 0 throughout in the object of a bulk-ingested
    /// chunk (see [`ChunkMeta::uniform_seq`]).
    pub fn seqs_match(&self, min_seq: u64, max_seq: u64) -> bool {
        (min_seq == self.min_seq && max_seq == self.max_seq)
            || (min_seq == 0 && max_seq == 0 && self.uniform_seq().is_some())
    }
}

/// A sorted run: chunks ordered by key with non-overlapping key ranges, read as one sorted
/// sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortedRun {
    /// The run's id (unique within the database, see [`Manifest::next_run_id`]).
    pub id: u64,
    /// The chunks, in key order, non-overlapping.
    pub chunks: Vec<ChunkMeta>,
}

/// One version of the database catalogue: which chunks make up the database, how they are
/// arranged, and who may write. Each version is an immutable object named by
/// [`manifest_object`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The version number (1 for a new database; each publish adds one).
    pub version: u64,
    /// The database's UUID; every version of one database carries the same id.
    pub db_id: [u8; 16],
    /// The epoch of the writer that published this version (writer fencing).
    pub epoch: u64,
    /// A random number chosen per publish, so a writer recognises its own create after a retry.
    pub nonce: u64,
    /// The highest sequence number whose writes are all in chunks (the WAL may be trimmed up
    /// to here).
    pub wal_watermark: u64,
    /// The next chunk number to allocate (within the writer's epoch).
    pub next_chunk_id: u64,
    /// The next sorted-run id to allocate.
    pub next_run_id: u64,
    /// Level-0 chunks (flushed memtables, key ranges may overlap), newest first (by `max_seq`;
    /// a bulk ingest published in a run may be newer than L0 chunks it does not overlap).
    pub l0: Vec<ChunkMeta>,
    /// Sorted runs, newest first.
    pub runs: Vec<SortedRun>,
    /// Wall-clock time of publication, milliseconds since the Unix epoch.
    pub published_at_ms: u64,
    /// Running totals of the work done on the database (flushes, compactions, GC).
    pub totals: Totals,
    /// The most recent writer claims, oldest first (at most [`MAX_CLAIMS`]): a history for
    /// inspection and for timing the collection of fenced writers' orphaned uploads. Nothing
    /// that decides which writes reached the bucket depends on it (see [`Manifest::fenced`]).
    pub claims: Vec<WriterClaim>,
    /// One record per local directory whose writer was fenced by another directory's claim
    /// while it may still have held acknowledged writes that never reached the bucket, until
    /// that directory claims the database again. Each says exactly which of the directory's
    /// writes are in the bucket, however many writers came after. Bounded by the number of such
    /// directories, not by the number of opens: a directory's own reopens and a writer that
    /// closed cleanly ([`Manifest::writer_clean`]) add none.
    pub fenced: Vec<FencedWriter>,
    /// True once the writer of `epoch` closed cleanly: every write it acknowledged is at or
    /// below `wal_watermark`, so the claim that takes over from it records no [`FencedWriter`].
    /// Every claim sets it back to false.
    pub writer_clean: bool,
    /// Epochs below this ended before the database kept exact fence records (a manifest
    /// upgraded from format version 1 remembered only its last 64 claims). For a local WAL of
    /// such an epoch with no record, which writes reached the bucket is unknown. 0 for a
    /// database created with exact records.
    pub fence_records_since: u64,
    /// Every shipped WAL object (`wal/<id>.wal`) with a smaller id is a fence or holds only
    /// writes at or below `wal_watermark`: an open replaying the shipped WAL reads from this id
    /// on. 0 when unknown (read them all).
    pub wal_objects_from: u64,
    /// The databases whose chunks this one (a clone) references without owning them, by
    /// ascending `max_epoch`; empty for a database that owns all its chunks. A chunk whose
    /// epoch is at most a source's `max_epoch` (and above the previous source's) lives in that
    /// source ([`Manifest::source_of`]); every chunk of a newer epoch is this database's own.
    pub sources: Vec<ChunkSource>,
    /// The retention window for point-in-time restore, in milliseconds (0: off). Garbage
    /// collection keeps every manifest version superseded within it, the chunks they
    /// reference and the shipped WAL flushed within it, so any point inside can be rebuilt.
    /// A database setting: every writer honours it.
    pub history_retention_ms: u64,
}

/// A database a clone reads chunks from (see [`Manifest::sources`]). The clone holds a pin in
/// it, a checkpoint named `pin`, so the source's garbage collection keeps every chunk of the
/// pinned manifest version, which are all the chunks the clone can reference there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSource {
    /// Where the source database lives: the URL the clone was made from (a `file://` URL is
    /// absolute). Opened with the clone's own store settings.
    pub url: String,
    /// The source database's id (checked when the source is opened).
    pub db_id: [u8; 16],
    /// Chunks of this epoch and below (down to the previous source's `max_epoch`) are the
    /// source's: its epoch when the clone was made. The clone's own writers start above it.
    pub max_epoch: u64,
    /// The source's manifest version the pin holds.
    pub pinned_version: u64,
    /// The name of the checkpoint in the source that pins it.
    pub pin: String,
}

/// Running totals of the work done on a database since it was created, carried from version to
/// version (so any process can report write amplification, not only the one that did the work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Chunks written by flushes.
    pub flushes: u64,
    /// Bytes of chunks written by flushes.
    pub flush_bytes: u64,
    /// Compactions published.
    pub compactions: u64,
    /// Bytes of chunks compactions read.
    pub compaction_bytes_read: u64,
    /// Bytes of chunks compactions wrote.
    pub compaction_bytes_written: u64,
    /// Chunk objects deleted by garbage collection.
    pub gc_chunks_deleted: u64,
    /// Bytes garbage collection reclaimed.
    pub gc_bytes_reclaimed: u64,
}

impl Totals {
    /// Adds `other` (saturating).
    pub fn add(&mut self, other: &Totals) {
        self.flushes = self.flushes.saturating_add(other.flushes);
        self.flush_bytes = self.flush_bytes.saturating_add(other.flush_bytes);
        self.compactions = self.compactions.saturating_add(other.compactions);
        self.compaction_bytes_read = self
            .compaction_bytes_read
            .saturating_add(other.compaction_bytes_read);
        self.compaction_bytes_written = self
            .compaction_bytes_written
            .saturating_add(other.compaction_bytes_written);
        self.gc_chunks_deleted = self
            .gc_chunks_deleted
            .saturating_add(other.gc_chunks_deleted);
        self.gc_bytes_reclaimed = self
            .gc_bytes_reclaimed
            .saturating_add(other.gc_bytes_reclaimed);
    }

    /// Write amplification: every byte written to chunks (flush and compaction) per byte
    /// flushed; `None` before the first flush.
    pub fn write_amplification(&self) -> Option<f64> {
        (self.flush_bytes > 0).then(|| {
            (self.flush_bytes + self.compaction_bytes_written) as f64 / self.flush_bytes as f64
        })
    }
}

/// How many writer claims a manifest remembers.
pub const MAX_CLAIMS: usize = 64;

/// A local directory whose writer was fenced while it may have held acknowledged writes that
/// never reached the bucket: recorded by the claim that fenced it, dropped when the directory
/// claims the database again (it has then dealt with its WAL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FencedWriter {
    /// Id of the fenced local directory (its `WRITER_ID`).
    pub writer_id: [u8; 16],
    /// The directory's last epoch (the one that was fenced). Its WAL holds no newer epoch.
    pub epoch: u64,
    /// The WAL watermark when it was fenced: of the directory's writes (under `epoch` or its
    /// own earlier epochs), exactly those at or below this reached the bucket.
    pub wal_watermark: u64,
    /// The epoch whose claim fenced it.
    pub fenced_by_epoch: u64,
    /// Wall-clock time of that claim, milliseconds since the Unix epoch.
    pub fenced_at_ms: u64,
}

/// A writer taking over the database: recorded in the manifest version that bumped the epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterClaim {
    /// The epoch claimed.
    pub epoch: u64,
    /// Id of the local directory that claimed it (all zero when unknown).
    pub writer_id: [u8; 16],
    /// The manifest version that claimed it.
    pub version: u64,
    /// The WAL watermark at the claim: every write of older epochs that reached the bucket is at
    /// or below it.
    pub wal_watermark: u64,
    /// Wall-clock time of the claim, milliseconds since the Unix epoch.
    pub claimed_at_ms: u64,
}

impl Manifest {
    /// An empty, unpublished manifest (version 0, epoch 0) for the database `db_id`. Chunk and
    /// run numbers start at 1.
    pub fn new(db_id: [u8; 16]) -> Manifest {
        Manifest {
            version: 0,
            db_id,
            epoch: 0,
            nonce: 0,
            wal_watermark: 0,
            next_chunk_id: 1,
            next_run_id: 1,
            l0: Vec::new(),
            runs: Vec::new(),
            published_at_ms: 0,
            totals: Totals::default(),
            claims: Vec::new(),
            fenced: Vec::new(),
            writer_clean: false,
            fence_records_since: 0,
            wal_objects_from: 0,
            sources: Vec::new(),
            history_retention_ms: 0,
        }
    }

    /// The source database that holds chunk `id`, or `None` when it is this database's own
    /// (see [`Manifest::sources`]).
    pub fn source_of(&self, id: ChunkId) -> Option<&ChunkSource> {
        self.sources.iter().find(|s| id.epoch <= s.max_epoch)
    }

    /// The first claim of an epoch newer than `epoch`, if the manifest still remembers one: the
    /// writer that fenced `epoch`.
    pub fn claim_after(&self, epoch: u64) -> Option<&WriterClaim> {
        self.claims.iter().find(|c| c.epoch > epoch)
    }

    /// The id of the local directory that holds the current epoch (from its claim), if known.
    pub fn writer_id(&self) -> Option<[u8; 16]> {
        self.claims
            .last()
            .filter(|c| c.epoch == self.epoch && c.writer_id != [0; 16])
            .map(|c| c.writer_id)
    }

    /// The fence record of the local directory `writer_id`, if its writer was fenced while it
    /// may have held writes that never reached the bucket.
    pub fn fenced_writer(&self, writer_id: [u8; 16]) -> Option<&FencedWriter> {
        self.fenced.iter().find(|f| f.writer_id == writer_id)
    }

    /// Applies the bookkeeping of a claim of `new_epoch` by `writer_id` to this manifest (the
    /// version being claimed): the outgoing writer gets a fence record unless it is the same
    /// directory or it closed cleanly, the claimant's own record goes (it dealt with its WAL
    /// before claiming), and the claim is appended to the history.
    pub fn record_claim(&mut self, writer_id: [u8; 16], new_epoch: u64, version: u64, now_ms: u64) {
        if let Some(outgoing) = self.writer_id() {
            if outgoing != writer_id && !self.writer_clean {
                self.fenced.retain(|f| f.writer_id != outgoing);
                self.fenced.push(FencedWriter {
                    writer_id: outgoing,
                    epoch: self.epoch,
                    wal_watermark: self.wal_watermark,
                    fenced_by_epoch: new_epoch,
                    fenced_at_ms: now_ms,
                });
            }
        }
        if writer_id != [0; 16] {
            self.fenced.retain(|f| f.writer_id != writer_id);
        }
        self.writer_clean = false;
        self.claims.push(WriterClaim {
            writer_id,
            epoch: new_epoch,
            version,
            wal_watermark: self.wal_watermark,
            claimed_at_ms: now_ms,
        });
        let excess = self.claims.len().saturating_sub(MAX_CLAIMS);
        self.claims.drain(..excess);
    }

    /// The object name of this version.
    pub fn object_name(&self) -> String {
        manifest_object(self.version)
    }

    /// Every chunk: level 0 (newest first), then each run's chunks (runs newest first).
    pub fn all_chunks(&self) -> impl Iterator<Item = &ChunkMeta> {
        self.l0
            .iter()
            .chain(self.runs.iter().flat_map(|run| run.chunks.iter()))
    }

    /// The chunk with this id, if the manifest references it.
    pub fn find_chunk(&self, id: ChunkId) -> Option<&ChunkMeta> {
        self.all_chunks().find(|c| c.id == id)
    }
}

/// Formats a database id as a UUID string (for messages).
pub(crate) fn format_db_id(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(manifest_object(7), "manifest/00000000000000000007");
        assert_eq!(
            parse_manifest_object("manifest/00000000000000000007"),
            Some(7)
        );
        assert_eq!(
            parse_manifest_object(&manifest_object(u64::MAX)),
            Some(u64::MAX)
        );
        for bad in [
            "manifest/7",
            "manifest/0000000000000000000x",
            "manifest/99999999999999999999",
            "manifest/00000000000000000007.tmp",
            "other/00000000000000000007",
        ] {
            assert_eq!(parse_manifest_object(bad), None, "{bad}");
        }

        let id = ChunkId { epoch: 3, id: 42 };
        assert_eq!(
            id.object_name(),
            "chunks/00000000000000000003-00000000000000000042.chunk"
        );
        assert_eq!(id.to_string(), "3-42");
        assert_eq!(ChunkId::parse_object_name(&id.object_name()), Some(id));
        for bad in [
            "chunks/3-42.chunk",
            "chunks/00000000000000000003-00000000000000000042",
            "chunks/00000000000000000003_00000000000000000042.chunk",
            "chunks/+0000000000000000003-00000000000000000042.chunk",
            "manifest/00000000000000000003-00000000000000000042.chunk",
        ] {
            assert_eq!(ChunkId::parse_object_name(bad), None, "{bad}");
        }
    }
}

//! Firn: an embeddable key-value engine whose durable home is an object store.
//!
//! Writes go to a local write-ahead log and an in-memory skiplist
//! (memtable) at disk speed; full memtables are frozen and flushed in the
//! background as immutable sorted chunk files to the object store
//! (`file://` folder, `memory://`, `s3://`, `azblob://`), and a versioned manifest there
//! says which chunks make up the database. Reads consult the memtables, then
//! the chunks newest first: each chunk's bloom filter and block index come
//! from a memory-mapped file in the local directory (fetched once with one
//! ranged GET when missing), and the one data block a read needs comes from
//! the memory cache, the disk cache, or one ranged GET.
//!
//! ```no_run
//! # async fn demo() -> firn::Result<()> {
//! let db = firn::Db::open(firn::Options::embedded("/tmp/firn-demo")?).await?;
//! db.put("hello", "world").await?;
//! assert_eq!(db.get("hello").await?.as_deref(), Some(&b"world"[..]));
//! let mut it = db.scan_prefix("he")?;
//! while let Some((key, value)) = it.next().await? {
//!     println!("{key:?} = {value:?}");
//! }
//! db.close().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod background;
pub mod blocking;
mod changes;
mod checkpoint;
mod clone;
pub mod config;
mod copy;
mod crash_point;
mod db;
mod error;
#[cfg(test)]
mod golden_tests;
mod health;
pub mod inspect;
mod local;
mod memtable;
mod metrics;
mod options;
mod prometheus_export;
mod read;
mod restore;
mod signal;
mod watch;
mod write;

pub use background::collector::GcReport;
pub use background::follower::FollowStatus;
pub use changes::{Change, Subscription};
pub use checkpoint::Checkpoint;
pub use clone::{clone_database, drop_database, CloneReport, DropReport, CLONE_PIN_PREFIX};
pub use copy::{copy_database, CopyProgress, CopyReport};
pub use db::snapshot::Snapshot;
pub use db::Db;
pub use error::{Error, Result};
pub use metrics::{CacheCounts, DurabilityStatus, Metrics, RequestPrices};
pub use options::{
    Durability, Options, ReadOptions, WriteOptions, DEFAULT_MAX_KEY_SIZE, DEFAULT_MAX_VALUE_SIZE,
    WAL_BUFFER_BYTES,
};
pub use prometheus_export::PrometheusCollector;
pub use read::iter::DbIterator;
pub use read::Record;
pub use restore::{restore_database, RestorePoint, RestoreReport};
pub use watch::Watch;
pub use write::batch::{BatchOp, WriteBatch, MAX_BATCH_BYTES, MAX_TTL};
pub use write::ingest::{BulkIngest, IngestPlacement, IngestReport};
pub use write::wal::{read_local_wal, WalBatch};

pub use bytes::Bytes;
pub use firn_compaction::{CompactionConfig, Policy as CompactionPolicy};
pub use firn_manifest::{ChunkId, ChunkMeta, ChunkSource, Manifest};
pub use firn_store::{ObjectStore, RequestCounts};
/// Ordered tuple keys: tuples of nulls, booleans, integers, floats, strings,
/// bytes and nested tuples packed into bytes whose order is the tuple
/// order, for composite keys and prefix scans (`tuple::range`). The
/// encoding is documented in `tuple/FORMAT.md`.
pub use firn_tuple as tuple;
/// The `prometheus` crate [`PrometheusCollector`] implements, re-exported so a service
/// registers it with a registry of the same version.
pub use prometheus;

/// Locks `m`, carrying on after a panic elsewhere poisoned it (every
/// critical section leaves its data consistent at each step).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Entry points for the fuzz targets under `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    /// Checks `data` as a disk cache entry for a few block identities
    /// (including the one its header names, if it has one).
    pub fn decode_disk_cache_entry(data: &[u8]) {
        crate::read::disk_cache::fuzz_check_entry(data);
    }

    /// Replays `data` as the newest and as an older WAL segment, then again
    /// behind a valid segment header, decoding every record as a batch.
    pub fn decode_wal_segment(data: &[u8]) {
        let Ok(dir) = tempfile_dir() else { return };
        let path = crate::write::wal::segment_path(&dir, 1);
        let mut with_header = crate::write::wal::segment_header(1).to_vec();
        with_header.extend_from_slice(data);
        for bytes in [data, &with_header[..]] {
            if std::fs::write(&path, bytes).is_err() {
                return;
            }
            for newest in [true, false] {
                if let Ok(replay) = crate::write::wal::replay_segment(&path, newest) {
                    for record in &replay.records {
                        let _ = crate::write::wal::record::decode_record(record, replay.layout);
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Decodes `data` as a shipped WAL object, then its batches.
    pub fn decode_shipped_wal(data: &[u8]) {
        if let Ok(object) = crate::write::wal::shipped::decode(data, "wal/fuzz") {
            let _ = object.batches("wal/fuzz");
        }
    }

    /// Decodes `data` as a checkpoint object.
    pub fn decode_checkpoint(data: &[u8]) {
        let _ = crate::checkpoint::decode(data, "checkpoints/fuzz");
    }

    fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
        let dir = std::env::temp_dir().join(format!("firn-fuzz-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

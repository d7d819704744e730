//! Counters the engine keeps, and the snapshot of them users read.

use std::sync::atomic::{AtomicU64, Ordering};

use firn_store::RequestCounts;
use serde::Serialize;

/// Live counters (relaxed atomics; read as a [`Metrics`] snapshot).
#[derive(Default)]
pub(crate) struct EngineMetrics {
    pub batches: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub wal_synced_batches: AtomicU64,
    pub wal_sync_nanos: AtomicU64,
    pub wal_background_syncs: AtomicU64,
    pub write_stalls: AtomicU64,
    pub write_stall_nanos: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_bytes: AtomicU64,
    pub flush_entries: AtomicU64,
    pub flush_entries_coalesced: AtomicU64,
    pub ingests: AtomicU64,
    pub ingest_entries: AtomicU64,
    pub ingest_bytes: AtomicU64,
    pub upload_retries: AtomicU64,
    pub gets: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_expired: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub compaction_failures: AtomicU64,
    pub gc_passes: AtomicU64,
    pub gc_chunks_deleted: AtomicU64,
    pub gc_bytes_reclaimed: AtomicU64,
    pub gc_manifests_deleted: AtomicU64,
    pub wal_objects_shipped: AtomicU64,
    pub wal_bytes_shipped: AtomicU64,
    pub wal_objects_replayed: AtomicU64,
}

/// A point-in-time copy of a database's counters.
///
/// `requests` counts object-store requests and bytes: S3 bills per request,
/// so these are a first-class performance figure.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// Object-store requests and bytes since open.
    pub requests: RequestCounts,
    /// Write batches committed.
    pub batches: u64,
    /// Bytes appended to the WAL.
    pub wal_bytes: u64,
    /// `fdatasync` calls on the commit path (groups with a `Sync` write).
    pub wal_syncs: u64,
    /// Periodic and close-time syncs of `Buffered` writes (not timed, not
    /// part of the mean sync latency).
    pub wal_background_syncs: u64,
    /// Batches acknowledged by a sync (batches per sync = group commit width).
    pub wal_synced_batches: u64,
    /// Total time spent in WAL syncs that acknowledged writes, in microseconds.
    pub wal_sync_micros: u64,
    /// Times a writer waited for flushes to catch up (backpressure).
    pub write_stalls: u64,
    /// Total time writers waited, in microseconds.
    pub write_stall_micros: u64,
    /// Memtables flushed to chunks.
    pub flushes: u64,
    /// Bytes of chunks written by flushes.
    pub flush_bytes: u64,
    /// Entries written by flushes.
    pub flush_entries: u64,
    /// Versions flushes left out: overwritten before the flush, and seen by
    /// no snapshot or iterator (write coalescing).
    pub flush_entries_coalesced: u64,
    /// Bulk ingests published (`Db::bulk_ingest`).
    pub ingests: u64,
    /// Entries they published.
    pub ingest_entries: u64,
    /// Bytes of the chunks they wrote.
    pub ingest_bytes: u64,
    /// Failed uploads or publishes that were retried.
    pub upload_retries: u64,
    /// Point reads served.
    pub gets: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Expired values (TTL) compactions turned into tombstones or dropped.
    pub compaction_expired: u64,
    /// Bytes of input chunks merged by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes of chunks written by compactions. Write amplification is
    /// `(flush_bytes + compaction_bytes_written) / flush_bytes`.
    pub compaction_bytes_written: u64,
    /// Compactions that failed (and were retried later).
    pub compaction_failures: u64,
    /// Garbage-collection passes run.
    pub gc_passes: u64,
    /// Chunk objects deleted by GC.
    pub gc_chunks_deleted: u64,
    /// Bytes reclaimed by GC.
    pub gc_bytes_reclaimed: u64,
    /// Superseded manifest versions deleted by GC.
    pub gc_manifests_deleted: u64,
    /// Shipped WAL objects uploaded (`wal/`).
    pub wal_objects_shipped: u64,
    /// Bytes of those objects (compressed, as stored).
    pub wal_bytes_shipped: u64,
    /// Shipped WAL objects read back at open (a takeover, or a reader).
    pub wal_objects_replayed: u64,
    /// Decoded-block cache hits.
    pub block_cache_hits: u64,
    /// Decoded-block cache misses.
    pub block_cache_misses: u64,
    /// Bytes held by the block cache.
    pub block_cache_bytes: u64,
    /// The read path per tier: memory, local disk, object store.
    pub cache: CacheCounts,
    /// Bytes held by memtables (active and frozen).
    pub memtable_bytes: u64,
    /// Frozen memtables awaiting flush.
    pub frozen_memtables: u64,
    /// Chunks in L0.
    pub l0_chunks: u64,
    /// Chunks in all sorted runs.
    pub run_chunks: u64,
    /// Highest sequence number visible to reads.
    pub visible_seq: u64,
    /// The manifest version this handle reads from.
    pub manifest_version: u64,
    /// Chunks the manifest references (level 0 and runs).
    pub chunks: u64,
    /// Their bytes: the database's data in the bucket, without the shipped
    /// WAL and the objects awaiting garbage collection.
    pub chunk_bytes: u64,
    /// Sorted runs a read may consult: each level-0 chunk counts as one,
    /// each run as one.
    pub sorted_runs: u64,
    /// Compaction debt: bytes of the chunks the compaction planner would
    /// merge next (its current plan's input), 0 when compaction has settled.
    pub compaction_pending_bytes: u64,
    /// Estimated cost of `requests` in US dollars, from
    /// [`Options::request_prices`](crate::Options::request_prices) (S3
    /// Standard's list prices by default). Requests only: storage and data
    /// transfer are not included.
    pub request_cost_usd: f64,
}

/// What an object store charges per request, in US dollars per 1,000
/// requests of each kind: the price table behind
/// [`Metrics::request_cost_usd`].
///
/// The default is Amazon S3 Standard's list price (us-east-1): PUT, COPY,
/// POST and LIST at $0.005 per 1,000, GET and every other request (HEAD
/// among them) at $0.0004 per 1,000, DELETE free. Set your own for another
/// region, storage class or provider.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RequestPrices {
    /// Dollars per 1,000 GET requests.
    pub get_per_1000: f64,
    /// Dollars per 1,000 PUT requests (multipart starts and completions too).
    pub put_per_1000: f64,
    /// Dollars per 1,000 LIST requests.
    pub list_per_1000: f64,
    /// Dollars per 1,000 DELETE requests.
    pub delete_per_1000: f64,
    /// Dollars per 1,000 HEAD requests.
    pub head_per_1000: f64,
}

impl Default for RequestPrices {
    fn default() -> RequestPrices {
        RequestPrices::S3_STANDARD
    }
}

impl RequestPrices {
    /// Amazon S3 Standard's list prices (us-east-1).
    pub const S3_STANDARD: RequestPrices = RequestPrices {
        get_per_1000: 0.0004,
        put_per_1000: 0.005,
        list_per_1000: 0.005,
        delete_per_1000: 0.0,
        head_per_1000: 0.0004,
    };

    /// No charge for any request (a local folder, an in-memory store).
    pub const FREE: RequestPrices = RequestPrices {
        get_per_1000: 0.0,
        put_per_1000: 0.0,
        list_per_1000: 0.0,
        delete_per_1000: 0.0,
        head_per_1000: 0.0,
    };

    /// The estimated cost of `requests`, in US dollars.
    pub fn cost(&self, requests: &RequestCounts) -> f64 {
        let per = |count: u64, price: f64| count as f64 * price / 1000.0;
        per(requests.get, self.get_per_1000)
            + per(requests.put, self.put_per_1000)
            + per(requests.list, self.list_per_1000)
            + per(requests.delete, self.delete_per_1000)
            + per(requests.head, self.head_per_1000)
    }

    /// Checks that every price is a finite, non-negative number.
    pub fn validate(&self) -> Result<(), String> {
        for (name, price) in [
            ("get_per_1000", self.get_per_1000),
            ("put_per_1000", self.put_per_1000),
            ("list_per_1000", self.list_per_1000),
            ("delete_per_1000", self.delete_per_1000),
            ("head_per_1000", self.head_per_1000),
        ] {
            if !price.is_finite() || price < 0.0 {
                return Err(format!(
                    "request price {name} = {price} is not a non-negative number of dollars"
                ));
            }
        }
        Ok(())
    }
}

/// What the read path found in each tier, and what it had to fetch.
///
/// Printed by `--print-requests` as one `cache:` line (see [`std::fmt::Display`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounts {
    /// Blocks found decoded in memory (tier 1).
    pub memory_hits: u64,
    /// Blocks not in memory.
    pub memory_misses: u64,
    /// Bytes the memory tier holds.
    pub memory_bytes: u64,
    /// Raw blocks found in the local disk cache (tier 2).
    pub disk_hits: u64,
    /// Blocks in neither tier, fetched from the object store.
    pub disk_misses: u64,
    /// Bytes the disk tier holds.
    pub disk_bytes: u64,
    /// Ranged GETs of data blocks (one may cover several adjacent blocks).
    pub block_gets: u64,
    /// Bytes those GETs returned.
    pub block_get_bytes: u64,
    /// Chunk indexes mapped from local index files.
    pub index_local: u64,
    /// Chunk indexes fetched with a ranged GET (then kept locally).
    pub index_gets: u64,
    /// Bytes those GETs returned.
    pub index_get_bytes: u64,
    /// Local index files and disk cache entries found damaged or stale,
    /// discarded and fetched again.
    pub discarded: u64,
}

impl std::fmt::Display for CacheCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory_hits={} memory_misses={} disk_hits={} disk_misses={} block_gets={} \
             block_bytes={} index_local={} index_gets={} index_bytes={} discarded={}",
            self.memory_hits,
            self.memory_misses,
            self.disk_hits,
            self.disk_misses,
            self.block_gets,
            self.block_get_bytes,
            self.index_local,
            self.index_gets,
            self.index_get_bytes,
            self.discarded
        )
    }
}

impl EngineMetrics {
    pub(crate) fn fill(&self, m: &mut Metrics) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        m.batches = get(&self.batches);
        m.wal_bytes = get(&self.wal_bytes);
        m.wal_syncs = get(&self.wal_syncs);
        m.wal_background_syncs = get(&self.wal_background_syncs);
        m.wal_synced_batches = get(&self.wal_synced_batches);
        m.wal_sync_micros = get(&self.wal_sync_nanos) / 1000;
        m.write_stalls = get(&self.write_stalls);
        m.write_stall_micros = get(&self.write_stall_nanos) / 1000;
        m.flushes = get(&self.flushes);
        m.flush_bytes = get(&self.flush_bytes);
        m.flush_entries = get(&self.flush_entries);
        m.flush_entries_coalesced = get(&self.flush_entries_coalesced);
        m.ingests = get(&self.ingests);
        m.ingest_entries = get(&self.ingest_entries);
        m.ingest_bytes = get(&self.ingest_bytes);
        m.upload_retries = get(&self.upload_retries);
        m.gets = get(&self.gets);
        m.compactions = get(&self.compactions);
        m.compaction_expired = get(&self.compaction_expired);
        m.compaction_bytes_read = get(&self.compaction_bytes_read);
        m.compaction_bytes_written = get(&self.compaction_bytes_written);
        m.compaction_failures = get(&self.compaction_failures);
        m.gc_passes = get(&self.gc_passes);
        m.gc_chunks_deleted = get(&self.gc_chunks_deleted);
        m.gc_bytes_reclaimed = get(&self.gc_bytes_reclaimed);
        m.gc_manifests_deleted = get(&self.gc_manifests_deleted);
        m.wal_objects_shipped = get(&self.wal_objects_shipped);
        m.wal_bytes_shipped = get(&self.wal_bytes_shipped);
        m.wal_objects_replayed = get(&self.wal_objects_replayed);
    }
}

/// How far acknowledged writes have got: visible to reads, synced on the
/// local disk, and in the bucket (a shipped WAL object or a flushed chunk).
/// See [`Db::durability_status`](crate::Db::durability_status).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DurabilityStatus {
    /// The newest sequence number reads see.
    pub visible_seq: u64,
    /// Every write through this one survives a power loss of this machine.
    pub local_synced_seq: u64,
    /// Every write through this one is in the bucket: it survives the loss
    /// of this machine, and a writer or reader elsewhere sees it.
    pub bucket_durable_seq: u64,
    /// How long ago the oldest write not yet in the bucket was acknowledged
    /// (milliseconds); `None` when every write is there, or when nothing
    /// tracks it (WAL shipping off, a read-only handle).
    pub oldest_unshipped_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_standard_prices_a_million_gets_at_forty_cents() {
        let requests = RequestCounts {
            get: 1_000_000,
            put: 2_000,
            list: 1_000,
            delete: 5_000,
            head: 1_000,
            ..RequestCounts::default()
        };
        let cost = RequestPrices::default().cost(&requests);
        // 0.40 (GET) + 0.01 (PUT) + 0.005 (LIST) + 0 (DELETE) + 0.0004 (HEAD).
        assert!((cost - 0.4154).abs() < 1e-9, "{cost}");
        assert_eq!(RequestPrices::FREE.cost(&requests), 0.0);
    }

    #[test]
    fn negative_or_nan_prices_are_refused_by_name() {
        let mut prices = RequestPrices::default();
        assert!(prices.validate().is_ok());
        prices.list_per_1000 = -1.0;
        let err = prices.validate().unwrap_err();
        assert!(err.contains("list_per_1000"), "{err}");
        prices.list_per_1000 = f64::NAN;
        assert!(prices.validate().is_err());
    }
}

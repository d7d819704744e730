//! Configuration of a [`Db`](crate::Db).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// How durable an acknowledged write is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// The write is in the WAL and `fdatasync`ed before it is acknowledged;
    /// concurrent writers share one write and one sync (group commit). Survives
    /// a crash and a power loss.
    Sync,
    /// The write is handed to the OS before it is acknowledged and synced
    /// periodically (see [`Options::wal_sync_interval`]). Survives a process
    /// crash; a power loss may lose the last interval.
    #[default]
    Buffered,
    /// The write is acknowledged once the shipped WAL object holding it is
    /// in the bucket (see [`Options::wal_shipping`]): it survives the loss
    /// of this machine, and a writer on another machine sees it. Concurrent
    /// `Remote` writers share one PUT. Waits at most for one PUT round trip
    /// when nothing else is being shipped.
    Remote,
    /// The write is in this process's WAL buffer when it is acknowledged
    /// (visible at once, like every write). The buffer goes to the OS when
    /// it holds [`WAL_BUFFER_BYTES`], at the periodic WAL sync (see
    /// [`Options::wal_sync_interval`]), with the next write of any other
    /// durability, a flush, or `close`. A process crash may lose the writes
    /// still in the buffer — always the newest ones: never a write without
    /// every write before it. No `write(2)` per commit: the mode of
    /// RocksDB's `manual_wal_flush` and of fjall's default journal buffer.
    Deferred,
}

/// Bytes of [`Durability::Deferred`] writes a writer keeps before handing
/// them to the OS.
pub const WAL_BUFFER_BYTES: usize = 64 << 10;

impl std::str::FromStr for Durability {
    type Err = Error;
    fn from_str(s: &str) -> Result<Durability> {
        match s {
            "sync" => Ok(Durability::Sync),
            "buffered" => Ok(Durability::Buffered),
            "remote" => Ok(Durability::Remote),
            "deferred" => Ok(Durability::Deferred),
            other => Err(Error::InvalidArgument(format!(
                "unknown durability {other:?}: expected \"buffered\", \"sync\", \"remote\" \
                 or \"deferred\""
            ))),
        }
    }
}

/// Options for one write call.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// Overrides [`Options::durability`] for this write when set.
    pub durability: Option<Durability>,
}

/// Options for one read.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// See only writes that are in the bucket (`bucket_durable_seq`, see
    /// [`Db::durability_status`](crate::Db::durability_status)): a service
    /// acting on what it reads then never acts on a write that losing this
    /// machine could undo. Off by default: reads see every acknowledged write.
    pub bucket_durable_only: bool,
}

/// Everything [`Db::open`](crate::Db::open) needs.
///
/// A database is named by an object-store URL plus a local directory:
/// `file:///path` (the embedded default: an ordinary folder acting as the
/// bucket), `s3://bucket/prefix`, `azblob://container/prefix` (Azure Blob
/// Storage; see `firn_store::StoreOptions` for where their settings come
/// from) or `memory://NAME` (tests; shared within the process). The local
/// directory holds the WAL and is disposable except for the unflushed WAL tail.
#[derive(Clone, Debug)]
pub struct Options {
    /// Object-store URL of the database.
    pub url: String,
    /// Local directory: the WAL, the local index of every chunk (`index/`)
    /// and the disk block cache (`cache/`). Only the unflushed WAL tail
    /// matters for durability; the rest is rebuilt from the object store.
    pub local_dir: PathBuf,
    /// Open without the writer lock: no epoch bump, nothing written to the
    /// bucket. A read-only handle stays current by itself: every
    /// [`Options::refresh_interval`] (and on [`Db::refresh`](crate::Db::refresh))
    /// it applies new shipped WAL and follows the manifest.
    pub read_only: bool,
    /// Open as a *follower*: a read-only handle that polls the bucket every
    /// [`Options::follow_interval`] for the writer's shipped WAL (one GET of
    /// the next object's name; no LIST) and serves reads at the sequence
    /// number it has reached. Lag is bounded by the writer's
    /// `wal_ship_interval` plus `follow_interval`. Implies `read_only`. A
    /// follower keeps its own `local_dir`: it takes the directory's lock
    /// (one process at a time) and writes its local index and disk cache
    /// there, so a restarted follower reads from local disk.
    pub follow: bool,
    /// Let a read-only handle (not a checkpoint) keep its local state in
    /// `local_dir`: when no other process holds the directory's lock, it
    /// takes it and writes the local index (`index/`), the disk block cache
    /// (`cache/`), `IDENTITY` and a copy of the newest manifest version
    /// (`MANIFEST`) there, so the next read-only open of the same directory
    /// reads from local disk (a repeated cold read costs no GET). It never
    /// writes the bucket or the WAL. When a writer or follower holds the
    /// lock, the handle uses the directory without writing. A writer that
    /// finds the lock taken by such a reader waits up to 10 s for it. Off by
    /// default (a read-only handle writes nothing); the `firn` command line
    /// turns it on for its read commands.
    pub reader_local_state: bool,
    /// How often a follower probes for new shipped WAL. 1 s by default.
    pub follow_interval: Duration,
    /// How often a read-only handle follows the manifest to its newest
    /// version (a follower: at least this often, and whenever it found new
    /// shipped WAL). Keep it well below the writer's `gc_grace`, so the
    /// chunks a reader uses are never collected under it. 30 s by default.
    pub refresh_interval: Duration,
    /// Default durability of writes.
    pub durability: Durability,
    /// How often buffered WAL writes are synced in the background.
    pub wal_sync_interval: Duration,
    /// Ship the WAL to the bucket (`wal/` objects), so every acknowledged
    /// write reaches the bucket within [`Options::wal_ship_interval`] and a
    /// writer on another machine can take over with it. On by default; an
    /// idle database ships nothing. Required by [`Durability::Remote`].
    pub wal_shipping: bool,
    /// Ship once the oldest write not yet in the bucket is this old.
    pub wal_ship_interval: Duration,
    /// Ship at once when the writes awaiting shipping make a shipped object
    /// of about this many bytes (compressed, as stored in the bucket: WAL
    /// bytes times the compression ratio of the last object shipped).
    pub wal_ship_bytes: u64,
    /// Keep shipped WAL objects at least this long after their writes are
    /// all in chunks (GC deletes them after `max(gc_grace, wal_retention)`),
    /// e.g. for point-in-time restore. Zero by default.
    pub wal_retention: Duration,
    /// Flush the active memtable once its writes went to the bucket in this
    /// many shipped WAL objects (frequent small `Remote` writes ship one
    /// object each): a writer taking over replays at most about this many
    /// objects per unflushed memtable. 512 by default.
    pub max_unflushed_wal_objects: u64,
    /// A memtable is frozen and flushed once it holds this many bytes.
    pub memtable_size: usize,
    /// A TTL given to every put that names none (`None`, the default:
    /// values live until overwritten or deleted). Puts with their own TTL
    /// ([`WriteBatch::put_with_ttl`](crate::WriteBatch::put_with_ttl))
    /// keep it. Expired values read as absent at once and are dropped by
    /// compaction; expiry is judged by this machine's clock.
    pub default_ttl: Option<Duration>,
    /// Bytes of the newest committed batches kept in memory for change-feed
    /// subscribers ([`Db::subscribe`](crate::Db::subscribe)) while any
    /// subscribe: one buffer shared by all. A subscriber further behind
    /// reads the shipped WAL instead. 16 MiB by default.
    pub change_buffer_bytes: usize,
    /// How far back reads at an older seq ([`Db::get_at`](crate::Db::get_at),
    /// [`Db::snapshot_at`](crate::Db::snapshot_at)) stay possible: flush and
    /// compaction keep every version a read at a seq committed within this
    /// window (and since the open) can see. 0 (the default) keeps only what
    /// live snapshots and the newest state need; reads at a seq then work
    /// from the last flush or compaction on. More history keeps more
    /// overwritten and deleted versions in chunks.
    pub read_history: Duration,
    /// Writers wait (backpressure) while this many frozen memtables await
    /// upload; memory is bounded by `memtable_size * (max_frozen_memtables + 1)`.
    pub max_frozen_memtables: usize,
    /// Target size of a data block before compression.
    pub block_size: usize,
    /// zstd level for data blocks.
    pub compression_level: i32,
    /// Bloom filter bits per key.
    pub bloom_bits_per_key: u32,
    /// Byte budget of the in-memory cache of decoded blocks (tier 1).
    pub block_cache_bytes: usize,
    /// Byte budget of the on-disk cache of raw blocks in
    /// `<local_dir>/cache` (tier 2); 0 turns it off. Survives restarts.
    pub disk_cache_bytes: u64,
    /// Put the blocks of every chunk a flush writes into the disk cache (in
    /// the background), so recently written data reads from local disk, not
    /// the bucket. Costs a second local write of each flushed chunk, and a
    /// heavy load churns the disk cache. Off by default.
    pub cache_flushed_blocks: bool,
    /// Load every chunk's index at open (in parallel) instead of on the
    /// first read that needs it. Indexes already in `<local_dir>/index`
    /// cost no request either way.
    pub preload_indexes: bool,
    /// Read-ahead of one scan, in bytes, shared by the chunk lists it
    /// merges (each L0 chunk, each sorted run). A list's first read fetches
    /// one block; later reads fetch adjacent blocks in windows doubling up
    /// to its share (at least 64 KiB), the next window fetched while the
    /// current one is consumed: at most two windows per list in memory.
    pub scan_readahead: u64,
    /// Largest accepted key, in bytes.
    pub max_key_size: usize,
    /// Largest accepted value, in bytes.
    pub max_value_size: usize,
    /// `close()` flushes memtables to the object store (the default), so a
    /// short-lived process leaves its writes in the bucket.
    pub flush_on_close: bool,
    /// How long `close()` may spend flushing before it gives up (keeping the WAL).
    pub close_timeout: Duration,
    /// First retry delay for failed uploads; doubles up to `max_retry_delay`.
    pub retry_delay: Duration,
    /// Upper bound of the upload retry delay.
    pub max_retry_delay: Duration,
    /// The compaction planner's settings (policy, level-0 trigger, fanout,
    /// output chunk size). `compaction.auto_compaction = false` turns
    /// background compaction off; [`Db::compact`](crate::Db::compact) still works.
    pub compaction: firn_compaction::CompactionConfig,
    /// Compactions that may run at once in the background.
    pub max_concurrent_compactions: usize,
    /// Writers wait while level 0 holds this many chunks (compaction is
    /// behind); ignored when background compaction is off.
    pub l0_stop_writes: usize,
    /// How long a chunk or manifest version that dropped out of the database
    /// is kept before garbage collection deletes it. Readers in other
    /// processes must refresh their manifest well within this.
    pub gc_grace: Duration,
    /// Least time between two background GC passes (a pass runs at open and
    /// after manifest changes; an idle database makes no requests).
    pub gc_interval: Duration,
    /// Open the named checkpoint instead of the latest state: read-only, the
    /// database exactly as it was when the checkpoint was created.
    pub checkpoint: Option<String>,
    /// Object-store settings: S3 endpoint, region, credentials (by default
    /// from the usual `AWS_*` variables), timeouts, retries, multipart sizes,
    /// and `allow_unconditional_writes` — the unfenced single-writer mode for
    /// servers that ignore `If-None-Match` (see the README before using it).
    pub store: firn_store::StoreOptions,
    /// The price table behind [`Metrics::request_cost_usd`](crate::Metrics::request_cost_usd)
    /// and `firn_object_store_request_cost_usd_total` (S3 Standard's list
    /// prices by default).
    pub request_prices: crate::metrics::RequestPrices,
    /// Use this object store instead of building one from `url` (custom
    /// OpenDAL layers: fault injection, tracing, throttling). `url` still
    /// names the database in messages.
    pub object_store: Option<firn_store::ObjectStore>,
}

/// Default key limit: 64 KiB.
pub const DEFAULT_MAX_KEY_SIZE: usize = 64 << 10;
/// Default value limit: 64 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 64 << 20;

impl Options {
    /// Options for a database at `url` with local state in `local_dir`.
    pub fn new(url: impl Into<String>, local_dir: impl Into<PathBuf>) -> Options {
        let chunk = firn_chunk::ChunkOptions::default();
        Options {
            url: url.into(),
            local_dir: local_dir.into(),
            read_only: false,
            follow: false,
            reader_local_state: false,
            follow_interval: Duration::from_secs(1),
            refresh_interval: Duration::from_secs(30),
            durability: Durability::Buffered,
            wal_sync_interval: Duration::from_millis(100),
            wal_shipping: true,
            wal_ship_interval: Duration::from_secs(1),
            wal_ship_bytes: 8 << 20,
            wal_retention: Duration::ZERO,
            max_unflushed_wal_objects: 512,
            memtable_size: 64 << 20,
            change_buffer_bytes: 16 << 20,
            read_history: Duration::ZERO,
            default_ttl: None,
            max_frozen_memtables: 4,
            block_size: chunk.block_size,
            compression_level: chunk.compression_level,
            bloom_bits_per_key: chunk.bloom_bits_per_key,
            block_cache_bytes: 256 << 20,
            disk_cache_bytes: 1 << 30,
            cache_flushed_blocks: false,
            preload_indexes: false,
            scan_readahead: 2 << 20,
            max_key_size: DEFAULT_MAX_KEY_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            flush_on_close: true,
            close_timeout: Duration::from_secs(60),
            retry_delay: Duration::from_millis(50),
            max_retry_delay: Duration::from_secs(5),
            compaction: firn_compaction::CompactionConfig::default(),
            max_concurrent_compactions: 1,
            l0_stop_writes: 36,
            gc_grace: Duration::from_secs(600),
            gc_interval: Duration::from_secs(30),
            checkpoint: None,
            store: firn_store::StoreOptions::default(),
            request_prices: crate::metrics::RequestPrices::default(),
            object_store: None,
        }
    }

    /// The embedded default: a plain folder `path`, with the objects in
    /// `path/objects` (served through `file://`) and local state in `path/local`.
    pub fn embedded(path: impl AsRef<Path>) -> Result<Options> {
        let path = path.as_ref();
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io(path, e))?
                .join(path)
        };
        let abs: PathBuf = abs
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        let objects = abs.join("objects");
        let url = format!("file://{}", objects.display());
        Ok(Options::new(url, abs.join("local")))
    }

    /// Builder-style: open read-only.
    pub fn read_only(mut self, yes: bool) -> Options {
        self.read_only = yes;
        self
    }

    /// Builder-style: default durability.
    pub fn durability(mut self, d: Durability) -> Options {
        self.durability = d;
        self
    }

    /// Builder-style: memtable size.
    pub fn memtable_size(mut self, bytes: usize) -> Options {
        self.memtable_size = bytes;
        self
    }

    pub(crate) fn chunk_options(&self) -> firn_chunk::ChunkOptions {
        firn_chunk::ChunkOptions {
            block_size: self.block_size,
            compression_level: self.compression_level,
            bloom_bits_per_key: self.bloom_bits_per_key,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidArgument(what.to_string()));
        if self.memtable_size < 4096 {
            return bad("memtable_size must be at least 4096 bytes");
        }
        if self.max_frozen_memtables == 0 {
            return bad("max_frozen_memtables must be at least 1");
        }
        if self.block_size < 256 || self.block_size > (16 << 20) {
            return bad("block_size must be between 256 bytes and 16 MiB");
        }
        if self.max_key_size == 0 || self.max_key_size > (1 << 20) {
            return bad("max_key_size must be between 1 byte and 1 MiB");
        }
        if self.max_value_size > (1 << 30) {
            return bad("max_value_size must be at most 1 GiB");
        }
        if let Err(e) = self.compaction.validate() {
            return Err(Error::InvalidArgument(e.to_string()));
        }
        if let Err(e) = self.request_prices.validate() {
            return Err(Error::InvalidArgument(e));
        }
        if let Some(ttl) = self.default_ttl {
            if ttl.as_millis() == 0 || ttl > crate::write::batch::MAX_TTL {
                return bad("default_ttl must be between 1 ms and 100 years");
            }
        }
        if self.max_concurrent_compactions == 0 {
            return bad("max_concurrent_compactions must be at least 1");
        }
        if self.l0_stop_writes <= self.compaction.l0_trigger {
            return bad("l0_stop_writes must be larger than compaction.l0_trigger");
        }
        if self.wal_shipping && (self.wal_ship_bytes < 4096 || self.wal_ship_bytes > (256 << 20)) {
            return bad("wal_ship_bytes must be between 4 KiB and 256 MiB");
        }
        if self.follow_interval.is_zero() || self.refresh_interval.is_zero() {
            return bad("follow_interval and refresh_interval must be above zero");
        }
        if self.follow && self.checkpoint.is_some() {
            return bad("a checkpoint is a fixed point: it cannot be followed (unset follow)");
        }
        if self.max_unflushed_wal_objects == 0 {
            return bad("max_unflushed_wal_objects must be at least 1");
        }
        if self.wal_shipping && self.wal_ship_interval.is_zero() {
            return bad("wal_ship_interval must be above zero");
        }
        if !self.wal_shipping && self.durability == Durability::Remote {
            return bad("durability Remote needs wal_shipping on");
        }
        if self.local_dir.as_os_str().is_empty() {
            return bad("local_dir must be set");
        }
        Ok(())
    }
}

//! The engines under test, opened with comparable settings, behind one enum.
//!
//! Every local engine gets a 256 MiB block cache and a 64 MiB write buffer
//! (memtable), a write-ahead log that is written on every put but synced
//! only when the put asks for it, and zstd where the engine has it:
//!
//! - Firn: `Options::embedded(dir)` (`dir/objects` is the bucket, `dir/local`
//!   the WAL and caches), `memtable_size` 64 MiB, `block_cache_bytes`
//!   256 MiB, `Durability::Buffered` (or `Sync`), other options at their
//!   defaults (WAL shipping on, 1 GiB disk cache, zstd blocks).
//! - RocksDB: `write_buffer_size` 64 MiB, an LRU block cache of 256 MiB,
//!   a 10-bit bloom filter, zstd for every level; WAL on,
//!   `WriteOptions::set_sync(false)` (or `true`).
//! - fjall: `cache_size` 256 MiB, `max_memtable_size` 64 MiB, its default
//!   lz4 compression (fjall 3 has no zstd); each insert writes the journal to
//!   the OS (`PersistMode::Buffer`), a sync write is a batch committed with
//!   `PersistMode::SyncData`.
//! - SlateDB (optional locally, over `object_store::local::LocalFileSystem`):
//!   64 MiB L0 SSTs, zstd, its default in-memory cache; a sync write awaits
//!   durability (the WAL object written).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;

/// Block cache of every local engine.
pub const BLOCK_CACHE: usize = 256 << 20;
/// Write buffer (memtable) of every local engine.
pub const WRITE_BUFFER: usize = 64 << 20;

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Firn,
    /// Firn with `Durability::Deferred` writes (no write(2) per commit; a
    /// crash may lose the newest writes).
    FirnDeferred,
    RocksDb,
    Fjall,
    SlateDb,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Firn => "firn",
            Kind::FirnDeferred => "firn-deferred",
            Kind::RocksDb => "rocksdb",
            Kind::Fjall => "fjall",
            Kind::SlateDb => "slatedb",
        }
    }

    pub fn parse(s: &str) -> Result<Kind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "firn" => Ok(Kind::Firn),
            "firn-deferred" => Ok(Kind::FirnDeferred),
            "rocksdb" | "rocks" => Ok(Kind::RocksDb),
            "fjall" => Ok(Kind::Fjall),
            "slatedb" | "slate" => Ok(Kind::SlateDb),
            other => bail!(
                "unknown engine {other:?}; known: firn, firn-deferred, rocksdb, fjall, slatedb"
            ),
        }
    }
}

/// RocksDB's database and the options it was opened with (their statistics
/// hold the WAL-sync count).
pub struct RocksDb {
    db: rocksdb::DB,
    opts: rocksdb::Options,
}

/// fjall's database and the one keyspace the benchmark uses.
pub struct FjallDb {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

/// An open database of one engine (cheap to clone: handles are shared).
#[derive(Clone)]
pub enum Engine {
    Firn(firn::Db),
    FirnDeferred(firn::Db),
    Rocks(Arc<RocksDb>),
    Fjall(Arc<FjallDb>),
    Slate(Arc<slatedb::Db>),
}

/// Opens a fresh local database of `kind` in `dir` (which must not exist
/// or be empty); `sync` makes every write durable before it returns.
pub async fn open_local(kind: Kind, dir: &Path, sync: bool) -> Result<Engine> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match kind {
        Kind::Firn | Kind::FirnDeferred => {
            let mut opts = firn::Options::embedded(dir)
                .map_err(|e| anyhow!("firn options for {}: {e}", dir.display()))?
                .durability(if sync {
                    firn::Durability::Sync
                } else if kind == Kind::FirnDeferred {
                    firn::Durability::Deferred
                } else {
                    firn::Durability::Buffered
                });
            opts.memtable_size = WRITE_BUFFER;
            opts.block_cache_bytes = BLOCK_CACHE;
            // The database is thrown away after the workload.
            opts.flush_on_close = false;
            let db = firn::Db::open(opts)
                .await
                .map_err(|e| anyhow!("opening firn at {}: {e}", dir.display()))?;
            Ok(if kind == Kind::FirnDeferred {
                Engine::FirnDeferred(db)
            } else {
                Engine::Firn(db)
            })
        }
        Kind::RocksDb => {
            let mut opts = rocksdb::Options::default();
            opts.create_if_missing(true);
            opts.set_write_buffer_size(WRITE_BUFFER);
            opts.set_compression_type(rocksdb::DBCompressionType::Zstd);
            opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
            if sync {
                // Only for the WAL-sync count of fillsync.
                opts.enable_statistics();
            }
            let mut table = rocksdb::BlockBasedOptions::default();
            let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE);
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            opts.set_block_based_table_factory(&table);
            let db = rocksdb::DB::open(&opts, dir)
                .with_context(|| format!("opening rocksdb at {}", dir.display()))?;
            Ok(Engine::Rocks(Arc::new(RocksDb { db, opts })))
        }
        Kind::Fjall => {
            let db = fjall::Database::builder(dir)
                .cache_size(BLOCK_CACHE as u64)
                .open()
                .with_context(|| format!("opening fjall at {}", dir.display()))?;
            let ks = db
                .keyspace("bench", || {
                    fjall::KeyspaceCreateOptions::default().max_memtable_size(WRITE_BUFFER as u64)
                })
                .context("creating the fjall keyspace")?;
            Ok(Engine::Fjall(Arc::new(FjallDb { db, ks })))
        }
        Kind::SlateDb => {
            let store: Arc<dyn object_store::ObjectStore> = Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .with_context(|| format!("LocalFileSystem at {}", dir.display()))?,
            );
            let db = open_slatedb("db", store).await?;
            Ok(Engine::Slate(Arc::new(db)))
        }
    }
}

/// SlateDB's settings used everywhere: its defaults, with 64 MiB L0 SSTs
/// (the default, said again) and zstd.
pub fn slatedb_settings() -> slatedb::Settings {
    slatedb::Settings {
        l0_sst_size_bytes: WRITE_BUFFER,
        compression_codec: Some(slatedb::config::CompressionCodec::Zstd),
        ..slatedb::Settings::default()
    }
}

/// Opens (or creates) the SlateDB database at `path` in `store`, with a
/// fresh (empty) in-memory cache.
pub async fn open_slatedb(
    path: &str,
    store: Arc<dyn object_store::ObjectStore>,
) -> Result<slatedb::Db> {
    slatedb::Db::builder(path.to_string(), store)
        .with_settings(slatedb_settings())
        .build()
        .await
        .map_err(|e| anyhow!("opening slatedb at {path}: {e}"))
}

impl Engine {
    pub fn kind(&self) -> Kind {
        match self {
            Engine::Firn(_) => Kind::Firn,
            Engine::FirnDeferred(_) => Kind::FirnDeferred,
            Engine::Rocks(_) => Kind::RocksDb,
            Engine::Fjall(_) => Kind::Fjall,
            Engine::Slate(_) => Kind::SlateDb,
        }
    }

    /// True for the engines driven from async tasks (Firn, SlateDB); the
    /// others are driven from OS threads.
    pub fn is_async(&self) -> bool {
        matches!(
            self,
            Engine::Firn(_) | Engine::FirnDeferred(_) | Engine::Slate(_)
        )
    }

    /// One put from an async client (Firn, SlateDB).
    pub async fn put_async(&self, key: Bytes, value: Bytes, sync: bool) -> Result<()> {
        match self {
            Engine::Firn(db) | Engine::FirnDeferred(db) => db
                .put(key, value)
                .await
                .map_err(|e| anyhow!("firn put: {e}")),
            Engine::Slate(db) => {
                let handle = db
                    .put_bytes(key, value)
                    .await
                    .map_err(|e| anyhow!("slatedb put: {e}"))?;
                if sync {
                    handle
                        .await_durable()
                        .await
                        .map_err(|e| anyhow!("slatedb await_durable: {e}"))?;
                }
                Ok(())
            }
            _ => self.put_blocking(&key, &value, sync),
        }
    }

    /// One put from a thread (RocksDB, fjall).
    pub fn put_blocking(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        match self {
            Engine::Rocks(r) => {
                let mut wo = rocksdb::WriteOptions::default();
                wo.set_sync(sync);
                r.db.put_opt(key, value, &wo).context("rocksdb put")
            }
            Engine::Fjall(f) => {
                if sync {
                    let mut batch = f.db.batch().durability(Some(fjall::PersistMode::SyncData));
                    batch.insert(&f.ks, key, value);
                    batch.commit().context("fjall sync commit")
                } else {
                    f.ks.insert(key, value).context("fjall insert")
                }
            }
            _ => bail!("{} is driven asynchronously", self.kind().name()),
        }
    }

    /// One get from an async client.
    pub async fn get_async(&self, key: &[u8]) -> Result<Option<Bytes>> {
        match self {
            Engine::Firn(db) | Engine::FirnDeferred(db) => {
                db.get(key).await.map_err(|e| anyhow!("firn get: {e}"))
            }
            Engine::Slate(db) => db.get(key).await.map_err(|e| anyhow!("slatedb get: {e}")),
            _ => self.get_blocking(key),
        }
    }

    /// One get from a thread.
    pub fn get_blocking(&self, key: &[u8]) -> Result<Option<Bytes>> {
        match self {
            Engine::Rocks(r) => Ok(r
                .db
                .get_pinned(key)
                .context("rocksdb get")?
                .map(|v| Bytes::copy_from_slice(&v))),
            Engine::Fjall(f) => Ok(f
                .ks
                .get(key)
                .context("fjall get")?
                .map(|v| Bytes::copy_from_slice(&v))),
            _ => bail!("{} is driven asynchronously", self.kind().name()),
        }
    }

    /// Flushes the memtable(s) into table files / chunks / SSTs.
    pub async fn flush(&self) -> Result<()> {
        match self {
            Engine::Firn(db) | Engine::FirnDeferred(db) => db
                .flush()
                .await
                .map(|_| ())
                .map_err(|e| anyhow!("firn flush: {e}")),
            Engine::Rocks(r) => r.db.flush().context("rocksdb flush"),
            // fjall 3 exposes no documented flush; `rotate_memtable_and_wait`
            // seals the active memtable and waits until it is written out.
            Engine::Fjall(f) => f.ks.rotate_memtable_and_wait().context("fjall flush"),
            Engine::Slate(db) => db
                .flush_with_options(slatedb::config::FlushOptions {
                    flush_type: slatedb::config::FlushType::MemTable,
                })
                .await
                .map_err(|e| anyhow!("slatedb flush: {e}")),
        }
    }

    /// Closes the database (Firn and SlateDB explicitly; the others by drop).
    pub async fn close(self) -> Result<()> {
        match self {
            Engine::Firn(db) | Engine::FirnDeferred(db) => {
                db.close().await.map_err(|e| anyhow!("firn close: {e}"))
            }
            Engine::Slate(db) => db.close().await.map_err(|e| anyhow!("slatedb close: {e}")),
            Engine::Rocks(db) => {
                drop(db);
                Ok(())
            }
            Engine::Fjall(f) => {
                drop(f);
                Ok(())
            }
        }
    }

    /// WAL fdatasyncs so far, where the engine counts them: Firn's
    /// `Metrics::wal_syncs` (foreground syncs of `Sync` writes), RocksDB's
    /// `rocksdb.wal.synced` ticker (statistics are on only for sync runs).
    pub fn wal_syncs(&self) -> Option<u64> {
        match self {
            Engine::Firn(db) | Engine::FirnDeferred(db) => Some(db.metrics().wal_syncs),
            Engine::Rocks(r) => Some(
                r.opts
                    .get_ticker_count(rocksdb::statistics::Ticker::WalFileSynced),
            ),
            _ => None,
        }
    }
}

/// Sum of the sizes of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// Bytes this process caused to be written to storage so far
/// (`/proc/self/io`: `write_bytes - cancelled_write_bytes`), if readable.
pub fn io_write_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    let written = field("write_bytes:")?;
    let cancelled = field("cancelled_write_bytes:").unwrap_or(0);
    Some(written.saturating_sub(cancelled))
}

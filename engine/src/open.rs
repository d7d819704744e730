//! Opening a database: local directory, object store, manifest, WAL replay.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use std::path::Path;

use firn_manifest::{Manifest, ManifestStore, ObjectStore, StoreError};
use tokio::sync::{watch, Notify};

use crate::batch::WriteBatch;
use crate::chunk_store::CacheConfig;
use crate::commit::{self, CommitPath};
use crate::db::{lock, Db, DbInner, HandleGuard};
use crate::error::{Error, Result};
use crate::local::{format_db_id, LocalDir};
use crate::memtable::Memtable;
use crate::metrics::EngineMetrics;
use crate::options::Options;
use crate::snapshot::SnapshotRegistry;
use crate::state::ReadState;
use crate::table::ChunkStore;
use crate::wal::{list_segments, replay_segment, WalWriter};

pub(crate) async fn open(opts: Options) -> Result<Db> {
    opts.validate()?;
    // A checkpoint is always opened read-only, without the local WAL.
    let writer = !opts.read_only && opts.checkpoint.is_none();
    if !writer {
        // A read-only open writes nothing, not even an empty bucket folder.
        if let Some(path) = opts.url.strip_prefix("file://") {
            if !std::path::Path::new(path).is_dir() {
                return Err(Error::InvalidArgument(format!(
                    "no Firn database at {} (the folder does not exist); open it as writer to create one",
                    opts.url
                )));
            }
        }
    }
    let store = match &opts.object_store {
        Some(store) => store.clone(),
        None => ObjectStore::from_url_with(&opts.url, &opts.store).map_err(|e| match e {
            StoreError::InvalidUrl { .. } | StoreError::InvalidConfig { .. } => {
                Error::InvalidArgument(e.to_string())
            }
            other => Error::Store(other),
        })?,
    };
    // One clear error at open for a missing bucket or bad credentials, and
    // refuse to write where conditional creates are not honoured: fencing
    // and manifest safety depend on them.
    store.check_access().await?;
    if writer && !opts.store.allow_unconditional_writes {
        store.verify_conditional_writes().await?;
    }
    let local = LocalDir::open(&opts.local_dir, writer)?;
    let manifests = ManifestStore::new(store.clone());
    let local_id = local.identity()?;
    if let Some(name) = &opts.checkpoint {
        let manifest = load_checkpointed(&manifests, name).await?;
        return assemble(opts, manifests, manifest, Recovered::empty(), local, false).await;
    }
    let manifest = match manifests.load_latest().await? {
        Some(m) => m,
        None if writer && local_id.is_none() => {
            manifests
                .create(*firn_store::clock::uuid().as_bytes())
                .await?
        }
        None => {
            return Err(match local_id {
                Some(id) => Error::DatabaseMismatch {
                    local: opts.local_dir.display().to_string(),
                    local_id: id,
                    url: opts.url.clone(),
                    store_id: "none (the object store holds no manifest)".into(),
                },
                None => Error::InvalidArgument(format!(
                "no Firn database at {} (no manifest/ objects); open it as writer to create one",
                opts.url
            )),
            })
        }
    };
    let db_id = format_db_id(&manifest.db_id);
    match &local_id {
        Some(id) if *id != db_id => {
            return Err(Error::DatabaseMismatch {
                local: opts.local_dir.display().to_string(),
                local_id: id.clone(),
                url: opts.url.clone(),
                store_id: db_id,
            })
        }
        Some(_) => {}
        None if writer => local.write_identity(&db_id)?,
        None => {}
    }
    // Replay before claiming: a WAL left behind by a writer that was fenced
    // must not fence the writer that took over.
    let writer_id = local.writer_id(writer)?;
    let recovered = replay_wal(
        &local.wal_dir(),
        &manifest,
        writer,
        &opts.local_dir,
        writer_id,
    )?;
    let manifest = if writer {
        ensure_bucket_identity(&manifests, &manifest).await?;
        manifests.claim_writer_as(&manifest, writer_id).await?
    } else {
        manifest
    };
    // Everything above the watermark is in one memtable that is frozen at
    // once (a writer flushes it; a reader keeps it in memory).
    assemble(opts, manifests, manifest, recovered, local, writer).await
}

/// Builds the database from its loaded parts and starts a writer's
/// background work.
async fn assemble(
    opts: Options,
    manifests: ManifestStore,
    manifest: Manifest,
    recovered: Recovered,
    local: LocalDir,
    writer: bool,
) -> Result<Db> {
    let epoch = if writer { manifest.epoch } else { 0 };
    let db_id = format_db_id(&manifest.db_id);
    let wal_dir = local.wal_dir();
    let last_seq = recovered.last_seq.max(manifest.wal_watermark);
    let next_segment = recovered.last_segment + 1;
    let wal = if writer {
        Some(WalWriter::create(&wal_dir, next_segment, epoch)?)
    } else {
        None
    };
    let mut frozen = Vec::new();
    if !recovered.mem.is_empty() {
        frozen.push(Arc::new(recovered.mem));
    }

    // The local index and disk cache are used when this folder belongs to
    // the database (a writer made sure of it; a reader checks).
    let ours = writer || local.identity()?.as_deref() == Some(db_id.as_str());
    let chunks = Arc::new(ChunkStore::new(
        manifests.store().clone(),
        CacheConfig {
            memory_bytes: opts.block_cache_bytes,
            disk_bytes: opts.disk_cache_bytes,
            local_dir: ours.then(|| opts.local_dir.clone()),
            writable: writer,
            preload_indexes: opts.preload_indexes,
            scan_readahead: opts.scan_readahead,
            gc_grace: opts.gc_grace,
        },
    ));
    let manifest = Arc::new(manifest);
    let tables = chunks
        .table_set_with(manifest.clone(), None, Vec::new())
        .await?;
    let next_chunk_id = manifest.next_chunk_id;
    let inner = Arc::new(DbInner {
        read_only: !writer,
        epoch,
        db_id,
        wal_dir,
        manifests,
        state: RwLock::new(Arc::new(ReadState {
            active: Arc::new(Memtable::new(next_segment)),
            frozen,
            tables: Arc::new(tables),
        })),
        visible_seq: AtomicU64::new(last_seq),
        next_chunk_id: AtomicU64::new(next_chunk_id),
        commit: CommitPath::new(wal, last_seq + 1),
        metrics: EngineMetrics::default(),
        snapshots: Arc::new(SnapshotRegistry::default()),
        flush_wakeup: Notify::new(),
        backpressure: Notify::new(),
        flushed: watch::channel(0).0,
        produced: Mutex::new(Default::default()),
        publish_lock: tokio::sync::Mutex::new(()),
        compaction_wakeup: Notify::new(),
        compaction_done: Notify::new(),
        compaction_paused: AtomicBool::new(false),
        running_compactions: Mutex::new(Vec::new()),
        full_compaction: tokio::sync::Mutex::new(()),
        gc_state: tokio::sync::Mutex::new(Default::default()),
        gc_wakeup: Notify::new(),
        inflight_chunks: Mutex::new(Default::default()),
        pending_totals: Mutex::new(Default::default()),
        closing: AtomicBool::new(false),
        fatal: Mutex::new(None),
        store_error: Mutex::new(None),
        tasks: Mutex::new(Vec::new()),
        local: Mutex::new(Some(local)),
        chunks,
        opts,
    });
    if writer {
        start_background(&inner);
    }
    let guard = Arc::new(HandleGuard {
        inner: inner.clone(),
    });
    Ok(Db {
        inner,
        _guard: guard,
    })
}

/// Creates the bucket's identity object if it is missing (a new database,
/// or one made before the object existed): one HEAD when it is there.
async fn ensure_bucket_identity(manifests: &ManifestStore, manifest: &Manifest) -> Result<()> {
    let store = manifests.store();
    let object = firn_manifest::IDENTITY_OBJECT;
    if store.stat(object).await?.is_some() {
        return Ok(());
    }
    let contents = firn_manifest::identity_contents(&manifest.db_id);
    store
        .put_if_absent(object, bytes::Bytes::from(contents))
        .await?;
    Ok(())
}

/// The manifest version the checkpoint `name` pins.
async fn load_checkpointed(manifests: &ManifestStore, name: &str) -> Result<Manifest> {
    crate::checkpoint::validate_name(name)?;
    let object = crate::checkpoint::checkpoint_object(name);
    let bytes = match manifests.store().get(&object).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => {
            return Err(Error::InvalidArgument(format!(
                "no checkpoint named {name:?} in {}",
                manifests.store().url()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let checkpoint = crate::checkpoint::decode(&bytes, &object)?;
    manifests
        .load_version(checkpoint.manifest_version)
        .await?
        .ok_or_else(|| {
            Error::corruption(
                &object,
                None,
                format!(
                    "checkpoint pins manifest version {} which no longer exists",
                    checkpoint.manifest_version
                ),
            )
        })
}

fn start_background(inner: &Arc<DbInner>) {
    let flusher = tokio::spawn(crate::flush::run_flusher(inner.clone()));
    let compactor = tokio::spawn(crate::compact::run_compactor(inner.clone()));
    let collector = tokio::spawn(crate::gc::run_collector(inner.clone()));
    inner.gc_wakeup.notify_one();
    inner.compaction_wakeup.notify_one();
    let weak = Arc::downgrade(inner);
    let interval = inner.opts.wal_sync_interval;
    let syncer = tokio::spawn(async move {
        loop {
            firn_store::clock::sleep(interval).await;
            let Some(inner) = weak.upgrade() else { return };
            if let Err(e) = commit::sync_wal(&inner) {
                inner.set_fatal(format!("periodic WAL sync failed: {e}"));
                return;
            }
        }
    });
    if !inner.state().frozen.is_empty() {
        inner.flush_wakeup.notify_one();
    }
    lock(&inner.tasks).extend([flusher, compactor, collector, syncer]);
}

struct Recovered {
    mem: Memtable,
    last_seq: u64,
    last_segment: u64,
}

impl Recovered {
    fn empty() -> Recovered {
        Recovered {
            mem: Memtable::new(0),
            last_seq: 0,
            last_segment: 0,
        }
    }
}

/// Replays every WAL segment into one memtable, skipping what the manifest
/// says is already in chunks. A writer truncates a torn tail and removes
/// segments that never received a complete header (a crash while creating
/// one): they hold no write.
///
/// A local directory whose writer was fenced by another directory's claim
/// has a fence record in the manifest ([`Manifest::fenced`]) giving the
/// watermark at that claim: of this directory's writes, exactly those at or
/// below it reached the bucket, however many writers came after. Writes
/// above it never did, and a writer refuses to open over them
/// ([`Error::FencedWrites`]) rather than drop them silently; a reader skips
/// them. Without a record (this directory's own earlier epochs, or a writer
/// that closed cleanly) segments replay normally.
fn replay_wal(
    dir: &Path,
    manifest: &Manifest,
    writer: bool,
    local: &Path,
    writer_id: [u8; 16],
) -> Result<Recovered> {
    if writer {
        crate::wal::remove_temp_segments(dir).map_err(|e| Error::io(dir, e))?;
    }
    let segments = list_segments(dir)?;
    let last_segment = segments.last().map(|(n, _)| *n).unwrap_or(0);
    let mem = Memtable::new(last_segment);
    let mut last_seq = 0u64;
    let mut orphans: Option<Orphans> = None;
    let count = segments.len();
    for (i, (_, path)) in segments.iter().enumerate() {
        let newest = i + 1 == count;
        let replay = replay_segment(path, newest)?;
        if replay.headerless {
            // A crash while creating this segment: it never held a write.
            if writer {
                remove_headerless(path)?;
            }
            continue;
        }
        let fence = fence_for(manifest, replay.epoch, writer_id);
        let watermark = match fence {
            Fence::None => manifest.wal_watermark,
            Fence::Exact { watermark, .. } => watermark,
            Fence::Unknown { .. } => 0,
        };
        for payload in &replay.records {
            let (first, batch) = WriteBatch::decode(payload).map_err(|why| {
                Error::corruption(
                    path.display().to_string(),
                    None,
                    format!("bad batch in WAL: {why}"),
                )
            })?;
            let len = batch.len() as u64;
            let end = first
                .checked_add(len.saturating_sub(1))
                .filter(|_| len > 0)
                .ok_or_else(|| {
                    Error::corruption(
                        path.display().to_string(),
                        None,
                        format!("WAL record with {len} ops at seq {first} is out of range"),
                    )
                })?;
            if first <= last_seq {
                return Err(Error::corruption(
                    path.display().to_string(),
                    None,
                    format!("WAL sequence numbers go backwards ({first} after {last_seq})"),
                ));
            }
            last_seq = end;
            if end <= watermark {
                continue;
            }
            match fence {
                Fence::None => {
                    commit::apply_batch(&mem, &batch, first);
                }
                Fence::Exact { epoch, .. } | Fence::Unknown { epoch } => {
                    let o = orphans.get_or_insert(Orphans {
                        epoch,
                        first_seq: first.max(watermark.saturating_add(1)),
                        last_seq: end,
                        exact: matches!(fence, Fence::Exact { .. }),
                    });
                    o.last_seq = end;
                }
            }
        }
        if replay.torn && writer {
            truncate(path, replay.valid_len)?;
        }
    }
    if let (Some(o), true) = (&orphans, writer) {
        return Err(Error::FencedWrites {
            local: local.display().to_string(),
            epoch: o.epoch,
            their_epoch: manifest.epoch,
            first_seq: o.first_seq,
            last_seq: o.last_seq,
            exact: o.exact,
        });
    }
    if orphans.is_some() {
        // A reader skipped the orphaned writes: it sees up to what it loaded.
        last_seq = mem.seq_range().map_or(0, |(_, max)| max);
    }
    Ok(Recovered {
        mem,
        last_seq,
        last_segment,
    })
}

/// Writes of a fenced writer that never reached the bucket.
struct Orphans {
    epoch: u64,
    first_seq: u64,
    last_seq: u64,
    exact: bool,
}

/// How a WAL segment written under some epoch relates to the bucket.
#[derive(Clone, Copy)]
enum Fence {
    /// Not fenced: replay what is above the manifest's watermark.
    None,
    /// Fenced by another directory's claim: exactly the writes at or below
    /// `watermark` reached the bucket.
    Exact { epoch: u64, watermark: u64 },
    /// Fenced before the manifest kept exact records (a database upgraded
    /// from manifest format 1): which writes reached the bucket is unknown.
    Unknown { epoch: u64 },
}

fn fence_for(manifest: &Manifest, epoch: u64, writer_id: [u8; 16]) -> Fence {
    if epoch == 0 || epoch >= manifest.epoch {
        return Fence::None;
    }
    if let Some(record) = manifest.fenced_writer(writer_id) {
        if epoch <= record.epoch {
            return Fence::Exact {
                epoch: record.epoch,
                watermark: record.wal_watermark,
            };
        }
        return Fence::None;
    }
    if epoch < manifest.fence_records_since && manifest.writer_id() != Some(writer_id) {
        return Fence::Unknown { epoch };
    }
    Fence::None
}

/// Removes a segment that never received a complete header.
fn remove_headerless(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    if let Some(dir) = path.parent() {
        crate::wal::sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    tracing::warn!(
        "removed WAL segment {} left without a complete header by a crash (it held no write)",
        path.display()
    );
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    tracing::warn!(
        "truncated a torn WAL tail: {} cut to {len} bytes",
        path.display()
    );
    Ok(())
}

//! Opening a database: local directory, object store, manifest, WAL replay,
//! then the subsystems, wired together.

use std::sync::{Arc, Mutex};

use firn_manifest::{Manifest, ManifestStore};
use firn_store::{ObjectStore, StoreError};

use crate::background::collector::{Collector, CollectorDeps};
use crate::background::compactor::{CompactionListeners, Compactor, CompactorDeps};
use crate::background::flusher::{FlushDeps, FlushListeners, Flusher};
use crate::background::follower::{Follower, FollowerDeps};
use crate::background::publisher::ManifestPublisher;
use crate::background::retry::Retry;
use crate::background::shipper::{ShippedIndex, ShipperDeps, WalShipper};
use crate::background::uploads::ChunkIds;
use crate::background::Background;
use crate::changes::ChangeBuffer;
use crate::db::bucket_wal;
use crate::db::replay::{replay_wal, Recovered};
use crate::db::{Db, DbCore, Following, HandleGuard, Writer};
use crate::error::{Error, Result};
use crate::health::Health;
use crate::local::{format_db_id, LocalDir, Locking, Role};
use crate::memtable::Memtable;
use crate::metrics::EngineMetrics;
use crate::options::Options;
use crate::read::chunk_store::CacheConfig;
use crate::read::snapshot::SnapshotRegistry;
use crate::read::table::ChunkStore;
use crate::read::view::{ReadState, ReadView};
use crate::read::Reader;
use crate::signal::DurableSeq;
use crate::signal::Wakeup;
use crate::write::commit::{CommitDeps, CommitPath};
use crate::write::ingest::IngestDeps;
use crate::write::wal::WalWriter;
use crate::write::wal_tail::{TailPosition, WalTail};
use crate::write::{Backpressure, BucketWait, WriteLimits, WritePath};

/// Opens (or creates) the database `opts` names.
pub(crate) async fn open(opts: Options) -> Result<Db> {
    opts.validate()?;
    // A checkpoint is always opened read-only, without the local WAL.
    let writer = !opts.read_only && !opts.follow && opts.checkpoint.is_none();
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
    // A follower keeps its own local directory (its local index and disk
    // cache): it takes the directory's lock as a writer does, so no other
    // process writes there; it never writes the bucket.
    let follower = opts.follow && opts.checkpoint.is_none();
    let local = if writer || follower {
        LocalDir::open_writer(&opts.local_dir).await?
    } else if opts.reader_local_state && opts.checkpoint.is_none() {
        match LocalDir::lock(&opts.local_dir, Role::Reader)? {
            Locking::Held(dir) => dir,
            Locking::Busy { .. } => {
                tracing::debug!(
                    local = %opts.local_dir.display(),
                    "another process holds the local directory: reading without writing it"
                );
                LocalDir::unlocked(&opts.local_dir)
            }
        }
    } else {
        LocalDir::unlocked(&opts.local_dir)
    };
    let manifests = ManifestStore::new(store.clone());
    let local_id = local.identity()?;
    if let Some(name) = &opts.checkpoint {
        let manifest = load_checkpointed(&manifests, name).await?;
        let bucket = BucketWal::none(manifest.wal_watermark);
        let recovered = Recovered::empty(opts.memtable_size);
        return assemble(opts, manifests, manifest, recovered, bucket, local, false).await;
    }
    // A read-only open reuses the local copy of the manifest while it is the newest
    // version (one LIST, no GET), if this folder serves this database.
    let copy = match (&local_id, writer) {
        (Some(_), false) => local.manifest_copy(),
        _ => None,
    };
    let (latest, fetched) = match manifests.load_latest_reusing(copy.as_deref()).await? {
        Some((m, fetched)) => (Some(m), fetched),
        None => (None, None),
    };
    let manifest = match latest {
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
        None if writer || follower || local.held() => local.write_identity(&db_id)?,
        None => {}
    }
    if let (Some(bytes), false) = (&fetched, writer) {
        local.keep_manifest_copy(bytes)?;
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
        opts.memtable_size,
    )?;
    let mut recovered = recovered;
    let manifest = if writer {
        ensure_bucket_identity(&manifests, &manifest).await?;
        manifests.claim_writer_as(&manifest, writer_id).await?
    } else {
        manifest
    };
    let (manifest, bucket) = load_bucket_wal(&manifests, manifest, &mut recovered, writer).await?;
    // Everything above the watermark is in one memtable that is frozen at
    // once (a writer flushes it; a reader keeps it in memory).
    assemble(opts, manifests, manifest, recovered, bucket, local, writer).await
}

/// The shipped WAL as open found it.
struct BucketWal {
    /// What every object read holds, for the collector.
    index: Arc<ShippedIndex>,
    /// The id this writer ships from (after its fence).
    next_id: u64,
    /// The last sequence number known to be in the bucket.
    durable: u64,
}

impl BucketWal {
    fn none(durable: u64) -> BucketWal {
        BucketWal {
            index: Arc::new(ShippedIndex::default()),
            next_id: 1,
            durable,
        }
    }
}

/// Reads the shipped WAL: a writer first fences the previous writer's
/// shipping; both then replay every shipped write above the watermark and
/// the local WAL into `recovered`, so they see every write that was in the
/// bucket. When a writer took over shipped writes of a fenced writer, that
/// writer's fence record is raised to cover them: they reached the bucket,
/// and its directory must not report them as lost. That holds for the
/// writer this claim fenced, and as well for one an earlier claim fenced
/// that died before it raised the record (a writer crashing or failing
/// between its claim and its replay): a record is raised over the shipped
/// writes above it made under the fenced epoch or older ones, up to the
/// first object of a newer writer.
async fn load_bucket_wal(
    manifests: &ManifestStore,
    manifest: Manifest,
    recovered: &mut Recovered,
    writer: bool,
) -> Result<(Manifest, BucketWal)> {
    let store = manifests.store();
    let mut ids = bucket_wal::list_ids(store).await?;
    let index = Arc::new(ShippedIndex::default());
    let (mut replay_ids, next_id) = if writer {
        let fences =
            bucket_wal::fence(store, &mut ids, manifest.epoch, manifest.wal_objects_from).await?;
        for &id in &fences.ids {
            index.insert(id, manifest.epoch, 0);
        }
        // A writer that claimed the manifest after this one, but listed the
        // shipped WAL before these fences existed, fenced below them: this
        // one must not ship (one GET: the next manifest version).
        let newest = manifests.refresh(&manifest).await?;
        if newest.epoch > manifest.epoch {
            return Err(Error::Fenced {
                our_epoch: manifest.epoch,
                their_epoch: newest.epoch,
            });
        }
        crate::crash_point::crash_point("open.after_fence");
        ids.sort_unstable();
        (ids, fences.next_id)
    } else {
        // A reader follows from the id after the newest one.
        let next = ids.last().map_or(1, |last| last.saturating_add(1));
        (ids, next.max(manifest.wal_objects_from))
    };
    // Objects below `wal_objects_from` hold only flushed writes (or are fences).
    replay_ids.retain(|&id| id >= manifest.wal_objects_from);
    let replayed = bucket_wal::replay(
        store,
        &replay_ids,
        &recovered.mem,
        manifest.wal_watermark,
        recovered.last_seq,
        &index,
    )
    .await?;
    recovered.last_seq = recovered.last_seq.max(replayed.applied);
    recovered.bucket_objects = replayed.objects;
    let durable = replayed.bucket_through;
    let mut manifest = manifest;
    if writer && durable > manifest.wal_watermark {
        // The replay indexed every object holding writes above the
        // manifest's watermark: a record at or above it can be judged.
        let raises: Vec<([u8; 16], u64)> = manifest
            .fenced
            .iter()
            .filter(|f| f.wal_watermark >= manifest.wal_watermark && f.wal_watermark < durable)
            .filter_map(|f| {
                let through = index.shipped_under(f.wal_watermark, f.epoch)?.min(durable);
                (through > f.wal_watermark).then_some((f.writer_id, through))
            })
            .collect();
        for (writer_id, through) in raises {
            let edit = firn_manifest::ManifestEdit {
                raise_fence: Some((writer_id, through)),
                ..Default::default()
            };
            manifest = manifests.publish(&manifest, &edit, manifest.epoch).await?;
        }
    }
    Ok((
        manifest,
        BucketWal {
            index,
            next_id,
            durable,
        },
    ))
}

/// Builds the database from its loaded parts: the read path, and for a
/// writer the write path and the background subsystems, started.
async fn assemble(
    opts: Options,
    manifests: ManifestStore,
    manifest: Manifest,
    recovered: Recovered,
    bucket: BucketWal,
    local: LocalDir,
    writer: bool,
) -> Result<Db> {
    let epoch = if writer { manifest.epoch } else { 0 };
    let db_id = format_db_id(&manifest.db_id);
    if writer {
        tracing::info!(
            store = %opts.url,
            epoch,
            manifest_version = manifest.version,
            wal_watermark = manifest.wal_watermark,
            "opened as writer: every earlier writer is fenced"
        );
    } else {
        tracing::info!(
            store = %opts.url,
            manifest_version = manifest.version,
            "opened read-only"
        );
    }
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
            writable: local.held(),
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
    let view = Arc::new(ReadView::new(
        ReadState {
            active: Arc::new(Memtable::new(next_segment, opts.memtable_size)),
            frozen,
            tables: Arc::new(tables),
        },
        last_seq,
    ));
    let metrics = Arc::new(EngineMetrics::default());
    metrics.wal_objects_replayed.store(
        recovered.bucket_objects,
        std::sync::atomic::Ordering::Relaxed,
    );
    let durable = Arc::new(DurableSeq::new(bucket.durable));
    let health = Arc::new(Health::default());
    let snapshots = Arc::new(SnapshotRegistry::new(last_seq, opts.read_history));
    let changes = Arc::new(ChangeBuffer::new(opts.change_buffer_bytes));
    let reader = Reader {
        view: view.clone(),
        chunks: chunks.clone(),
        snapshots: snapshots.clone(),
        metrics: metrics.clone(),
        max_key_size: opts.max_key_size,
    };
    let following = (!writer && opts.checkpoint.is_none()).then(|| {
        let follower = Arc::new(Follower::new(
            FollowerDeps {
                manifests: manifests.clone(),
                view: view.clone(),
                chunks: chunks.clone(),
                metrics: metrics.clone(),
                durable: durable.clone(),
                poll_interval: if opts.follow {
                    opts.follow_interval
                } else {
                    opts.refresh_interval
                },
                refresh_interval: opts.refresh_interval,
                memtable_size: opts.memtable_size,
                changes: changes.clone(),
            },
            bucket.next_id,
            last_seq,
            manifest.epoch,
        ));
        let task = tokio::spawn(follower.clone().run()).abort_handle();
        Following { follower, task }
    });
    let writer = match wal {
        Some(wal) => {
            let parts = WriterParts {
                wal,
                last_seq,
                first_segment: recovered.first_segment.unwrap_or(next_segment),
                bucket,
                durable: durable.clone(),
                next_chunk_id,
                epoch,
                manifests,
                view,
                chunks,
                snapshots,
                metrics: metrics.clone(),
                health: health.clone(),
                changes: changes.clone(),
            };
            Some(start_writer(&opts, parts, local.wal_dir()))
        }
        None => None,
    };
    let core = Arc::new(DbCore {
        db_id,
        epoch,
        reader,
        durable,
        health,
        metrics,
        writer,
        following,
        changes,
        local: Mutex::new(Some(local)),
        opts,
    });
    let guard = Arc::new(HandleGuard { core: core.clone() });
    Ok(Db {
        core,
        _guard: guard,
    })
}

/// What a writer's subsystems are built from.
struct WriterParts {
    wal: WalWriter,
    /// The last sequence number recovered (local WAL, shipped WAL, manifest).
    last_seq: u64,
    /// The oldest local WAL segment (shipping starts there).
    first_segment: u64,
    bucket: BucketWal,
    durable: Arc<DurableSeq>,
    next_chunk_id: u64,
    epoch: u64,
    manifests: ManifestStore,
    view: Arc<ReadView>,
    chunks: Arc<ChunkStore>,
    snapshots: Arc<SnapshotRegistry>,
    metrics: Arc<EngineMetrics>,
    health: Arc<Health>,
    changes: Arc<ChangeBuffer>,
}

/// Wires the write path and the background subsystems together and starts
/// the background tasks.
fn start_writer(opts: &Options, p: WriterParts, wal_dir: std::path::PathBuf) -> Writer {
    let limits = WriteLimits {
        max_key_size: opts.max_key_size,
        max_value_size: opts.max_value_size,
        durability: opts.durability,
        max_frozen_memtables: opts.max_frozen_memtables,
        l0_stop_writes: opts
            .compaction
            .auto_compaction
            .then_some(opts.l0_stop_writes),
        default_ttl: opts.default_ttl,
    };
    let (flush_wakeup, compaction_wakeup, gc_wakeup) =
        (Wakeup::default(), Wakeup::default(), Wakeup::default());
    let room = Arc::new(Backpressure::new(
        p.view.clone(),
        p.health.clone(),
        p.metrics.clone(),
        limits,
    ));
    let tail = Arc::new(WalTail::new(
        TailPosition {
            segment: p.wal.segment(),
            written: p.wal.written(),
            last_seq: p.last_seq,
        },
        opts.wal_ship_bytes,
        opts.wal_shipping,
        opts.max_unflushed_wal_objects,
    ));
    if p.last_seq > p.bucket.durable {
        // Recovered writes the bucket lacks: ship them within the interval.
        tail.mark_pending();
    }
    let ship_from = p.first_segment;
    let commit = Arc::new(CommitPath::new(
        Some(p.wal),
        p.last_seq + 1,
        CommitDeps {
            view: p.view.clone(),
            health: p.health.clone(),
            metrics: p.metrics.clone(),
            wal_dir: wal_dir.clone(),
            memtable_size: opts.memtable_size,
            flusher: flush_wakeup.clone(),
            tail: tail.clone(),
            changes: p.changes.clone(),
        },
    ));
    let retry = Retry::new(
        opts.retry_delay,
        opts.max_retry_delay,
        p.health.clone(),
        p.metrics.clone(),
    );
    let ids = Arc::new(ChunkIds::new(p.epoch, p.next_chunk_id));
    let publisher = Arc::new(ManifestPublisher::new(
        p.manifests.clone(),
        p.epoch,
        p.view.clone(),
        p.chunks.clone(),
        retry.clone(),
    ));
    let flusher = Arc::new(Flusher::new(
        flush_wakeup.clone(),
        FlushDeps {
            view: p.view.clone(),
            chunks: p.chunks.clone(),
            publisher: publisher.clone(),
            ids: ids.clone(),
            retry: retry.clone(),
            health: p.health.clone(),
            metrics: p.metrics.clone(),
            wal_dir: wal_dir.clone(),
            local_dir: opts.local_dir.clone(),
            chunk_options: opts.chunk_options(),
            cache_flushed_blocks: opts.cache_flushed_blocks,
            epoch: p.epoch,
            durable: p.durable.clone(),
            shipped: p.bucket.index.clone(),
            tail: tail.clone(),
            snapshots: p.snapshots.clone(),
        },
        FlushListeners {
            compactor: compaction_wakeup.clone(),
            collector: gc_wakeup.clone(),
            room: room.clone(),
        },
    ));
    let compactor = Arc::new(Compactor::new(
        compaction_wakeup.clone(),
        CompactorDeps {
            view: p.view.clone(),
            chunks: p.chunks.clone(),
            snapshots: p.snapshots,
            publisher: publisher.clone(),
            ids: ids.clone(),
            retry: retry.clone(),
            health: p.health.clone(),
            metrics: p.metrics.clone(),
            chunk_options: opts.chunk_options(),
            config: opts.compaction.clone(),
            max_concurrent: opts.max_concurrent_compactions,
            failure_pause: opts.max_retry_delay,
            epoch: p.epoch,
        },
        CompactionListeners {
            collector: gc_wakeup.clone(),
            room: room.clone(),
        },
    ));
    let collector = Arc::new(Collector::new(
        gc_wakeup.clone(),
        CollectorDeps {
            view: p.view.clone(),
            chunks: p.chunks.clone(),
            manifests: p.manifests,
            publisher: publisher.clone(),
            ids: ids.clone(),
            shipped: p.bucket.index.clone(),
            health: p.health.clone(),
            metrics: p.metrics.clone(),
            epoch: p.epoch,
            grace: opts.gc_grace,
            interval: opts.gc_interval,
            wal_retention: opts.wal_retention,
        },
    ));
    let ingest_ids = ids;
    let shipper = opts.wal_shipping.then(|| {
        Arc::new(WalShipper::new(
            ShipperDeps {
                store: p.chunks.store.clone(),
                tail: tail.clone(),
                durable: p.durable.clone(),
                retry: retry.clone(),
                health: p.health.clone(),
                metrics: p.metrics.clone(),
                wal_dir: wal_dir.clone(),
                epoch: p.epoch,
                interval: opts.wal_ship_interval,
                ship_bytes: opts.wal_ship_bytes,
            },
            ship_from,
            p.bucket.next_id,
            p.bucket.durable,
            p.bucket.index.clone(),
        ))
    });
    let ingest = Arc::new(IngestDeps {
        commit: commit.clone(),
        view: p.view.clone(),
        chunks: p.chunks.clone(),
        publisher: publisher.clone(),
        ids: ingest_ids,
        flusher: flusher.clone(),
        compactor: compactor.clone(),
        durable: p.durable.clone(),
        retry: retry.clone(),
        chunk_options: opts.chunk_options(),
        target_chunk_size: opts.compaction.target_chunk_size,
        max_key_size: opts.max_key_size,
        max_value_size: opts.max_value_size,
        epoch: p.epoch,
        metrics: p.metrics.clone(),
    });
    let background = Background::new(flusher, compactor, collector, publisher, shipper);
    background.start(
        [&flush_wakeup, &compaction_wakeup, &gc_wakeup],
        &commit,
        &p.health,
        opts.wal_sync_interval,
    );
    Writer {
        path: WritePath::new(
            commit,
            room,
            BucketWait {
                tail,
                durable: p.durable,
                shipping: opts.wal_shipping,
            },
            p.health,
            limits,
        ),
        background,
        ingest,
    }
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
pub(crate) async fn load_checkpointed(manifests: &ManifestStore, name: &str) -> Result<Manifest> {
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

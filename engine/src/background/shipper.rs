//! The WAL shipper: uploads what the commit path appended to the local WAL
//! as immutable objects `wal/<id>.wal`, so the bucket trails every
//! acknowledged write by at most `wal_ship_interval`.
//!
//! It ships when the oldest unshipped write is `wal_ship_interval` old, when
//! about `wal_ship_bytes` of shipped (compressed) object are pending — WAL
//! bytes times the compression ratio of the last object — or at once when a
//! writer waits for the bucket (`Durability::Remote`, `Db::wait_durable`);
//! never when nothing is new, so an idle database makes no request.
//! Everything pending goes into one object (split at twice the urgent
//! size), so concurrent waiters share a PUT.
//!
//! Object ids form one sequence across writers, each written with a
//! conditional create: a writer that took over created the next id as a
//! fence, so the writer it replaced finds that id taken by a newer epoch and
//! stops (fenced) before it acknowledges another `Remote` write.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use firn_manifest::ObjectName;
use firn_store::{ObjectStore, PutOutcome};

use crate::background::retry::Retry;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::lock;
use crate::metrics::EngineMetrics;
use crate::signal::DurableSeq;
use crate::write::wal::reader::parse_record;
use crate::write::wal::record::{record_seqs, RecordLayout};
use crate::write::wal::shipped::{self, RecordRun};
use crate::write::wal::{segment_path, SEGMENT_HEADER_LEN};
use crate::write::wal_tail::WalTail;

/// What the shipper needs.
pub(crate) struct ShipperDeps {
    pub store: ObjectStore,
    pub tail: Arc<WalTail>,
    pub durable: Arc<DurableSeq>,
    pub retry: Retry,
    pub health: Arc<Health>,
    pub metrics: Arc<EngineMetrics>,
    pub wal_dir: PathBuf,
    pub epoch: u64,
    pub interval: Duration,
    /// `Options::wal_ship_bytes`: the target size of a shipped object.
    pub ship_bytes: u64,
}

/// What a shipped object holds, as far as the collector needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShippedEntry {
    /// The epoch of the writer that created it.
    pub epoch: u64,
    /// Its last sequence number; 0 for a fence.
    pub last_seq: u64,
}

impl ShippedEntry {
    /// True for a fence (an object with no records).
    pub(crate) fn is_fence(&self) -> bool {
        self.last_seq == 0
    }
}

/// What each shipped object this process knows holds (shipped or fenced by
/// it, or read at open or by GC), for the flusher and the collector.
#[derive(Default)]
pub(crate) struct ShippedIndex {
    objects: Mutex<BTreeMap<u64, ShippedEntry>>,
}

impl ShippedIndex {
    /// Records that object `id` was created by `epoch` and ends at
    /// `last_seq` (0 for a fence).
    pub(crate) fn insert(&self, id: u64, epoch: u64, last_seq: u64) {
        lock(&self.objects).insert(id, ShippedEntry { epoch, last_seq });
    }

    /// The last seq of the shipped writes above `watermark` made under
    /// `epoch` or an older one: the objects from the first holding a write
    /// above `watermark` on, in id order, up to the first holding writes of
    /// a newer epoch (fences hold none). `None` when the first is newer.
    pub(crate) fn shipped_under(&self, watermark: u64, epoch: u64) -> Option<u64> {
        let map = lock(&self.objects);
        let mut through = None;
        for e in map.values() {
            if e.last_seq <= watermark {
                continue;
            }
            if e.epoch > epoch {
                break;
            }
            through = Some(e.last_seq);
        }
        through
    }

    /// What object `id` holds, if known.
    pub(crate) fn get(&self, id: u64) -> Option<ShippedEntry> {
        lock(&self.objects).get(&id).copied()
    }

    /// The lowest id whose object may hold a write above `watermark`: every
    /// known object below it holds only writes at or below it (or is a
    /// fence). `None` when nothing is known.
    pub(crate) fn first_needed(&self, watermark: u64) -> Option<u64> {
        let map = lock(&self.objects);
        map.iter()
            .find(|(_, o)| o.last_seq > watermark)
            .map(|(&id, _)| id)
            .or_else(|| map.keys().next_back().map(|id| id.saturating_add(1)))
    }

    /// Forgets a deleted object.
    pub(crate) fn remove(&self, id: u64) {
        lock(&self.objects).remove(&id);
    }
}

/// Where shipping has got to in the local WAL.
struct ShipPosition {
    segment: u64,
    offset: u64,
    next_id: u64,
    /// Records ending at or below this are in the bucket already.
    skip_through: u64,
    /// The record layout of `segment`, once its header was read.
    layout: Option<RecordLayout>,
}

/// Uploads the local WAL to the bucket.
pub(crate) struct WalShipper {
    deps: ShipperDeps,
    position: tokio::sync::Mutex<ShipPosition>,
    index: Arc<ShippedIndex>,
}

impl WalShipper {
    /// The shipped objects this writer knows of (the open's, and its own).
    pub(crate) fn index(&self) -> &Arc<ShippedIndex> {
        &self.index
    }

    /// A shipper starting at the beginning of local segment `segment`
    /// (the oldest one: writes recovered at open that the bucket lacks are
    /// shipped first), shipping as object `next_id` onwards and skipping
    /// records at or below `skip_through` (already in the bucket).
    pub(crate) fn new(
        deps: ShipperDeps,
        segment: u64,
        next_id: u64,
        skip_through: u64,
        index: Arc<ShippedIndex>,
    ) -> WalShipper {
        deps.tail.shipping_from(segment);
        WalShipper {
            deps,
            position: tokio::sync::Mutex::new(ShipPosition {
                segment,
                offset: SEGMENT_HEADER_LEN as u64,
                next_id,
                skip_through,
                layout: None,
            }),
            index,
        }
    }

    /// Runs until aborted or fenced: waits for writes, waits until they are
    /// due (or shipping is urgent), ships them.
    pub(crate) async fn run(self: Arc<Self>) {
        let tail = &self.deps.tail;
        loop {
            let oldest = match tail.oldest_pending() {
                Some(oldest) => oldest,
                // Nothing new, but someone waits for the shipper to move
                // past a segment the commit path left (a flush keeping
                // history): catch up with the tail.
                None if tail.is_urgent() => tokio::time::Instant::now(),
                None => {
                    tail.changed().await;
                    continue;
                }
            };
            if !tail.is_urgent() {
                let due = oldest + self.deps.interval;
                let wait = due.saturating_duration_since(tokio::time::Instant::now());
                if !wait.is_zero() {
                    tokio::select! {
                        _ = firn_store::clock::sleep(wait) => {}
                        _ = tail.changed() => continue,
                    }
                }
            }
            if let Err(err) = self.ship_pending().await {
                tracing::error!("WAL shipping stopped: {err}");
                self.deps.health.fail(err);
                return;
            }
        }
    }

    /// Ships everything the commit path appended up to now.
    async fn ship_pending(&self) -> Result<()> {
        let tail = self.deps.tail.take();
        let mut pos = self.position.lock().await;
        while pos.segment < tail.segment || pos.offset < tail.written {
            let end = (pos.segment == tail.segment).then_some(tail.written);
            let path = segment_path(&self.deps.wal_dir, pos.segment);
            let (from, read_path) = (pos.offset, path.clone());
            let data = firn_store::clock::run_blocking(move || read_range(&read_path, from, end))
                .await
                .map_err(|e| Error::Background(format!("reading the WAL to ship: {e}")))??;
            let layout = match pos.layout {
                Some(layout) => Some(layout),
                None => {
                    let header_path = path.clone();
                    firn_store::clock::run_blocking(move || {
                        crate::write::wal::reader::segment_layout(&header_path)
                    })
                    .await
                    .map_err(|e| Error::Background(format!("reading the WAL to ship: {e}")))??
                }
            };
            let (Some(data), Some(layout)) = (data, layout) else {
                // Segments are deleted only once flushed: its writes are in
                // a chunk already (the flusher advanced the durable seq).
                if pos.segment < tail.segment {
                    pos.segment += 1;
                    pos.offset = SEGMENT_HEADER_LEN as u64;
                    pos.layout = None;
                    self.deps.tail.shipping_from(pos.segment);
                } else {
                    pos.offset = tail.written;
                }
                continue;
            };
            pos.layout = Some(layout);
            let max_body = self.deps.tail.urgent_bytes().saturating_mul(2);
            let pieces = split_objects(&data, max_body, pos.skip_through, &path, from, layout)?;
            for (start, len, run) in pieces {
                let body = data.slice(start..start + len);
                self.ship_object(&mut pos, &body, run, layout).await?;
            }
            pos.offset += data.len() as u64;
            if pos.segment < tail.segment {
                pos.segment += 1;
                pos.offset = SEGMENT_HEADER_LEN as u64;
                pos.layout = None;
                self.deps.tail.shipping_from(pos.segment);
            }
        }
        self.deps.tail.shipped();
        Ok(())
    }

    /// Uploads one object as id `pos.next_id`, then advances it.
    async fn ship_object(
        &self,
        pos: &mut ShipPosition,
        body: &[u8],
        run: RecordRun,
        layout: RecordLayout,
    ) -> Result<()> {
        let d = &self.deps;
        let mut id = pos.next_id;
        let bytes = Bytes::from(shipped::encode(d.epoch, body, Some(run), layout)?);
        // Aim the next objects at `ship_bytes` as stored: at this object's
        // compression ratio (bounded, so one odd object cannot run away).
        let ratio = (body.len() as f64 / bytes.len().max(1) as f64).clamp(1.0, 8.0);
        d.tail
            .set_urgent_bytes((d.ship_bytes as f64 * ratio) as u64);
        loop {
            let name = ObjectName::ShippedWal(id).path();
            let outcome = d
                .retry
                .until_done("WAL shipping", || {
                    put_shipped(&d.store, &name, bytes.clone(), d.epoch)
                })
                .await?;
            match outcome {
                Shipped::Created => break,
                Shipped::OlderFence => id += 1,
            }
        }
        pos.next_id = id + 1;
        tracing::debug!(
            object = %ObjectName::ShippedWal(id).path(),
            first_seq = run.first_seq,
            last_seq = run.last_seq,
            bytes = bytes.len(),
            "shipped WAL"
        );
        self.index.insert(id, d.epoch, run.last_seq);
        d.tail.shipped_object(pos.segment);
        d.metrics
            .wal_objects_shipped
            .fetch_add(1, Ordering::Relaxed);
        d.metrics
            .wal_bytes_shipped
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        d.durable.add_range(run.first_seq, run.last_seq);
        Ok(())
    }
}

/// What a conditional create of a shipped object found.
enum Shipped {
    /// The object is in place (created now, or by an earlier attempt).
    Created,
    /// The id holds a fence of an older epoch: a writer that lost the race
    /// for the manifest to this one and found out at open, after fencing
    /// (see `db/bucket_wal.rs`). It never ships; the next id is free.
    OlderFence,
}

/// Conditional create of a shipped object. An existing object with the same
/// bytes is our own earlier attempt; one of a newer epoch means we were
/// replaced (fenced); an older epoch's fence is passed over; anything else
/// is refused.
async fn put_shipped(store: &ObjectStore, name: &str, bytes: Bytes, epoch: u64) -> Result<Shipped> {
    match store.put_if_absent(name, bytes.clone()).await? {
        PutOutcome::Created => Ok(Shipped::Created),
        PutOutcome::AlreadyExists => {
            let existing = store.get(name).await?;
            if existing == bytes {
                return Ok(Shipped::Created);
            }
            let (their_epoch, run) = shipped::decode_header(&existing, name)?;
            if their_epoch < epoch && run.records == 0 {
                return Ok(Shipped::OlderFence);
            }
            if their_epoch > epoch {
                Err(Error::Fenced {
                    our_epoch: epoch,
                    their_epoch,
                })
            } else {
                Err(Error::corruption(
                    name,
                    None,
                    format!(
                        "shipped WAL object id taken by another object of epoch {their_epoch} \
                         (this writer is epoch {epoch}): two writers share an epoch"
                    ),
                ))
            }
        }
    }
}

/// Bytes `from..end` of a segment (`end: None`: to the end of the file);
/// `None` when the segment no longer exists.
fn read_range(path: &Path, from: u64, end: Option<u64>) -> Result<Option<Bytes>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    file.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(path, e))?;
    let mut data = Vec::new();
    match end {
        Some(end) => {
            let len = end.saturating_sub(from) as usize;
            data.resize(len, 0);
            file.read_exact(&mut data).map_err(|e| Error::io(path, e))?;
        }
        None => {
            file.read_to_end(&mut data)
                .map_err(|e| Error::io(path, e))?;
        }
    }
    Ok(Some(Bytes::from(data)))
}

/// Splits whole records into object bodies of at most `max` bytes (a larger
/// record goes alone), leaving out records at or below `skip_through`:
/// `(start, length, range)` per object, in order.
fn split_objects(
    data: &Bytes,
    max: u64,
    skip_through: u64,
    path: &Path,
    base: u64,
    layout: RecordLayout,
) -> Result<Vec<(usize, usize, RecordRun)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut current: Option<(usize, usize, RecordRun)> = None;
    while pos < data.len() {
        let bad = |why: &str| {
            Error::corruption(
                path.display().to_string(),
                Some(base + pos as u64),
                format!("WAL record to ship: {why}"),
            )
        };
        let (payload, next) = parse_record(data, pos).map_err(bad)?;
        let (first, last) =
            record_seqs(&payload, layout).ok_or_else(|| bad("not a write batch"))?;
        let len = next - pos;
        if last <= skip_through {
            pos = next;
            continue;
        }
        current = match current {
            Some((start, size, run)) if (size + len) as u64 <= max && start + size == pos => {
                Some((
                    start,
                    size + len,
                    RecordRun {
                        first_seq: run.first_seq,
                        last_seq: last,
                        records: run.records + 1,
                    },
                ))
            }
            other => {
                out.extend(other);
                Some((
                    pos,
                    len,
                    RecordRun {
                        first_seq: first,
                        last_seq: last,
                        records: 1,
                    },
                ))
            }
        };
        pos = next;
    }
    out.extend(current);
    Ok(out)
}

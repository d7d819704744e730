//! The shipped WAL at open: listing it, fencing the previous writer's
//! shipping, and replaying it (see `write/wal/FORMAT.md`, "Shipped WAL
//! objects").

use bytes::Bytes;
use firn_manifest::ObjectName;
use firn_store::{ObjectStore, PutOutcome};
use futures::stream::{StreamExt, TryStreamExt};

use crate::background::shipper::ShippedIndex;
use crate::error::{Error, Result};
use crate::memtable::Memtable;
use crate::write::wal::shipped;

/// Shipped objects fetched at once while replaying.
const REPLAY_PARALLELISM: usize = 16;

/// Every shipped WAL object id in the bucket, ascending (one LIST).
pub(crate) async fn list_ids(store: &ObjectStore) -> Result<Vec<u64>> {
    let shipped = crate::write::wal::list_shipped(store).await?;
    Ok(shipped.into_iter().map(|(id, _)| id).collect())
}

/// Ids a writer fences at once after its first attempt found its id
/// taken: the previous writer may still be shipping (one object per PUT
/// round trip), and a batch created concurrently takes ids faster than it
/// can, so the walk cannot chase it for long.
const FENCE_BATCH: u64 = 8;

/// The fences a writer placed at open.
#[derive(Debug)]
pub(crate) struct Fences {
    /// The fence objects this writer created (or found from its own
    /// earlier attempt), ascending.
    pub ids: Vec<u64>,
    /// The id this writer ships from: after every id it tried.
    pub next_id: u64,
}

/// Fences the previous writer's shipping: creates a fence object of
/// `epoch` at the id after `ids` (and at least `floor`, the manifest's
/// `wal_objects_from`). The previous writer ships at consecutive ids, and
/// GC never deletes the newest object, so that is exactly its next id: it
/// stops there, fenced. Ids found taken join `ids` (to be replayed).
///
/// Another round follows, of [`FENCE_BATCH`] ids created concurrently,
/// when this one created nothing (the previous writer took the id
/// meanwhile), or when it met a fence of an older epoch: a writer that
/// opened at the same time and lost the race for the manifest, whose own
/// fences may end above this round, where it would ship next. An object
/// of a newer epoch means a newer writer opened meanwhile: this one is
/// fenced.
pub(crate) async fn fence(
    store: &ObjectStore,
    ids: &mut Vec<u64>,
    epoch: u64,
    floor: u64,
) -> Result<Fences> {
    let fence = Bytes::from(shipped::encode(
        epoch,
        &[],
        None,
        crate::write::wal::record::RecordLayout::Timed,
    )?);
    let mut start = ids
        .last()
        .map_or(1, |last| last.saturating_add(1))
        .max(floor)
        .max(1);
    let mut width = 1;
    let mut fences = Vec::new();
    loop {
        let end = start.saturating_add(width);
        let attempts = (start..end).map(|id| {
            let (store, fence) = (store.clone(), fence.clone());
            async move {
                let name = ObjectName::ShippedWal(id).path();
                if store.put_if_absent(&name, fence.clone()).await? == PutOutcome::Created {
                    return Ok::<_, Error>((id, Taken::Ours));
                }
                let existing = store.get(&name).await?;
                if existing == fence {
                    // Our own earlier attempt (same epoch, no records).
                    return Ok((id, Taken::Ours));
                }
                let (their_epoch, run) = shipped::decode_header(&existing, &name)?;
                Ok((
                    id,
                    Taken::Other {
                        epoch: their_epoch,
                        fence: run.records == 0,
                    },
                ))
            }
        });
        let mut again = false;
        for (id, taken) in futures::future::try_join_all(attempts).await? {
            match taken {
                Taken::Ours => fences.push(id),
                Taken::Other { epoch: theirs, .. } if theirs > epoch => {
                    return Err(Error::Fenced {
                        our_epoch: epoch,
                        their_epoch: theirs,
                    });
                }
                Taken::Other { fence, .. } => {
                    again |= fence;
                    ids.push(id);
                }
            }
        }
        if !fences.is_empty() && !again {
            return Ok(Fences {
                ids: fences,
                next_id: end,
            });
        }
        start = end;
        width = FENCE_BATCH;
    }
}

/// Who holds an id a writer tried to fence.
enum Taken {
    Ours,
    /// Another writer's object: its epoch, and whether it is a fence.
    Other {
        epoch: u64,
        fence: bool,
    },
}

/// What replaying the shipped WAL found.
pub(crate) struct BucketReplay {
    /// The last sequence number applied (or `local_last`, if none was).
    pub applied: u64,
    /// The bucket holds every write through this one (flushed or shipped).
    pub bucket_through: u64,
    /// Objects read.
    pub objects: u64,
}

/// Applies, in id order, the writes of the objects `ids` that are above
/// both the manifest's `watermark` and `local_last` (the local WAL's last
/// write) to `mem`, and records each object's range in `index`. The writes
/// of the shipped WAL must continue the watermark without a gap: a gap means
/// an object is missing, and an object that fails its checksum is corrupt;
/// both are errors naming the object, never skipped.
pub(crate) async fn replay(
    store: &ObjectStore,
    ids: &[u64],
    mem: &Memtable,
    watermark: u64,
    local_last: u64,
    index: &ShippedIndex,
) -> Result<BucketReplay> {
    let mut bucket_through = watermark;
    let mut applied = watermark.max(local_last);
    let mut objects = 0u64;
    let fetch = |id: u64| {
        let store = store.clone();
        async move {
            let name = ObjectName::ShippedWal(id).path();
            // Absent: collected since the LIST, so at or below the watermark.
            let bytes = crate::write::wal::get_shipped(&store, &name).await?;
            Ok::<_, Error>(bytes.map(|b| (id, name, b)))
        }
    };
    let mut fetches =
        futures::stream::iter(ids.iter().copied().map(fetch)).buffered(REPLAY_PARALLELISM);
    while let Some(fetched) = fetches.try_next().await? {
        let Some((id, name, bytes)) = fetched else {
            continue;
        };
        objects += 1;
        let object = shipped::decode(&bytes, &name)?;
        index.insert(id, object.epoch, object.last_seq);
        for shipped::ShippedBatch {
            first,
            last: end,
            batch,
            time_ms,
        } in object.batches(&name)?
        {
            if end <= bucket_through {
                continue;
            }
            if first != bucket_through.saturating_add(1) {
                return Err(Error::corruption(
                    &name,
                    None,
                    format!(
                        "shipped WAL continues at sequence number {first}, but the bucket holds \
                         writes only through {bucket_through}: an earlier shipped object is missing"
                    ),
                ));
            }
            bucket_through = end;
            if end <= applied {
                continue; // in the local WAL already
            }
            if first != applied.saturating_add(1) {
                return Err(Error::corruption(
                    &name,
                    None,
                    format!(
                        "shipped WAL batch {first}..={end} overlaps the local WAL, which ends at \
                         {applied} inside it"
                    ),
                ));
            }
            mem.apply(&batch, first, time_ms);
            applied = end;
        }
    }
    Ok(BucketReplay {
        applied,
        bucket_through,
        objects,
    })
}

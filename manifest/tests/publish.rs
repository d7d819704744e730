//! Publishing manifest versions: sequencing, lost races, fencing, refresh and loading.

use std::collections::BTreeSet;

use bytes::Bytes;
use firn_manifest::{
    manifest_object, ChunkId, ChunkMeta, Manifest, ManifestEdit, ManifestError, ManifestStore,
    ObjectStore, SortedRun,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn chunk(epoch: u64, id: u64) -> ChunkMeta {
    ChunkMeta {
        id: ChunkId { epoch, id },
        size: 4096,
        meta_offset: 4000,
        meta_len: 96,
        entries: 10,
        tombstones: 1,
        min_key: format!("key{id:05}").into_bytes(),
        max_key: format!("key{id:05}~").into_bytes(),
        min_seq: id * 10,
        max_seq: id * 10 + 9,
    }
}

fn add_l0(c: ChunkMeta) -> ManifestEdit {
    ManifestEdit {
        wal_watermark: Some(c.max_seq),
        add_l0: vec![c],
        ..ManifestEdit::default()
    }
}

fn memory_url() -> String {
    format!(
        "memory://publish-{}",
        firn_manifest::store::clock::uuid().simple()
    )
}

fn open(url: &str) -> Result<ManifestStore, ManifestError> {
    Ok(ManifestStore::new(ObjectStore::from_url(url)?))
}

fn chunk_ids(m: &Manifest) -> BTreeSet<ChunkId> {
    m.all_chunks().map(|c| c.id).collect()
}

async fn sequencing(url: &str) -> TestResult {
    let ms = open(url)?;
    assert_eq!(ms.load_latest().await?, None);
    let v1 = ms.create([1; 16]).await?;
    assert_eq!((v1.version, v1.epoch), (1, 0));
    assert_eq!(
        ms.create([1; 16]).await?,
        v1,
        "create of an existing database loads it"
    );

    let mut current = ms.claim_writer(&v1).await?;
    assert_eq!((current.version, current.epoch), (2, 1));
    for id in 1..=5 {
        let next = ms.publish(&current, &add_l0(chunk(1, id)), 1).await?;
        assert_eq!(next.version, current.version + 1);
        assert_eq!(next.epoch, 1);
        assert!(next.published_at_ms > 0);
        current = next;
    }
    let l0: Vec<u64> = current.l0.iter().map(|c| c.id.id).collect();
    assert_eq!(l0, vec![5, 4, 3, 2, 1], "level 0 is newest first");
    assert_eq!(current.wal_watermark, 59);
    assert_eq!(current.next_chunk_id, 6);

    // Compact level 0 into a sorted run.
    let compacted = ms
        .publish(
            &current,
            &ManifestEdit {
                remove: current.l0.iter().map(|c| c.id).collect(),
                add_runs: vec![SortedRun {
                    id: current.next_run_id,
                    chunks: vec![chunk(1, 6)],
                }],
                ..ManifestEdit::default()
            },
            1,
        )
        .await?;
    assert!(compacted.l0.is_empty());
    assert_eq!(
        chunk_ids(&compacted),
        BTreeSet::from([ChunkId { epoch: 1, id: 6 }])
    );
    assert_eq!(compacted.version, 8);

    // A second claim records the watermark the first writer reached.
    let claimed = ms.claim_writer_as(&compacted, [9; 16]).await?;
    let claims: Vec<(u64, u64, u64)> = claimed
        .claims
        .iter()
        .map(|c| (c.epoch, c.version, c.wal_watermark))
        .collect();
    assert_eq!(claims, vec![(1, 2, 0), (2, 9, 59)]);
    assert_eq!(claimed.claim_after(1).map(|c| c.wal_watermark), Some(59));
    assert_eq!(claimed.claim_after(2), None);
    assert_eq!(claimed.claims[1].writer_id, [9; 16]);
    // The first claim named no directory, so nothing can be recorded for it.
    assert!(claimed.fenced.is_empty());
    assert_eq!(claimed.writer_id(), Some([9; 16]));
    let compacted = claimed;

    // Another handle on the same URL sees it all.
    let other = open(url)?;
    let before = other.store().requests();
    assert_eq!(other.load_latest().await?.as_ref(), Some(&compacted));
    let spent = other.store().requests().since(&before);
    assert_eq!(
        (spent.list, spent.get),
        (1, 1),
        "load_latest is one LIST and one GET"
    );
    assert_eq!(other.list_versions().await?, (1..=9).collect::<Vec<_>>());

    let before = other.store().requests();
    assert_eq!(other.refresh(&v1).await?, compacted);
    let spent = other.store().requests().since(&before);
    assert_eq!((spent.list, spent.get), (0, 9), "refresh never lists");
    assert_eq!(other.refresh(&compacted).await?, compacted);
    assert_eq!(other.load_version(3).await?.map(|m| m.version), Some(3));
    assert_eq!(other.load_version(99).await?, None);
    Ok(())
}

#[tokio::test]
async fn publish_sequencing_on_memory() -> TestResult {
    sequencing(&memory_url()).await
}

#[tokio::test]
async fn publish_sequencing_on_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    sequencing(&format!("file://{}", dir.path().display())).await?;
    assert!(dir.path().join(manifest_object(9)).is_file());
    Ok(())
}

/// Two publishers start from the same version: the loser re-applies its edit on the winner.
#[tokio::test]
async fn lost_race_reapplies_the_edit() -> TestResult {
    let url = memory_url();
    let (a, b) = (open(&url)?, open(&url)?);
    let v1 = a.create([2; 16]).await?;
    let base = a.claim_writer(&v1).await?;
    let won = a.publish(&base, &add_l0(chunk(1, 1)), 1).await?;
    let before = b.store().requests();
    let lost_then_won = b.publish(&base, &add_l0(chunk(1, 2)), 1).await?;
    assert_eq!((won.version, lost_then_won.version), (3, 4));
    assert_eq!(
        chunk_ids(&lost_then_won),
        BTreeSet::from([ChunkId { epoch: 1, id: 1 }, ChunkId { epoch: 1, id: 2 }])
    );
    // One refused create, read the winner, refresh past it, one successful create.
    let spent = b.store().requests().since(&before);
    assert_eq!((spent.put, spent.get, spent.list), (2, 2, 0));
    assert_eq!(a.load_version(3).await?, Some(won));

    // An edit that removes a chunk a concurrent change already removed is a conflict.
    let removed = a
        .publish(
            &lost_then_won,
            &ManifestEdit {
                remove: vec![ChunkId { epoch: 1, id: 1 }],
                ..ManifestEdit::default()
            },
            1,
        )
        .await?;
    let err = b
        .publish(
            &lost_then_won,
            &ManifestEdit {
                remove: vec![ChunkId { epoch: 1, id: 1 }],
                ..ManifestEdit::default()
            },
            1,
        )
        .await;
    assert!(
        matches!(err, Err(ManifestError::Conflict { .. })),
        "{err:?}"
    );
    assert_eq!(a.load_latest().await?, Some(removed));
    Ok(())
}

async fn publish_many(
    ms: ManifestStore,
    start: Manifest,
    ids: std::ops::Range<u64>,
) -> Result<Vec<u64>, ManifestError> {
    let mut current = start;
    let mut versions = Vec::new();
    for id in ids {
        current = ms.publish(&current, &add_l0(chunk(1, id)), 1).await?;
        versions.push(current.version);
        tokio::task::yield_now().await;
    }
    Ok(versions)
}

async fn racing_publishers(url: &str) -> TestResult {
    let setup = open(url)?;
    let v1 = setup.create([4; 16]).await?;
    let start = setup.claim_writer(&v1).await?;
    const EACH: u64 = 25;
    let a = tokio::spawn(publish_many(open(url)?, start.clone(), 100..100 + EACH));
    let b = tokio::spawn(publish_many(open(url)?, start.clone(), 200..200 + EACH));
    let (va, vb) = (a.await??, b.await??);

    // Each version was won by exactly one publisher, and together they are contiguous.
    let sa: BTreeSet<u64> = va.iter().copied().collect();
    let sb: BTreeSet<u64> = vb.iter().copied().collect();
    assert!(sa.is_disjoint(&sb), "a: {va:?} b: {vb:?}");
    let all: Vec<u64> = sa.union(&sb).copied().collect();
    assert_eq!(all, (3..3 + 2 * EACH).collect::<Vec<_>>());
    assert_eq!(
        setup.list_versions().await?,
        (1..3 + 2 * EACH).collect::<Vec<_>>()
    );

    // Both edits are all applied, each once, and every version extends the one before.
    let latest = setup.load_latest().await?.ok_or("no manifest")?;
    let expected: BTreeSet<ChunkId> = (100..100 + EACH)
        .chain(200..200 + EACH)
        .map(|id| ChunkId { epoch: 1, id })
        .collect();
    assert_eq!(chunk_ids(&latest), expected);
    assert_eq!(latest.l0.len() as u64, 2 * EACH);
    let mut previous = BTreeSet::new();
    for v in 3..3 + 2 * EACH {
        let m = setup.load_version(v).await?.ok_or("version missing")?;
        let ids = chunk_ids(&m);
        assert!(
            ids.is_superset(&previous) && ids.len() == previous.len() + 1,
            "version {v}"
        );
        previous = ids;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_publishers_on_memory() -> TestResult {
    racing_publishers(&memory_url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_publishers_on_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    racing_publishers(&format!("file://{}", dir.path().display())).await
}

#[tokio::test]
async fn a_newer_writer_fences_the_older_one() -> TestResult {
    let url = memory_url();
    let (a, b) = (open(&url)?, open(&url)?);
    let v1 = a.create([5; 16]).await?;
    let a_current = a.claim_writer(&v1).await?;
    assert_eq!(a_current.epoch, 1);

    let b_seen = b.load_latest().await?.ok_or("no manifest")?;
    let b_current = b.claim_writer(&b_seen).await?;
    assert_eq!((b_current.version, b_current.epoch), (3, 2));
    let b_bytes = b.store().get(&manifest_object(3)).await?;

    // A still believes version 2 is the newest; its create of version 3 loses to B's epoch.
    let err = a.publish(&a_current, &add_l0(chunk(1, 1)), 1).await;
    match err {
        Err(ManifestError::Fenced {
            our_epoch,
            their_epoch,
        }) => assert_eq!((our_epoch, their_epoch), (1, 2)),
        other => panic!("expected Fenced, got {other:?}"),
    }
    // A's create overwrote nothing and published nothing.
    assert_eq!(a.store().get(&manifest_object(3)).await?, b_bytes);
    assert_eq!(a.list_versions().await?, vec![1, 2, 3]);

    // Knowing the newer manifest, A is fenced without even trying.
    let before = a.store().requests();
    let err = a.publish(&b_current, &add_l0(chunk(1, 1)), 1).await;
    assert!(matches!(err, Err(ManifestError::Fenced { .. })), "{err:?}");
    assert_eq!(a.store().requests().since(&before).total_requests(), 0);

    // B carries on; a third writer claiming from a stale view ends up above both.
    let b_next = b.publish(&b_current, &add_l0(chunk(2, 1)), 2).await?;
    assert_eq!(b_next.version, 4);
    let c_current = open(&url)?.claim_writer(&v1).await?;
    assert_eq!((c_current.version, c_current.epoch), (5, 3));
    assert_eq!(chunk_ids(&c_current), chunk_ids(&b_next));
    let err = b.publish(&b_next, &add_l0(chunk(2, 2)), 2).await;
    assert!(
        matches!(
            err,
            Err(ManifestError::Fenced {
                our_epoch: 2,
                their_epoch: 3
            })
        ),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn corrupt_newest_version_is_named() -> TestResult {
    let url = memory_url();
    let ms = open(&url)?;
    let v1 = ms.create([6; 16]).await?;
    let v2 = ms.claim_writer(&v1).await?;
    // What a torn write would leave: the first half of a real version 3.
    let mut v3 = v2.clone();
    v3.version = 3;
    let bytes = firn_manifest::encode(&v3);
    ms.store()
        .put(
            &manifest_object(3),
            Bytes::copy_from_slice(&bytes[..bytes.len() / 2]),
        )
        .await?;
    ms.store()
        .put("manifest/notes.txt", Bytes::from_static(b"ignored"))
        .await?;
    let err = ms.load_latest().await.err().ok_or("expected an error")?;
    assert!(
        matches!(&err, ManifestError::Corrupt { object, .. } if object == &manifest_object(3)),
        "{err}"
    );
    assert!(err.to_string().contains(&manifest_object(3)), "{err}");
    // A writer following version 2 cannot get past it either, and says why.
    let err = ms.publish(&v2, &ManifestEdit::default(), 1).await;
    assert!(matches!(err, Err(ManifestError::Corrupt { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn another_database_is_a_mismatch() -> TestResult {
    let url = memory_url();
    let ms = open(&url)?;
    let v1 = ms.create([7; 16]).await?;
    ms.claim_writer(&v1).await?;
    let mut foreign = v1.clone();
    foreign.db_id = [8; 16];
    let err = ms.refresh(&foreign).await;
    assert!(
        matches!(err, Err(ManifestError::DatabaseMismatch { .. })),
        "{err:?}"
    );
    let err = ms.publish(&foreign, &ManifestEdit::default(), 1).await;
    assert!(
        matches!(err, Err(ManifestError::DatabaseMismatch { .. })),
        "{err:?}"
    );
    Ok(())
}

/// Replaces the store's temporary folder by a file, so every write fails until it is restored.
fn break_writes(root: &std::path::Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(root.join(".tmp"))?;
    std::fs::write(root.join(".tmp"), b"in the way")
}

fn restore_writes(root: &std::path::Path) -> std::io::Result<()> {
    std::fs::remove_file(root.join(".tmp"))?;
    std::fs::create_dir(root.join(".tmp"))
}

#[tokio::test]
async fn transient_store_errors_are_retried_then_returned() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();
    let ms = open(&format!("file://{}", root.display()))?;
    let v1 = ms.create([9; 16]).await?;
    let current = ms.claim_writer(&v1).await?;

    // Writes fail for a while, then recover: the publish gets through.
    break_writes(&root)?;
    let healer = tokio::spawn({
        let root = root.clone();
        async move {
            firn_manifest::store::clock::sleep(std::time::Duration::from_millis(50)).await;
            restore_writes(&root)
        }
    });
    let before = ms.store().requests();
    let next = ms.publish(&current, &add_l0(chunk(1, 1)), 1).await?;
    healer.await??;
    assert_eq!(next.version, 3);
    let spent = ms.store().requests().since(&before);
    assert!(spent.put >= 2, "the failed create was retried: {spent}");
    assert!(
        spent.get >= 1,
        "after a failed create the version is read first: {spent}"
    );
    assert_eq!(ms.load_latest().await?, Some(next.clone()));

    // Writes keep failing: after a bounded number of attempts the error comes back.
    break_writes(&root)?;
    let before = ms.store().requests();
    let err = ms.publish(&next, &add_l0(chunk(1, 2)), 1).await;
    let spent = ms.store().requests().since(&before);
    match err {
        Err(ManifestError::Store(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("put_if_absent") && msg.contains(&manifest_object(4)),
                "{msg}"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    assert!((2..=10).contains(&spent.put), "bounded attempts: {spent}");
    restore_writes(&root)?;
    assert_eq!(ms.list_versions().await?, vec![1, 2, 3]);
    Ok(())
}

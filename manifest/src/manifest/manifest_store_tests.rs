//! Tests of the publish loop that need crate-internal access.

use super::*;
use crate::manifest::{ChunkId, ChunkMeta};

fn chunk(id: u64) -> ChunkMeta {
    ChunkMeta {
        id: ChunkId { epoch: 1, id },
        size: 10,
        meta_offset: 5,
        meta_len: 5,
        entries: 1,
        tombstones: 0,
        min_key: b"k".to_vec(),
        max_key: b"k".to_vec(),
        min_seq: id,
        max_seq: id,
    }
}

fn memory_store() -> Result<ManifestStore, ManifestError> {
    Ok(ManifestStore::new(ObjectStore::from_url("memory://")?))
}

/// A create that landed although the caller did not hear back, then retried with the same
/// nonce, is recognised as success: the edit is applied once and no further version appears.
#[tokio::test]
async fn retried_create_with_our_nonce_is_recognised() -> Result<(), ManifestError> {
    let ms = memory_store()?;
    let v1 = ms.create([3; 16]).await?;
    let writer = ms.claim_writer(&v1).await?;
    let edit = ManifestEdit {
        add_l0: vec![chunk(1)],
        ..ManifestEdit::default()
    };
    let nonce = 0x5eed_5eed;
    let landed = ms
        .publish_with_nonce(&writer, &edit, writer.epoch, nonce)
        .await?;
    // The caller "lost" the answer and tries again from the same base with the same nonce.
    let before = ms.store().requests();
    let retried = ms
        .publish_with_nonce(&writer, &edit, writer.epoch, nonce)
        .await?;
    assert_eq!(retried, landed);
    assert_eq!(retried.version, writer.version + 1);
    assert_eq!(retried.l0.len(), 1, "the edit is applied exactly once");
    // One create (refused) and one read of the existing version; nothing newer was published.
    let spent = ms.store().requests().since(&before);
    assert_eq!((spent.put, spent.get), (1, 1));
    assert_eq!(ms.load_version(retried.version + 1).await?, None);
    let latest = ms.load_latest().await?;
    assert_eq!(latest.as_ref(), Some(&landed));
    Ok(())
}

/// The same retry with a different nonce is a lost race: the edit is re-applied on top of the
/// winner, which here conflicts because the chunk is already present.
#[tokio::test]
async fn retried_create_with_other_nonce_reapplies() -> Result<(), ManifestError> {
    let ms = memory_store()?;
    let v1 = ms.create([3; 16]).await?;
    let writer = ms.claim_writer(&v1).await?;
    let edit = ManifestEdit {
        add_l0: vec![chunk(1)],
        ..ManifestEdit::default()
    };
    ms.publish_with_nonce(&writer, &edit, writer.epoch, 1)
        .await?;
    let err = ms
        .publish_with_nonce(&writer, &edit, writer.epoch, 2)
        .await
        .err();
    assert!(
        matches!(err, Some(ManifestError::Conflict { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(1), FIRST_BACKOFF);
    assert_eq!(backoff(2), FIRST_BACKOFF * 2);
    assert_eq!(backoff(40), MAX_BACKOFF);
    assert_ne!(fresh_nonce(), 0);
}

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync + Clone>() {}

#[test]
fn handles_and_futures_can_cross_threads() -> Result<(), ManifestError> {
    assert_send_sync::<ObjectStore>();
    assert_send_sync::<ManifestStore>();
    let ms = memory_store()?;
    let m = Manifest::new([0; 16]);
    let edit = ManifestEdit::default();
    assert_send(&ms.publish(&m, &edit, 1));
    assert_send(&ms.claim_writer(&m));
    assert_send(&ms.refresh(&m));
    assert_send(&ms.load_latest());
    assert_send(&ms.create([0; 16]));
    assert_send(&ms.store().put_if_absent("a", bytes::Bytes::new()));
    assert_send(&ms.store().list(""));
    Ok(())
}

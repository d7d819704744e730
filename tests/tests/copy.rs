//! Copying a database between stores (`firn copy`, the backup command):
//! `file://` to S3 and back; the copy checks out and holds exactly the
//! source's state, including writes only in the shipped WAL; damage stops
//! the copy before any manifest is written.

use std::time::Duration;

use bytes::Bytes;
use firn::{copy_database, Db, Durability, WriteBatch, WriteOptions};
use firn_tests::{collect, s3_enabled, StoreKind, TestDb};

fn no_progress(_: firn::CopyProgress) {}

async fn fill(db: &Db) {
    for i in 0..300u32 {
        db.put(format!("key{i:04}"), format!("value{i}"))
            .await
            .unwrap();
    }
    db.delete("key0007").await.unwrap();
    db.flush().await.unwrap();
    // Unflushed writes, in the shipped WAL only.
    let mut batch = WriteBatch::new();
    batch.put("late", "shipped").delete("key0008");
    let remote = WriteOptions {
        durability: Some(Durability::Remote),
    };
    db.write_with(batch, remote).await.unwrap();
}

async fn everything(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    collect(db.scan::<&[u8], _>(..).unwrap()).await.unwrap()
}

async fn open_read_only(env: &TestDb, name: &str) -> Db {
    let mut opts = env.options_with_local(name);
    opts.read_only = true;
    Db::open(opts).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_to_s3_and_back_holds_the_source_state() {
    let src = TestDb::new(StoreKind::File, "copy-src");
    let mut opts = src.small_options();
    opts.flush_on_close = false;
    opts.wal_ship_interval = Duration::from_millis(100);
    let db = Db::open(opts).await.unwrap();
    fill(&db).await;
    let want = everything(&db).await;
    assert!(want.iter().any(|(k, _)| k == b"late"));
    let middle = if s3_enabled("a_copy_to_s3_and_back_holds_the_source_state") {
        TestDb::new(StoreKind::S3, "copy-middle")
    } else {
        TestDb::new(StoreKind::File, "copy-middle")
    };
    let back = TestDb::new(StoreKind::File, "copy-back");
    let report = copy_database(&src.objects(), &middle.objects(), None, &no_progress)
        .await
        .unwrap();
    assert!(report.chunks >= 1 && report.wal_objects >= 1, "{report:?}");
    copy_database(&middle.objects(), &back.objects(), None, &no_progress)
        .await
        .unwrap();
    for env in [&middle, &back] {
        let check = firn::inspect::verify(&env.objects()).await.unwrap();
        assert!(check.damaged.is_empty(), "{:?}", check.damaged);
        let copy = open_read_only(env, "reader").await;
        assert_eq!(everything(&copy).await, want, "{}", env.url);
    }
    // The copy is an ordinary database: a writer takes it on.
    let writer = Db::open(back.options_with_local("writer")).await.unwrap();
    writer.put("after", "copy").await.unwrap();
    assert_eq!(
        writer.get("late").await.unwrap(),
        Some(Bytes::from("shipped"))
    );
    writer.close().await.unwrap();
    // Copying into a database is refused, and changes nothing.
    let err = copy_database(&src.objects(), &back.objects(), None, &no_progress)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already holds a database"),
        "{err}"
    );
    drop(db);
}

#[tokio::test]
async fn a_damaged_chunk_stops_the_copy_before_the_manifest() {
    let src = TestDb::new(StoreKind::Memory, "copy-damaged");
    let db = Db::open(src.small_options()).await.unwrap();
    fill(&db).await;
    let chunk = src.list_objects("chunks/").await[0].path.clone();
    src.flip_object_byte(&chunk, 10, 0x01).await;
    let dest = TestDb::new(StoreKind::Memory, "copy-damaged-dest");
    let err = copy_database(&src.objects(), &dest.objects(), None, &no_progress)
        .await
        .unwrap_err();
    assert!(err.is_corruption(), "{err:?}");
    assert!(err.to_string().contains(&chunk), "{err}");
    assert!(dest.list_objects("manifest/").await.is_empty());
    drop(db);
}

#[tokio::test]
async fn a_checkpoint_copies_its_own_version() {
    let src = TestDb::new(StoreKind::Memory, "copy-checkpoint");
    let db = Db::open(src.small_options()).await.unwrap();
    db.put("k", "old").await.unwrap();
    db.checkpoint("before").await.unwrap();
    db.put("k", "new").await.unwrap();
    db.flush().await.unwrap();
    let dest = TestDb::new(StoreKind::Memory, "copy-checkpoint-dest");
    copy_database(
        &src.objects(),
        &dest.objects(),
        Some("before"),
        &no_progress,
    )
    .await
    .unwrap();
    let copy = open_read_only(&dest, "reader").await;
    assert_eq!(copy.get("k").await.unwrap(), Some(Bytes::from("old")));
    drop(db);
}

//! Writer fencing within one process: a second writer on the same database
//! fences the first; the first's flushed writes stay visible, its unflushed
//! WAL is never silently dropped or replayed over the new writer's data.

use firn::{Db, Durability, Error, Options};

fn opts(url: &str, local: &std::path::Path) -> Options {
    Options::new(url, local).durability(Durability::Sync)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_writer_stops_and_keeps_its_wal() {
    let url = format!("memory://fencing-{}", std::process::id());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let a = Db::open(opts(&url, dir_a.path())).await.unwrap();
    a.put("flushed", "by-a").await.unwrap();
    a.flush().await.unwrap();
    a.put("only-in-a-wal-1", "x").await.unwrap();
    a.put("only-in-a-wal-2", "y").await.unwrap();
    let a_epoch = a.epoch();

    let b = Db::open(opts(&url, dir_b.path())).await.unwrap();
    assert!(b.epoch() > a_epoch);
    assert_eq!(
        b.get("flushed").await.unwrap().as_deref(),
        Some(&b"by-a"[..])
    );
    assert_eq!(b.get("only-in-a-wal-1").await.unwrap(), None);
    b.put("by-b", "1").await.unwrap();
    b.flush().await.unwrap();

    // A's next publish is refused; from then on it accepts no writes.
    let err = a.flush().await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    let err = a.put("more", "z").await.unwrap_err();
    assert!(matches!(err, Error::Fenced { .. }), "{err}");
    assert!(a.close().await.unwrap_err().is_fenced());

    // Reopening A's local directory refuses to drop or replay its orphans,
    // and does not fence B.
    let err = match Db::open(opts(&url, dir_a.path())).await {
        Ok(_) => panic!("reopening a fenced local directory must fail"),
        Err(e) => e,
    };
    match &err {
        Error::FencedWrites {
            first_seq,
            last_seq,
            ..
        } => assert_eq!(last_seq - first_seq, 1, "{err}"),
        other => panic!("expected FencedWrites, got {other}"),
    }
    assert!(
        err.to_string().contains("never reached the bucket"),
        "{err}"
    );
    let orphans = firn::read_local_wal(dir_a.path()).unwrap();
    let keys: Vec<_> = orphans
        .iter()
        .flat_map(|b| b.batch.ops().iter().map(|op| op.key().clone()))
        .collect();
    assert!(keys.iter().any(|k| k.as_ref() == b"only-in-a-wal-2"));
    b.put("still-writing", "yes").await.unwrap();
    b.flush().await.unwrap();

    // Discarding the orphans (deleting the WAL) lets the directory open again.
    std::fs::remove_dir_all(dir_a.path().join("wal")).unwrap();
    b.close().await.unwrap();
    let a2 = Db::open(opts(&url, dir_a.path())).await.unwrap();
    assert_eq!(a2.get("by-b").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(a2.get("only-in-a-wal-1").await.unwrap(), None);
    a2.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_writer_on_one_local_dir_is_locked_out() {
    let url = format!("memory://locked-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let a = Db::open(opts(&url, dir.path())).await.unwrap();
    let err = match Db::open(opts(&url, dir.path())).await {
        Ok(_) => panic!("second writer on one local directory must fail"),
        Err(e) => e,
    };
    assert!(matches!(err, Error::Locked(_)), "{err}");
    a.close().await.unwrap();
    Db::open(opts(&url, dir.path()))
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

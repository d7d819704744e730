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

/// Opens `dir` as writer, expecting `FencedWrites`; returns (first, last, exact).
async fn expect_fenced_writes(url: &str, dir: &std::path::Path) -> (u64, u64, bool) {
    match Db::open(opts(url, dir)).await {
        Ok(_) => panic!("reopening a fenced local directory must fail"),
        Err(Error::FencedWrites {
            first_seq,
            last_seq,
            exact,
            ..
        }) => (first_seq, last_seq, exact),
        Err(other) => panic!("expected FencedWrites, got {other}"),
    }
}

/// However many writers open the database after a writer was fenced with
/// acknowledged writes only in its WAL, reopening its directory names exactly
/// those writes, and re-applying that range (what `wal-export --from-seq`
/// does) restores every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fenced_range_is_exact_after_thousands_of_writer_opens() {
    const OPENS: usize = 2000;
    let url = format!("memory://fence-history-{}", std::process::id());
    let dir_a = tempfile::tempdir().unwrap();

    // A: some writes flushed, then acknowledged writes only in its WAL; killed.
    let a = Db::open(opts(&url, dir_a.path())).await.unwrap();
    for i in 0..10 {
        a.put(format!("flushed-{i}"), "a").await.unwrap();
    }
    a.flush().await.unwrap();
    let mut first_unflushed = None;
    let mut last_unflushed = 0;
    for i in 0..20 {
        let mut batch = firn::WriteBatch::new();
        batch
            .put(format!("stranded-{i}"), format!("v{i}"))
            .put(format!("flushed-{}", i % 10), format!("overwritten-{i}"));
        let last = a.write(batch).await.unwrap();
        first_unflushed.get_or_insert(last - 1);
        last_unflushed = last;
    }
    drop(a);

    // Thousands of writer opens from other directories: one directory
    // reopened again and again, fresh directories, clean closes and a few
    // crashes that strand writes of their own.
    let dir_b = tempfile::tempdir().unwrap();
    let mut stranded_dirs = Vec::new();
    for i in 0..OPENS {
        let fresh = tempfile::tempdir().unwrap();
        let dir = if i % 2 == 0 {
            dir_b.path()
        } else {
            fresh.path()
        };
        let db = Db::open(opts(&url, dir)).await.unwrap();
        if i % 50 == 0 {
            db.put(format!("by-other-{i}"), "x").await.unwrap();
        }
        if i % 500 == 1 {
            // Crash with an acknowledged write only in this directory's WAL.
            db.put(format!("crashed-{i}"), "lost-for-now")
                .await
                .unwrap();
            drop(db);
            stranded_dirs.push(fresh);
        } else {
            db.close().await.unwrap();
        }
    }

    // What the manifest keeps is bounded by the directories with stranded
    // writes, not by the number of opens.
    let c_dir = tempfile::tempdir().unwrap();
    let c = Db::open(opts(&url, c_dir.path())).await.unwrap();
    let manifest = c.manifest();
    assert!(manifest.epoch > OPENS as u64);
    assert_eq!(
        manifest.fenced.len(),
        1 + stranded_dirs.len(),
        "one fence record per directory with stranded writes: {:?}",
        manifest.fenced
    );

    let (first, last, exact) = expect_fenced_writes(&url, dir_a.path()).await;
    assert_eq!(
        (first, last, exact),
        (first_unflushed.unwrap(), last_unflushed, true)
    );
    // Re-apply exactly that range, as `wal-export --from-seq` does.
    for b in firn::read_local_wal(dir_a.path()).unwrap() {
        if b.first_seq >= first {
            c.write(b.batch).await.unwrap();
        }
    }
    for i in 0..20 {
        assert_eq!(
            c.get(format!("stranded-{i}")).await.unwrap().as_deref(),
            Some(format!("v{i}").as_bytes())
        );
    }
    for i in 0..10 {
        assert_eq!(
            c.get(format!("flushed-{i}")).await.unwrap().as_deref(),
            Some(format!("overwritten-{}", i + 10).as_bytes())
        );
    }
    // Each crashed directory reports exactly its one stranded write.
    for dir in &stranded_dirs {
        let (first, last, exact) = expect_fenced_writes(&url, dir.path()).await;
        assert!(exact);
        assert_eq!(first, last, "one stranded write");
    }
    c.close().await.unwrap();

    // Once A's WAL is dealt with, A opens again and its record goes.
    std::fs::remove_dir_all(dir_a.path().join("wal")).unwrap();
    let a = Db::open(opts(&url, dir_a.path())).await.unwrap();
    assert_eq!(a.manifest().fenced.len(), stranded_dirs.len());
    assert_eq!(
        a.get("stranded-19").await.unwrap().as_deref(),
        Some(&b"v19"[..])
    );
    a.close().await.unwrap();
}

/// A writer that closed cleanly leaves no fence record behind, and its
/// directory reopens after other writers without replaying anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_close_leaves_no_fence_record() {
    let url = format!("memory://clean-close-{}", std::process::id());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Db::open(opts(&url, dir_a.path())).await.unwrap();
    a.put("k", "a").await.unwrap();
    a.close().await.unwrap();
    let b = Db::open(opts(&url, dir_b.path())).await.unwrap();
    assert!(b.manifest().fenced.is_empty(), "{:?}", b.manifest().fenced);
    b.put("k", "b").await.unwrap();
    drop(b); // crash: B's write is only in B's WAL
    let a = Db::open(opts(&url, dir_a.path())).await.unwrap();
    let fenced = &a.manifest().fenced;
    assert_eq!(fenced.len(), 1, "B stranded a write: {fenced:?}");
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"a"[..]));
    a.close().await.unwrap();
    let (first, last, exact) = expect_fenced_writes(&url, dir_b.path()).await;
    assert_eq!((first, last, exact), (2, 2, true));
}

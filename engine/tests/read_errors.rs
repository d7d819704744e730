//! A chunk the manifest references but the bucket lost is a corruption error
//! naming the object and what the manifest expected; when the reading
//! handle's manifest was last confirmed current longer than the GC grace
//! period ago, it is `Error::Collected`: the writer probably collected the
//! chunk, and the handle refreshes.

use std::time::Duration;

use firn::{Db, Options};

fn opts(dir: &std::path::Path) -> Options {
    Options::embedded(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_chunk_says_whether_gc_may_have_taken_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(opts(dir.path())).await.unwrap();
    for i in 0..100 {
        db.put(format!("k{i:03}"), "v").await.unwrap();
    }
    db.close().await.unwrap();
    let chunk = std::fs::read_dir(dir.path().join("objects/chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "chunk"))
        .unwrap();
    let name = format!("chunks/{}", chunk.file_name().unwrap().to_str().unwrap());

    for (grace, expect) in [
        (Duration::from_secs(3600), "firn verify"),
        (Duration::ZERO, "collected"),
    ] {
        let mut o = opts(dir.path());
        o.read_only = true;
        o.gc_grace = grace;
        // A fresh local directory: nothing of the chunk is cached.
        let local = tempfile::tempdir().unwrap();
        o.local_dir = local.path().to_path_buf();
        let reader = Db::open(o).await.unwrap();
        let saved = std::fs::read(&chunk).unwrap();
        std::fs::remove_file(&chunk).unwrap();
        let err = reader.get("k001").await.unwrap_err();
        std::fs::write(&chunk, &saved).unwrap();
        let msg = err.to_string();
        assert!(msg.contains(&name), "{msg}");
        if grace.is_zero() {
            assert!(matches!(err, firn::Error::Collected { .. }), "{err:?}");
            assert!(msg.contains("retry the read"), "{msg}");
        } else {
            assert!(err.is_corruption(), "{err}");
            assert!(msg.contains("missing from the bucket"), "{msg}");
        }
        assert!(msg.contains(expect), "grace {grace:?}: {msg}");
        // Restored, the same handle reads it.
        assert_eq!(
            reader.get("k001").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
}

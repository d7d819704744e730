//! A takeover that dies between its claim and its replay of the shipped WAL
//! (a crash point in a child process), followed by a second takeover from
//! the same directory: the first writer's fence record must still say
//! exactly which of its writes never reached the bucket. Its shipped
//! writes were taken over by the second claim, so reopening the first
//! writer's directory reports only the writes it never shipped — not the
//! shipped ones too, which a user would then re-apply over newer data.

use std::path::{Path, PathBuf};
use std::time::Duration;

use firn::{Db, Durability, Error, Options, WriteOptions};
use firn_tests::child_test::{aborted, run_child_test};

const SHIPPED: u64 = 40;
const LOCAL_ONLY: u64 = 7;

fn opts(bucket: &Path, local: &Path) -> Options {
    let mut o = Options::new(format!("file://{}", bucket.display()), local);
    o.wal_ship_interval = Duration::from_secs(3600);
    o.flush_on_close = false;
    o
}

/// The child: claims the database from directory `b` and dies at the armed
/// crash point, right after fencing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_claims_and_dies() {
    let Ok(root) = std::env::var("FIRN_TAKEOVER_CRASH_DIR") else {
        return;
    };
    let root = PathBuf::from(root);
    let _ = Db::open(opts(&root.join("bucket"), &root.join("b"))).await;
    println!("the open returned: the crash point was not reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_that_died_after_fencing_leaves_the_fence_record_exact() {
    if std::env::var("FIRN_TAKEOVER_CRASH_DIR").is_ok() {
        return;
    }
    let root = tempfile::tempdir().expect("temp dir");
    let bucket = root.path().join("bucket");
    // Writer A: shipped writes, then writes only in its local WAL; dies.
    let a = Db::open(opts(&bucket, &root.path().join("a")))
        .await
        .expect("open a");
    let remote = WriteOptions {
        durability: Some(Durability::Remote),
    };
    for i in 0..SHIPPED {
        let mut b = firn::WriteBatch::new();
        b.put(format!("shipped{i:03}"), "s");
        a.write_with(b, remote).await.expect("remote write");
    }
    for i in 0..LOCAL_ONLY {
        a.put(format!("local{i:03}"), "l").await.expect("put");
    }
    drop(a);

    // Writer B's first claim dies right after fencing A.
    let (lines, status) = run_child_test(
        "child_claims_and_dies",
        &[
            ("FIRN_CRASH_POINT", Path::new("open.after_fence")),
            ("FIRN_TAKEOVER_CRASH_DIR", root.path()),
        ],
    );
    assert!(
        aborted(&status),
        "the child did not die at the crash point: {lines:?} {status}"
    );

    // B again: it takes over A's shipped writes.
    let b = Db::open(opts(&bucket, &root.path().join("b")))
        .await
        .expect("open b");
    for i in 0..SHIPPED {
        assert!(
            b.get(format!("shipped{i:03}"))
                .await
                .expect("get")
                .is_some(),
            "shipped write {i} was taken over"
        );
    }
    assert_eq!(b.get("local000").await.expect("get"), None);

    // A's directory reports exactly its unshipped writes.
    match Db::open(opts(&bucket, &root.path().join("a"))).await {
        Err(Error::FencedWrites {
            first_seq,
            last_seq,
            exact,
            ..
        }) => {
            assert!(exact);
            assert_eq!(
                (first_seq, last_seq),
                (SHIPPED + 1, SHIPPED + LOCAL_ONLY),
                "only the writes A never shipped are stranded"
            );
        }
        other => panic!(
            "expected FencedWrites, got {:?}",
            other.map(|_| "an open handle")
        ),
    }
    b.close().await.expect("close b");
}

//! `firn status`, `--durability` and the shipping flags: what scripts rely
//! on (JSON keys, flag names).

mod common;

use common::*;

#[test]
fn a_remote_put_is_in_the_bucket_and_status_reports_it() {
    let (_dir, db) = temp_db();
    // Remote: acknowledged once shipped; no flush on the way (the close
    // flushes afterwards, so look at a fresh reader of the bucket only).
    firn(&db, &["put", "k1", "v1", "--durability", "remote"]).ok();
    firn(&db, &["--wal-ship-interval", "50ms", "put", "k2", "v2"]).ok();
    firn(
        &db,
        &[
            "delete",
            "k2",
            "--durability",
            "sync",
            "--wal-ship-bytes",
            "64KiB",
        ],
    )
    .ok();
    let run = firn(&db, &["status", "--json"]).ok();
    let doc = json(&run.stdout);
    for key in [
        "visible_seq",
        "local_synced_seq",
        "bucket_durable_seq",
        "oldest_unshipped_ms",
        "wal_watermark",
        "shipped_wal_objects",
        "wal_objects_read",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing: {}", run.stdout);
    }
    // Every write was flushed by its command's close.
    assert_eq!(
        doc["bucket_durable_seq"], doc["visible_seq"],
        "{}",
        run.stdout
    );
    assert_eq!(doc["wal_watermark"], doc["visible_seq"], "{}", run.stdout);
    assert!(
        doc["shipped_wal_objects"].as_u64().unwrap() >= 1,
        "{}",
        run.stdout
    );
    let text = firn(&db, &["status"]).ok();
    assert!(
        text.stdout.contains("bucket_durable_seq: "),
        "{}",
        text.stdout
    );
    assert_eq!(firn(&db, &["get", "k1"]).ok().stdout, "v1\n");
    assert_eq!(firn(&db, &["get", "k2"]).code, 1);
}

#[test]
fn bad_shipping_flags_and_durability_names_are_refused() {
    let (_dir, db) = temp_db();
    for args in [
        &["--wal-ship-interval", "soon", "put", "k", "v"][..],
        &["--wal-ship-interval", "5 parsecs", "put", "k", "v"],
        &["--wal-ship-bytes", "8MB", "put", "k", "v"],
        &["put", "k", "v", "--durability", "eventually"],
        &["load", "--sync", "--durability", "remote"],
    ] {
        let run = firn(&db, args);
        assert_ne!(run.code, 0, "{args:?} must fail");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
    // Nothing was written: not even the database was created.
    let run = firn(&db, &["get", "k"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn load_with_remote_durability_echoes_keys_once_shipped() {
    let (_dir, db) = temp_db();
    let input: String = (0..50).map(|i| format!("put\tkey{i:03}\tv{i}\n")).collect();
    let run = firn_in(
        &db,
        &[
            "load",
            "--durability",
            "remote",
            "--batch",
            "10",
            "--echo-acks",
        ],
        &input,
    )
    .ok();
    assert_eq!(run.stdout.lines().count(), 50, "{}", run.stdout);
    assert_eq!(firn(&db, &["get", "key049"]).ok().stdout, "v49\n");
}

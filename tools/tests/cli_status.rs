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
        "applied_seq",
        "lag_ms",
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
    assert_eq!(doc["applied_seq"], doc["visible_seq"], "{}", run.stdout);
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

#[test]
fn wal_dump_decodes_local_segments_and_shipped_objects() {
    let (_dir, db) = temp_db();
    // Remote writes are shipped before they are acknowledged; the shipped
    // objects stay in the bucket after the commands' closes flush them.
    let input: String = (0..30).map(|i| format!("put\tk{i:02}\tv{i}\n")).collect();
    firn_in(
        &db,
        &["load", "--durability", "remote", "--batch", "10"],
        &input,
    )
    .ok();
    firn(&db, &["put", "tail", "x", "--durability", "remote"]).ok();

    let run = firn(&db, &["wal-dump", "--shipped", "--json"]).ok();
    let sources: Vec<serde_json::Value> = run.stdout.lines().map(json).collect();
    assert!(
        sources
            .iter()
            .any(|s| s["records"].as_array().unwrap().is_empty()),
        "a fence"
    );
    let puts: Vec<String> = sources
        .iter()
        .flat_map(|s| s["records"].as_array().unwrap().clone())
        .flat_map(|r| r["ops"].as_array().unwrap().clone())
        .map(|op| op["key"].as_str().unwrap().to_string())
        .collect();
    assert!(
        puts.contains(&"k00".to_string()) && puts.contains(&"tail".to_string()),
        "{puts:?}"
    );
    for s in &sources {
        assert_eq!(s["shipped"], true);
        assert!(s["name"].as_str().unwrap().starts_with("wal/"), "{s}");
        for r in s["records"].as_array().unwrap() {
            assert!(r["last_seq"].as_u64() >= r["first_seq"].as_u64(), "{r}");
        }
    }
    let text = firn(&db, &["wal-dump", "--shipped"]).ok();
    assert!(text.stdout.contains("(a fence)"), "{}", text.stdout);
    assert!(text.stdout.contains("    put\tk05\tv5"), "{}", text.stdout);
    let verified = firn(&db, &["wal-dump", "--shipped", "--verify"]).ok();
    assert!(verified.stdout.starts_with("ok: "), "{}", verified.stdout);
    // verify covers shipped objects too.
    let ok = firn(&db, &["verify"]).ok();
    assert!(ok.stdout.contains("shipped WAL objects"), "{}", ok.stdout);

    // A flipped byte in a shipped object: both name it, exit 2.
    let objects = db.join("objects").join("wal");
    let biggest = std::fs::read_dir(&objects)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&biggest).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x20;
    std::fs::write(&biggest, &bytes).unwrap();
    let name = format!("wal/{}", biggest.file_name().unwrap().to_str().unwrap());
    for args in [&["wal-dump", "--shipped"][..], &["verify"]] {
        let bad = firn(&db, args);
        assert_eq!(bad.code, 2, "{args:?}: {}", bad.stderr);
        assert!(bad.stderr.contains(&name), "{args:?}: {}", bad.stderr);
    }
}

#[test]
fn wal_dump_reads_the_local_segments() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "a", "1"]).ok();
    // The local WAL of a closed writer holds its (flushed) last segment.
    let run = firn(&db, &["wal-dump", "--json"]).ok();
    for line in run.stdout.lines() {
        let s = json(line);
        assert_eq!(s["shipped"], false, "{s}");
    }
    let verified = firn(&db, &["wal-dump", "--verify"]).ok();
    assert!(verified.stdout.starts_with("ok: "), "{}", verified.stdout);
    let missing = firn(&db.join("nowhere"), &["wal-dump"]);
    assert_ne!(missing.code, 0);
}

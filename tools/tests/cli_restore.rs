//! `firn retention [--set DURATION]` and `firn restore SRC DEST (--to-seq N
//! | --to-time T)`, as scripts use them.

mod common;

use common::*;

#[test]
fn retention_then_restore_by_seq_and_by_time() {
    let (dir, db) = temp_db();
    let db_s = db.to_str().unwrap();
    firn(&db, &["put", "a", "1", "--durability", "remote"]).ok();
    let off = firn(&db, &["retention"]).ok().stdout;
    assert!(off.contains("off"), "{off}");
    let set = firn(&db, &["retention", "--set", "2h", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_str(set.stdout.trim()).unwrap();
    assert_eq!(json["history_retention_ms"], 7_200_000, "{json}");
    // A database setting: a later handle sees it.
    let shown = firn(&db, &["retention", "--json"]).ok().stdout;
    assert!(shown.contains("7200000"), "{shown}");

    let status: serde_json::Value =
        serde_json::from_str(firn(&db, &["status", "--json"]).ok().stdout.trim()).unwrap();
    let first_seq = status["visible_seq"].as_u64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let between = humantime_now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    firn(&db, &["put", "b", "2", "--durability", "remote"]).ok();
    firn(&db, &["delete", "a", "--durability", "remote"]).ok();

    let by_seq = dir.path().join("by-seq");
    let run = firn(
        &db,
        &[
            "restore",
            db_s,
            by_seq.to_str().unwrap(),
            "--to-seq",
            &first_seq.to_string(),
            "--json",
        ],
    )
    .ok();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["seq"], first_seq, "{report}");
    for key in [
        "db_id",
        "committed_at_ms",
        "base_version",
        "batches_replayed",
        "bytes_written",
    ] {
        assert!(report.get(key).is_some(), "no {key} in {report}");
    }
    assert_eq!(firn(&by_seq, &["scan"]).ok().stdout, "a\t1\n");

    let by_time = dir.path().join("by-time");
    let run = firn(
        &db,
        &[
            "restore",
            db_s,
            by_time.to_str().unwrap(),
            "--to-time",
            &between,
        ],
    )
    .ok();
    assert!(run.stdout.contains("restored"), "{}", run.stdout);
    assert_eq!(firn(&by_time, &["scan"]).ok().stdout, "a\t1\n");
    // Now: everything.
    let now = dir.path().join("now");
    firn(
        &db,
        &[
            "restore",
            db_s,
            now.to_str().unwrap(),
            "--to-time",
            &humantime_now(),
        ],
    )
    .ok();
    assert_eq!(firn(&now, &["scan"]).ok().stdout, "b\t2\n");

    // A bad time: exit 3, one line naming the format; nothing written.
    let bad_dest = dir.path().join("bad");
    let bad = firn(
        &db,
        &[
            "restore",
            db_s,
            bad_dest.to_str().unwrap(),
            "--to-time",
            "yesterday",
        ],
    );
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
    assert_one_error_line(&bad);
    assert!(!bad_dest.join("objects").exists());
    // Neither --to-seq nor --to-time: a usage error.
    let none = firn(&db, &["restore", db_s, bad_dest.to_str().unwrap()]);
    assert_ne!(none.code, 0);
}

/// The current time as RFC 3339 with milliseconds.
fn humantime_now() -> String {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(firn_store::clock::now_ms());
    humantime::format_rfc3339_millis(now).to_string()
}

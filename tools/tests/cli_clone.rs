//! `firn clone SRC DEST` and `firn drop URL`, as scripts use them.

mod common;

use common::*;

#[test]
fn clone_then_drop_as_scripts_use_them() {
    let (dir, db) = temp_db();
    let db_s = db.to_str().unwrap();
    firn(&db, &["put", "a", "1"]).ok();
    firn(&db, &["put", "b", "2"]).ok();
    firn(&db, &["flush"]).ok();
    let dest = dir.path().join("clone");
    let dest_s = dest.to_str().unwrap();
    let run = firn(&db, &["clone", db_s, dest_s]).ok();
    assert!(run.stdout.contains("referenced in place"), "{}", run.stdout);
    assert_eq!(firn(&dest, &["scan"]).ok().stdout, "a\t1\nb\t2\n");
    // No chunk was copied: the clone's folder holds no chunk files.
    assert!(
        chunk_files(&dest).is_empty(),
        "the clone copied chunks: {:?}",
        chunk_files(&dest)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(firn(&dest, &["manifest", "--json"]).ok().stdout.trim()).unwrap();
    assert_eq!(
        manifest["sources"].as_array().unwrap().len(),
        1,
        "{manifest}"
    );
    assert!(
        manifest["sources"][0]["pin"]
            .as_str()
            .unwrap()
            .starts_with("clone-"),
        "{manifest}"
    );
    // They diverge.
    firn(&dest, &["put", "c", "3"]).ok();
    firn(&db, &["put", "z", "9"]).ok();
    assert_eq!(firn(&dest, &["scan"]).ok().stdout, "a\t1\nb\t2\nc\t3\n");
    assert_eq!(firn(&db, &["scan"]).ok().stdout, "a\t1\nb\t2\nz\t9\n");

    // --json: the report's keys.
    let json_dest = dir.path().join("clone2");
    let run = firn(&db, &["clone", db_s, json_dest.to_str().unwrap(), "--json"]).ok();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    for key in [
        "db_id",
        "source_version",
        "chunks",
        "chunk_bytes",
        "wal_objects",
        "bytes_written",
        "pin",
        "sources",
    ] {
        assert!(report.get(key).is_some(), "no {key} in {report}");
    }
    assert!(report["bytes_written"].as_u64().unwrap() < 8192, "{report}");

    // The source has clones: dropping it is refused (exit 3), nothing changes.
    let refused = firn(&db, &["drop", db_s]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("has clones"), "{}", refused.stderr);
    assert_one_error_line(&refused);
    assert_eq!(firn(&db, &["scan"]).ok().stdout, "a\t1\nb\t2\nz\t9\n");

    // Dropping the clones releases their pins in the source.
    let run = firn(&dest, &["drop", dest_s, "--json"]).ok();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["pins_released"], 1, "{report}");
    assert!(report["objects_deleted"].as_u64().unwrap() >= 3, "{report}");
    firn(&json_dest, &["drop", json_dest.to_str().unwrap()]).ok();
    let pins = firn(&db, &["checkpoint", "list"]).ok().stdout;
    assert!(!pins.contains("clone-"), "{pins}");
    // Now the source drops.
    let run = firn(&db, &["drop", db_s]).ok();
    assert!(run.stdout.contains("dropped"), "{}", run.stdout);
    assert!(chunk_files(&db).is_empty());
    // A missing database: exit 1.
    let missing = firn(&db, &["drop", "/nonexistent/firn-db"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
}

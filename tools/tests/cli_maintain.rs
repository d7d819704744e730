//! `compact`, `gc`, `checkpoint` and `stats` totals through the binary.

mod common;

use common::{chunk_files, firn, firn_in, temp_db};

#[test]
fn delete_everything_compact_and_collect() {
    let (_dir, db) = temp_db();
    let mut lines = String::new();
    for i in 0..2000 {
        lines.push_str(&format!("put\tkey{i:05}\tvalue {i}\n"));
    }
    firn_in(&db, &["load"], &lines).ok();
    let mut deletes = String::new();
    for i in 0..2000 {
        deletes.push_str(&format!("del\tkey{i:05}\n"));
    }
    firn_in(&db, &["load"], &deletes).ok();
    let run = firn(&db, &["compact"]).ok();
    assert!(run.stdout.contains("compacted"), "{}", run.stdout);
    assert_eq!(firn(&db, &["scan"]).ok().stdout, "");
    let gc = firn(&db, &["gc", "--grace", "0"]).ok();
    assert!(gc.stdout.starts_with("deleted "), "{}", gc.stdout);
    // Every chunk left in the bucket holds no tombstone.
    let chunks = chunk_files(&db);
    assert!(!chunks.is_empty() || gc.stdout.contains("kept 0 chunks"));
    for chunk in chunks {
        let v: serde_json::Value = serde_json::from_str(
            &firn(&db, &["chunk-dump", "--json", chunk.to_str().unwrap()])
                .ok()
                .stdout,
        )
        .unwrap();
        assert_eq!(v["properties"]["tombstones"], 0, "{}", chunk.display());
    }
    let stats = firn(&db, &["stats", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    assert!(
        v["totals"]["compactions"].as_u64().unwrap() >= 1,
        "{}",
        stats.stdout
    );
    assert!(v["totals"]["flush_bytes"].as_u64().unwrap() > 0);
    assert!(v["totals"]["write_amplification"].as_f64().unwrap() >= 1.0);
}

#[test]
fn checkpoints_pin_what_they_saw() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k", "before"]).ok();
    let made = firn(&db, &["checkpoint", "create", "v1"]).ok();
    assert!(
        made.stdout.contains("checkpoint v1 pins manifest version"),
        "{}",
        made.stdout
    );
    firn(&db, &["put", "k", "after"]).ok();
    firn(&db, &["compact"]).ok();
    firn(&db, &["gc", "--grace", "0"]).ok();
    assert_eq!(firn(&db, &["get", "k"]).ok().stdout, "after\n");
    assert_eq!(
        firn(&db, &["--checkpoint", "v1", "get", "k"]).ok().stdout,
        "before\n"
    );
    let list = firn(&db, &["checkpoint", "list"]).ok();
    assert!(
        list.stdout.starts_with("v1\tmanifest_version="),
        "{}",
        list.stdout
    );
    let refused = firn(&db, &["--checkpoint", "v1", "put", "k", "x"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    let dup = firn(&db, &["checkpoint", "create", "v1"]);
    assert_eq!(dup.code, 3, "{}", dup.stderr);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    firn(&db, &["checkpoint", "delete", "v1"]).ok();
    assert_eq!(firn(&db, &["checkpoint", "list"]).ok().stdout, "");
    let gone = firn(&db, &["--checkpoint", "v1", "get", "k"]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
}

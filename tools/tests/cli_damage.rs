//! Exit codes and messages for damaged databases and bad input: a chunk the
//! manifest references that is missing or cut short, damaged local identity
//! files, and `load` input the command refuses.

mod common;

use std::ffi::OsStr;

use common::*;

fn loaded_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, db) = temp_db();
    let input: String = (0..500)
        .map(|i| format!("put\tkey{i:05}\tvalue number {i}\n"))
        .collect();
    firn_in(&db, &["load"], &input).ok();
    (dir, db)
}

fn chunk_name(db: &std::path::Path) -> (std::path::PathBuf, String) {
    let chunk = chunk_files(db).pop().expect("a chunk");
    let name = chunk.file_name().and_then(OsStr::to_str).expect("name");
    let name = format!("chunks/{name}");
    (chunk, name)
}

#[test]
fn a_missing_chunk_is_corruption_for_get_scan_and_verify() {
    let (_dir, db) = loaded_db();
    let (chunk, name) = chunk_name(&db);
    let size = std::fs::metadata(&chunk).unwrap().len();
    std::fs::remove_file(&chunk).unwrap();
    for args in [&["get", "key00007"][..], &["scan"], &["verify"]] {
        let run = firn(&db, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_one_error_line(&run);
        assert!(run.stderr.contains(&name), "{args:?}: {}", run.stderr);
        if args[0] != "verify" {
            assert!(
                run.stderr.contains("missing from the bucket")
                    && run.stderr.contains(&format!("records it as {size} bytes")),
                "{args:?}: {}",
                run.stderr
            );
            // Within the GC grace period: not Firn's GC.
            assert!(run.stderr.contains("firn verify"), "{}", run.stderr);
        }
    }
}

#[test]
fn a_chunk_shorter_than_the_manifest_says_is_corruption() {
    let (_dir, db) = loaded_db();
    let (chunk, name) = chunk_name(&db);
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 3]).unwrap();
    // A fresh local directory: the index must come from the (cut) chunk too.
    let local = tempfile::tempdir().unwrap();
    let url = format!("file://{}", db.join("objects").display());
    for args in [&["get", "key00400"][..], &["scan"]] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_firn"));
        cmd.args(["--db", &url, "--local"])
            .arg(local.path())
            .args(args);
        let run = run_cmd(cmd, b"");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_one_error_line(&run);
        assert!(
            run.stderr.contains(&name) && run.stderr.contains("shorter than the manifest says"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let run = firn(&db, &["verify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn damaged_local_identity_files_are_named_and_called_damaged() {
    let (_dir, db) = loaded_db();
    let identity = db.join("local/IDENTITY");
    let good = std::fs::read(&identity).unwrap();
    for (what, bytes) in [
        ("not UTF-8", b"firn-db \xff\xfe\n".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
    ] {
        std::fs::write(&identity, &bytes).unwrap();
        for args in [&["get", "key00001"][..], &["put", "k", "v"]] {
            let run = firn(&db, args);
            assert_eq!(run.code, 2, "{what} {args:?}: {}", run.stderr);
            assert_one_error_line(&run);
            assert!(
                run.stderr.contains("IDENTITY") && run.stderr.contains("damaged"),
                "{what} {args:?}: {}",
                run.stderr
            );
            assert!(
                !run.stderr.contains("different database") && !run.stderr.contains("UTF-8 i/o"),
                "{}",
                run.stderr
            );
        }
    }
    std::fs::write(&identity, &good).unwrap();
    assert_eq!(
        firn(&db, &["get", "key00001"]).ok().stdout,
        "value number 1\n"
    );

    let writer_id = db.join("local/WRITER_ID");
    let good = std::fs::read(&writer_id).unwrap();
    std::fs::write(&writer_id, &good[..10]).unwrap();
    let run = firn(&db, &["put", "k", "v"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(
        run.stderr.contains("WRITER_ID")
            && run.stderr.contains("damaged")
            && run.stderr.contains("wal-export"),
        "{}",
        run.stderr
    );
    std::fs::write(&writer_id, &good).unwrap();
    firn(&db, &["put", "k", "v"]).ok();
}

#[test]
fn load_of_a_missing_file_exits_3() {
    let (_dir, db) = temp_db();
    let run = firn(&db, &["load", "/nonexistent/input.tsv"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(
        run.stderr.contains("/nonexistent/input.tsv"),
        "{}",
        run.stderr
    );
}

#[test]
fn load_refuses_a_raw_carriage_return_at_a_line_end_and_keeps_escaped_ones() {
    let (_dir, db) = temp_db();
    let run = firn_in(&db, &["load"], "put\tk1\tv1\nput\tk2\tv2\r\n");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("carriage return"),
        "{}",
        run.stderr
    );
    assert_eq!(firn(&db, &["get", "k2"]).code, 1, "nothing of the batch");
    // Escaped, a carriage return at the end of a value is kept.
    firn_in(&db, &["load"], "put\tk3\tv3\\r\n").ok();
    assert_eq!(firn(&db, &["--hex", "get", "6b33"]).ok().stdout, "76330d\n");
}

#[test]
fn manifest_json_shows_the_clean_close_and_the_fence_records() {
    let (_dir, db) = loaded_db();
    let m = json(&firn(&db, &["manifest", "--json"]).ok().stdout);
    assert_eq!(m["writer_clean"], true, "{m}");
    assert_eq!(m["fenced"], serde_json::json!([]), "{m}");
    let text = firn(&db, &["manifest"]).ok().stdout;
    assert!(text.contains("writer_clean: true"), "{text}");
}

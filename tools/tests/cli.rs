//! End-to-end tests of the `firn` binary: key-value commands, load, flush,
//! database locations and exit codes that scripts rely on.

mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn put_get_delete_scan_round_trip_with_escaping_and_hex() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k1", "v1"]).ok();
    let odd_key = OsStr::from_bytes(b"a\tb\nc\\d\x01");
    let odd_value = OsStr::from_bytes(b"x\ty\xff");
    firn(&db, &[OsStr::new("put"), odd_key, odd_value]).ok();
    firn(&db, &["--hex", "put", "00ff", "0102"]).ok();

    assert_eq!(firn(&db, &["get", "k1"]).ok().stdout, "v1\n");
    assert_eq!(
        firn(&db, &[OsStr::new("get"), odd_key]).ok().stdout,
        "x\\ty\\xff\n"
    );
    assert_eq!(firn(&db, &["get", "--hex", "00FF"]).ok().stdout, "0102\n");
    assert_eq!(firn(&db, &["--hex", "get", "6b31"]).ok().stdout, "7631\n");

    let scan = firn(&db, &["scan"]).ok();
    assert_eq!(
        scan.stdout,
        "\\x00\\xff\t\\x01\\x02\na\\tb\\nc\\\\d\\x01\tx\\ty\\xff\nk1\tv1\n"
    );
    let scan = firn(&db, &["scan", "--hex"]).ok();
    assert_eq!(
        scan.stdout,
        "00ff\t0102\n6109620a635c6401\t780979ff\n6b31\t7631\n"
    );

    firn(&db, &["delete", "k1"]).ok();
    let gone = firn(&db, &["get", "k1"]);
    assert_eq!(gone.code, 1);
    assert_eq!(firn(&db, &["scan"]).ok().stdout.lines().count(), 2);
    firn(&db, &["--hex", "delete", "00ff"]).ok();
    assert_eq!(
        firn(&db, &["scan"]).ok().stdout,
        "a\\tb\\nc\\\\d\\x01\tx\\ty\\xff\n"
    );
}

#[test]
fn get_missing_key_exits_1_with_not_found() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k", "v"]).ok();
    let run = firn(&db, &["get", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "not found\n");
    assert_eq!(run.stdout, "");
}

#[test]
fn get_with_several_keys_prints_key_tab_value_and_exits_1_if_any_is_missing() {
    let (_dir, db) = temp_db();
    let input = "put\tk1\tv1\nput\tk\\t2\tv\\n2\nput\tk3\tv3\n";
    firn_in(&db, &["load"], input).ok();
    let all = firn(&db, &["get", "k3", "k1"]).ok();
    assert_eq!(all.stdout, "k3\tv3\nk1\tv1\n", "in the order given");
    // Keys and values are escaped; a missing key is reported after the rest.
    let run = firn(
        &db,
        &[
            OsStr::new("get"),
            OsStr::new("k1"),
            OsStr::new("nope"),
            OsStr::from_bytes(b"k\t2"),
            OsStr::new("gone"),
        ],
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "k1\tv1\nk\\t2\tv\\n2\n");
    assert_eq!(run.stderr, "not found: nope gone\n");
    // With --hex both columns are hex.
    let hex = firn(&db, &["--hex", "get", "6b31", "6b33"]).ok();
    assert_eq!(hex.stdout, "6b31\t7631\n6b33\t7633\n");
    // No key at all is a usage error.
    assert_ne!(firn(&db, &["get"]).code, 0);
}

#[test]
fn scan_prefix_from_to_limit_and_json() {
    let (_dir, db) = temp_db();
    let input = ["a1", "a2", "b1", "b2", "c1"]
        .iter()
        .map(|k| format!("put\t{k}\tval-{k}\n"))
        .collect::<String>()
        + "put\tq\"uote\\\\\tv\\t\n";
    firn_in(&db, &["load"], &input).ok();
    let keys = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["scan"];
        all.extend_from_slice(args);
        firn(&db, &all)
            .ok()
            .stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(keys(&["--prefix", "b"]), ["b1", "b2"]);
    assert_eq!(keys(&["--from", "a2", "--to", "b2"]), ["a2", "b1"]);
    assert_eq!(keys(&["--limit", "2"]), ["a1", "a2"]);
    assert_eq!(keys(&["--prefix", "a", "--from", "a2"]), ["a2"]);
    assert_eq!(keys(&["--prefix", "b", "--to", "b2"]), ["b1"]);
    assert_eq!(keys(&["--from", "z"]), Vec::<String>::new());
    assert_eq!(keys(&["--from", "c", "--to", "a"]), Vec::<String>::new());
    // --reverse: the same range, backwards; --limit counts from the end.
    assert_eq!(
        keys(&["--reverse"]),
        ["q\"uote\\\\", "c1", "b2", "b1", "a2", "a1"]
    );
    assert_eq!(keys(&["--reverse", "--prefix", "b"]), ["b2", "b1"]);
    assert_eq!(
        keys(&["--reverse", "--from", "a2", "--to", "b2"]),
        ["b1", "a2"]
    );
    assert_eq!(
        keys(&["--reverse", "--limit", "2", "--to", "c"]),
        ["b2", "b1"]
    );
    assert_eq!(
        keys(&["--reverse", "--from", "c", "--to", "a"]),
        Vec::<String>::new()
    );
    assert_eq!(
        firn(&db, &["scan", "--prefix", "b", "--limit", "1"])
            .ok()
            .stdout,
        "b1\tval-b1\n"
    );

    let out = firn(&db, &["scan", "--json", "--from", "c"]).ok().stdout;
    let lines: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        serde_json::json!({"key": "c1", "value": "val-c1"})
    );
    assert_eq!(lines[1]["key"], "q\"uote\\\\");
    assert_eq!(lines[1]["value"], "v\\t");
    let hex = firn(&db, &["scan", "--json", "--hex", "--prefix", "63"])
        .ok()
        .stdout;
    assert_eq!(
        json(&hex),
        serde_json::json!({"key": "6331", "value": "76616c2d6331"})
    );
}

#[test]
fn load_echoes_acks_only_after_the_batch_commits() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "seed", "x"]).ok();
    let (mut child, acks) = spawn_load(&db, &["--batch", "2", "--echo-acks", "--sync"]);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"put\tk1\tv1\n").expect("write");
    stdin.flush().expect("flush");
    assert!(
        acks.recv_timeout(Duration::from_millis(700)).is_err(),
        "no ack before the batch of 2 is complete"
    );
    assert_eq!(firn(&db, &["get", "k1"]).code, 1, "not committed yet");
    stdin.write_all(b"put\tk\\t2\tv2\n").expect("write");
    stdin.flush().expect("flush");
    let wait = Duration::from_secs(60);
    assert_eq!(acks.recv_timeout(wait).expect("ack 1"), "k1");
    assert_eq!(acks.recv_timeout(wait).expect("ack 2"), "k\\t2");
    // Acknowledged while the loader still runs: the writes are in the WAL,
    // which a reader on the same folder replays.
    assert_eq!(firn(&db, &["get", "k1"]).ok().stdout, "v1\n");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    assert_eq!(
        firn(&db, &[OsStr::new("get"), OsStr::from_bytes(b"k\t2")])
            .ok()
            .stdout,
        "v2\n"
    );
}

#[test]
fn load_acknowledges_nothing_of_a_batch_the_engine_rejects() {
    let (_dir, db) = temp_db();
    let huge_key = "k".repeat(70_000);
    let input = format!("put\tk1\tv1\nput\tk2\tv2\nput\tk3\tv3\nput\t{huge_key}\tv\n");
    let run = firn_in(&db, &["load", "--batch", "2", "--echo-acks"], &input);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(
        run.stderr.contains("lines 3-4") && run.stderr.contains("key size limit"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stdout, "k1\nk2\n",
        "the rejected batch (k3, ...) was not acknowledged"
    );
    assert_eq!(firn(&db, &["get", "k2"]).ok().stdout, "v2\n");
    assert_eq!(firn(&db, &["get", "k3"]).code, 1);
}

#[test]
fn load_rejects_a_malformed_line_without_writing_its_batch() {
    let (_dir, db) = temp_db();
    let input = "put\tk1\tv1\ndel\tseed\n\nput\tk3\tv3\nput\tk4\n";
    let run = firn_in(&db, &["load", "--batch", "2", "--echo-acks"], input);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(run.stderr.contains("line 5"), "{}", run.stderr);
    assert_eq!(
        run.stdout, "k1\nseed\n",
        "only the first batch was acknowledged"
    );
    assert_eq!(firn(&db, &["get", "k1"]).ok().stdout, "v1\n");
    assert_eq!(
        firn(&db, &["get", "k3"]).code,
        1,
        "k3 shared the malformed line's batch"
    );

    let bad_escape = firn_in(&db, &["load"], "put\tk\\q\tv\n");
    assert_eq!(bad_escape.code, 3);
    assert!(bad_escape.stderr.contains("line 1") && bad_escape.stderr.contains("invalid escape"));
    let file = db.parent().expect("parent").join("input.tsv");
    std::fs::write(&file, "put\tfrom-file\t1\n").expect("write input");
    firn(&db, &[OsStr::new("load"), file.as_os_str()]).ok();
    assert_eq!(firn(&db, &["get", "from-file"]).ok().stdout, "1\n");
}

#[test]
fn load_sorted_ingests_a_sorted_file_all_at_once_and_refuses_disorder() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k0005", "old"]).ok();
    firn(&db, &["put", "k0007", "stays"]).ok();
    let mut input = String::new();
    for i in 0..2000 {
        if i == 6 {
            input.push_str("del\tk0006\n\n");
        } else {
            input.push_str(&format!("put\tk{i:04}\tv{i}\n"));
        }
    }
    let run = firn_in(&db, &["load", "--sorted"], &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("ingested 2000 entries at seq "),
        "{}",
        run.stderr
    );
    assert_eq!(firn(&db, &["get", "k0005"]).ok().stdout, "v5\n");
    assert_eq!(firn(&db, &["get", "k0006"]).code, 1);
    assert_eq!(firn(&db, &["get", "k0007"]).ok().stdout, "v7\n");
    assert_eq!(firn(&db, &["get", "k1999"]).ok().stdout, "v1999\n");
    let manifest = json(&firn(&db, &["manifest", "--json"]).ok().stdout);
    let ingested = manifest["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .filter(|c| c["min_seq"] == c["max_seq"] && c["entries"] == 2000)
        .count();
    assert_eq!(ingested, 1, "{manifest}");
    firn(&db, &["verify"]).ok();

    // Out of order (or a repeated key): exit 3 naming the lines; nothing of
    // the file is written, not even the lines before.
    let run = firn_in(
        &db,
        &["load", "--sorted"],
        "put\tm1\t1\nput\tm3\t3\nput\tm2\t2\n",
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(
        run.stderr
            .contains("line 3: key m2 is not above the key m3 of line 2")
            && run.stderr.contains("nothing of the file was ingested"),
        "{}",
        run.stderr
    );
    assert_eq!(firn(&db, &["get", "m1"]).code, 1);
    let run = firn_in(&db, &["load", "--sorted"], "put\tn1\t1\nput\tn1\t2\n");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
    let run = firn_in(&db, &["load", "--sorted"], "put\tp1\t1\nbogus\n");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("line 2: unknown operation"),
        "{}",
        run.stderr
    );
    assert_eq!(firn(&db, &["get", "p1"]).code, 1);
    // --sorted takes no batch options.
    let run = firn_in(&db, &["load", "--sorted", "--batch", "5"], "");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

#[test]
fn flush_prints_new_chunk_ids_and_the_chunk_exists() {
    let (_dir, db) = temp_db();
    // A loader killed after its acknowledgement leaves the write in the WAL only.
    let (mut child, acks) = spawn_load(&db, &["--batch", "1", "--echo-acks", "--sync"]);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"put\tcrash\tsurvives\n").expect("write");
    stdin.flush().expect("flush");
    assert_eq!(
        acks.recv_timeout(Duration::from_secs(60)).expect("ack"),
        "crash"
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(
        chunk_files(&db).is_empty(),
        "nothing was flushed before the kill"
    );

    let run = firn(&db, &["flush"]).ok();
    let ids: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(ids.len(), 1, "{}", run.stdout);
    let (epoch, id) = ids[0].split_once('-').expect("EPOCH-ID");
    let (epoch, id): (u64, u64) = (epoch.parse().expect("epoch"), id.parse().expect("id"));
    let file = db.join(format!("objects/chunks/{epoch:020}-{id:020}.chunk"));
    assert!(file.is_file(), "{} exists", file.display());
    assert_eq!(firn(&db, &["get", "crash"]).ok().stdout, "survives\n");
    assert_eq!(
        firn(&db, &["flush"]).ok().stdout,
        "",
        "nothing new to flush"
    );
}

#[test]
fn malformed_urls_and_bad_usage_exit_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in ["ftp://bucket/x", "file://relative/path", "nonsense://"] {
        for args in [&["get", "k"][..], &["put", "k", "v"], &["verify"]] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
            cmd.env_remove("FIRN_DB")
                .args(["--db", url, "--local"])
                .arg(dir.path().join("l"))
                .args(args);
            let run = run_cmd(cmd, b"");
            assert_eq!(run.code, 3, "{url} {args:?}: {}", run.stderr);
            assert_one_error_line(&run);
            assert!(run.stderr.contains(url), "{}", run.stderr);
        }
    }
    let missing = dir.path().join("absent");
    let run = firn(&missing, &["get", "k"]);
    assert_eq!(run.code, 3);
    assert_one_error_line(&run);
    assert!(!missing.exists(), "a read must not create a database");

    let run = firn(&missing, &["frobnicate"]);
    assert_eq!(run.code, 3);
    assert_one_error_line(&run);
    let run = firn(&missing, &["--hex", "get", "xyz"]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("invalid hex"), "{}", run.stderr);
    let run = firn(&missing, &["load", "--batch", "0"]);
    assert_eq!(run.code, 3);
}

#[test]
fn firn_db_env_and_url_databases() {
    let (dir, db) = temp_db();
    firn(&db, &["put", "k", "v"]).ok();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env("FIRN_DB", &db).args(["get", "k"]);
    assert_eq!(run_cmd(cmd, b"").ok().stdout, "v\n");

    // The same data through its URL: readers need no --local, writers do.
    let url = format!("file://{}", db.join("objects").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env_remove("FIRN_DB").args(["--db", &url, "get", "k"]);
    assert_eq!(run_cmd(cmd, b"").ok().stdout, "v\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env_remove("FIRN_DB")
        .args(["--db", &url, "put", "k", "w"]);
    let run = run_cmd(cmd, b"");
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("--local"), "{}", run.stderr);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env_remove("FIRN_DB")
        .args(["--db", &url, "--local"])
        .arg(dir.path().join("other-local"))
        .args(["put", "k", "w"]);
    run_cmd(cmd, b"").ok();
    assert_eq!(firn(&db, &["get", "k"]).ok().stdout, "w\n");
}

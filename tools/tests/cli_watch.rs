//! `firn watch`: every change the writer ships, in sequence order, in the
//! line and JSON formats scripts rely on.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn visible_seq(db: &std::path::Path) -> u64 {
    let doc = json(&firn(db, &["status", "--json"]).ok().stdout);
    doc["visible_seq"].as_u64().expect("visible_seq")
}

#[test]
fn watch_prints_the_shipped_history_in_order() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k1", "v1", "--durability", "remote"]).ok();
    let start = visible_seq(&db);
    firn(&db, &["put", "k2", "v\t2", "--durability", "remote"]).ok();
    firn(&db, &["delete", "k1", "--durability", "remote"]).ok();
    let end = visible_seq(&db);
    assert_eq!(end, start + 2);
    let from = start.to_string();
    let until = end.to_string();
    let run = firn(&db, &["watch", "--from-seq", &from, "--until-seq", &until]).ok();
    assert_eq!(
        run.stdout,
        format!(
            "{start}\tput\tk1\tv1\n{}\tput\tk2\tv\\t2\n{end}\tdel\tk1\n",
            start + 1
        )
    );
    let run = firn(
        &db,
        &[
            "watch",
            "--from-seq",
            &from,
            "--until-seq",
            &until,
            "--json",
            "--prefix",
            "k1",
        ],
    )
    .ok();
    let lines: Vec<_> = run.stdout.lines().map(json).collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0]["seq"], start);
    assert_eq!(lines[0]["op"], "put");
    assert_eq!(lines[0]["key"], "k1");
    assert_eq!(lines[0]["value"], "v1");
    assert_eq!(lines[1]["seq"], end);
    assert_eq!(lines[1]["op"], "del");
    assert!(lines[1].get("value").is_none(), "{}", run.stdout);
}

#[test]
fn watch_follows_writes_made_while_it_runs() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "before", "x", "--durability", "remote"]).ok();
    let next = visible_seq(&db) + 1;
    let mut child = firn_cmd(&db)
        .args([
            "watch",
            "--json",
            "--poll-interval",
            "50ms",
            "--from-seq",
            &next.to_string(),
            "--until-seq",
            &(next + 1).to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn firn watch");
    std::thread::sleep(Duration::from_millis(300));
    firn(&db, &["put", "live1", "a", "--durability", "remote"]).ok();
    firn(&db, &["put", "live2", "b", "--durability", "remote"]).ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "firn watch did not stop at --until-seq"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines: Vec<String> = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(child.wait().expect("exit").success());
    let keys: Vec<_> = lines.iter().map(|l| json(l)["key"].clone()).collect();
    assert_eq!(keys, ["live1", "live2"], "{lines:?}");
}

#[test]
fn watch_from_collected_writes_names_them() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k1", "v1", "--durability", "remote"]).ok();
    firn(&db, &["put", "k2", "v2", "--durability", "remote"]).ok();
    firn(&db, &["gc", "--grace", "0"]).ok();
    let run = firn(&db, &["watch", "--from-seq", "1", "--until-seq", "2"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("no longer holds writes 1..="),
        "{}",
        run.stderr
    );
    assert_one_error_line(&run);
}

//! Logs: the engine's events reach stderr with `-v` (or `RUST_LOG`), name
//! the objects involved, and stay off by default and off per write.

mod common;

use common::{firn, firn_cmd, firn_in, run_cmd, temp_db};

#[test]
fn v_logs_opens_flushes_and_compactions_with_their_objects() {
    let (_dir, db) = temp_db();
    let quiet = firn(&db, &["put", "a", "1"]).ok();
    assert_eq!(quiet.stderr, "", "nothing is logged by default");

    let loud = firn(&db, &["-v", "put", "b", "2"]).ok();
    let log = &loud.stderr;
    assert!(log.contains("INFO"), "{log}");
    assert!(
        log.contains("opened as writer") && log.contains("epoch="),
        "{log}"
    );
    assert!(
        log.contains("flushed a memtable into a chunk") && log.contains("object=chunks/"),
        "{log}"
    );
    assert!(!log.contains("DEBUG"), "-v is info: {log}");

    let compact = firn(&db, &["-v", "compact"]).ok();
    assert!(
        compact.stderr.contains("compaction done") && compact.stderr.contains("outputs=[\"chunks/"),
        "{}",
        compact.stderr
    );

    // RUST_LOG overrides -v, both ways.
    let mut cmd = firn_cmd(&db);
    cmd.env("RUST_LOG", "warn").args(["-v", "put", "c", "3"]);
    assert_eq!(run_cmd(cmd, b"").ok().stderr, "");
    let mut cmd = firn_cmd(&db);
    cmd.env("RUST_LOG", "firn=info").args(["put", "d", "4"]);
    let info = run_cmd(cmd, b"").ok();
    assert!(
        info.stderr.contains("flushed a memtable"),
        "{}",
        info.stderr
    );
}

#[test]
fn nothing_is_logged_per_write_at_v() {
    let (_dir, db) = temp_db();
    let lines: String = (0..2000).map(|i| format!("put\tk{i:05}\tv\n")).collect();
    let run = firn_in(&db, &["-v", "load", "--batch", "1"], &lines).ok();
    let logged = run.stderr.lines().filter(|l| l.contains(" INFO ")).count();
    assert!(
        (1..20).contains(&logged),
        "2,000 writes, {logged} log lines: {}",
        run.stderr
    );
}

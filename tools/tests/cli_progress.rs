//! Progress bars: `load`, `compact`, `verify`, `copy`, `restore` and `demo`
//! draw one on stderr when it is a terminal, and nothing at all when it is
//! not, so scripts (and these tests) see the same output either way.

mod common;

use std::path::Path;
use std::process::Command;

use common::{firn, temp_db};

/// A tab-separated `put` file of `n` keys.
fn data_file(dir: &Path, n: u32) -> std::path::PathBuf {
    let path = dir.join("data.tsv");
    let text: String = (0..n)
        .map(|i| format!("put\tk{i:07}\tvalue-{i}\n"))
        .collect();
    std::fs::write(&path, text).expect("write the input");
    path
}

#[test]
fn long_commands_print_nothing_on_stderr_when_it_is_not_a_terminal() {
    let (dir, db) = temp_db();
    let data = data_file(dir.path(), 20_000);
    let data = data.to_str().expect("utf-8 path");
    let copy = dir.path().join("copy");
    let copy = copy.to_str().expect("utf-8 path");
    let runs = [
        firn(&db, &["load", data, "--batch", "500"]),
        firn(&db, &["compact"]),
        firn(&db, &["verify"]),
        firn(&db, &["copy", db.to_str().expect("utf-8 path"), copy]),
        firn(&db, &["demo", "--keys", "3000"]),
    ];
    for run in runs {
        let run = run.ok();
        assert_eq!(run.stderr, "", "stderr is a pipe: no progress");
        assert!(
            !run.stdout.contains('\r'),
            "no bar on stdout: {}",
            run.stdout
        );
    }
}

/// Runs `firn --db DB ARGS` on a pseudo-terminal (util-linux `script`) and
/// returns what the terminal received.
fn on_a_terminal(db: &Path, args: &str) -> String {
    let firn = env!("CARGO_BIN_EXE_firn");
    let command = format!("{firn} --db {} {args}", db.display());
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env_remove("FIRN_DB")
        .env_remove("RUST_LOG")
        .output()
        .expect("run script(1) from util-linux");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn long_commands_draw_a_bar_with_rate_and_eta_on_a_terminal() {
    let (dir, db) = temp_db();
    let data = data_file(dir.path(), 100_000);
    let load = on_a_terminal(&db, &format!("load {} --batch 500", data.display()));
    assert!(
        load.contains("loading [")
            && load.contains("MiB")
            && load.contains("/s")
            && load.contains("left"),
        "a byte bar with rate and ETA: {load}"
    );
    let verify = on_a_terminal(&db, "verify");
    assert!(verify.contains("verifying chunk "), "{verify}");
    assert!(verify.contains("ok: manifest version"), "{verify}");
    let compact = on_a_terminal(&db, "compact");
    assert!(compact.contains("compacting "), "{compact}");
    let demo_db = dir.path().join("demo");
    let demo = on_a_terminal(&demo_db, "demo --keys 20000");
    assert!(
        demo.contains("writing [") && demo.contains("keys"),
        "{demo}"
    );
}

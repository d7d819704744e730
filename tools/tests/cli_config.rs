//! `--config FILE` and `FIRN_*` overrides: a typo or a bad value exits 3
//! naming the key (and the file); the file's values take effect, `FIRN_*`
//! variables override them, and flags override both.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_one_error_line, firn, firn_cmd, run_cmd, temp_db, Run};

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write the config file");
    path.to_path_buf()
}

/// `firn` with neither `--db` nor a `FIRN_DB`: the config file names the database.
fn firn_without_db() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env_remove("FIRN_DB")
        .env_remove("FIRN_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

fn with_env(mut cmd: Command, vars: &[(&str, &str)], args: &[&str]) -> Run {
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.args(args);
    run_cmd(cmd, b"")
}

fn config_arg(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn a_config_file_with_a_typo_exits_3_naming_the_key() {
    let (dir, db) = temp_db();
    let cfg = write(
        &dir.path().join("firn.toml"),
        "memtable_size = \"32MiB\"\nmemtable_siz = \"32MiB\"\n",
    );
    let run = firn(&db, &["--config", &config_arg(&cfg), "put", "a", "1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    for wanted in [
        cfg.display().to_string().as_str(),
        "line 2",
        "unknown key \"memtable_siz\"",
        "did you mean \"memtable_size\"?",
    ] {
        assert!(run.stderr.contains(wanted), "{wanted:?} in {}", run.stderr);
    }
    assert!(!db.exists(), "a bad config opens nothing");

    // A typo in a table, a bad value, an unknown table, a missing file.
    for (text, wanted) in [
        (
            "[s3]\nregoin = \"eu-west-1\"\n",
            &["unknown key \"regoin\" in [s3]", "did you mean \"region\"?"][..],
        ),
        (
            "gc_grace = \"soon\"\n",
            &["line 1", "gc_grace = \"soon\" is not a duration", "\"10m\""],
        ),
        (
            "[compactoin]\nl0_trigger = 4\n",
            &["unknown table [compactoin]; did you mean [compaction]?"],
        ),
        ("memtable_size = \"64MiB\n", &["line 1", "invalid TOML"]),
    ] {
        write(&cfg, text);
        let run = firn(&db, &["--config", &config_arg(&cfg), "get", "a"]);
        assert_eq!(run.code, 3, "{text:?}: {}", run.stderr);
        assert_one_error_line(&run);
        assert!(
            run.stderr.contains(&cfg.display().to_string()),
            "{}",
            run.stderr
        );
        for w in wanted {
            assert!(run.stderr.contains(w), "{text:?}: {w:?} in {}", run.stderr);
        }
    }
    let missing = dir.path().join("nope.toml");
    let run = firn(&db, &["--config", &config_arg(&missing), "get", "a"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("cannot read the config file") && run.stderr.contains("nope.toml"),
        "{}",
        run.stderr
    );

    // FIRN_CONFIG names the file too.
    write(&cfg, "memtable_siz = 1\n");
    let run = with_env(
        firn_cmd(&db),
        &[("FIRN_CONFIG", &config_arg(&cfg))],
        &["get", "a"],
    );
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("memtable_siz"), "{}", run.stderr);
}

#[test]
fn a_misspelt_firn_variable_exits_3_naming_it() {
    let (_dir, db) = temp_db();
    let run = with_env(
        firn_cmd(&db),
        &[("FIRN_MEMTABLE_SIZ", "32MiB")],
        &["put", "a", "1"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_one_error_line(&run);
    assert!(
        run.stderr
            .contains("FIRN_MEMTABLE_SIZ names no Firn option; did you mean FIRN_MEMTABLE_SIZE?"),
        "{}",
        run.stderr
    );
    let run = with_env(
        firn_cmd(&db),
        &[("FIRN_GC_GRACE", "forever")],
        &["put", "a", "1"],
    );
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains("FIRN_GC_GRACE (gc_grace) = \"forever\" is not a duration"),
        "{}",
        run.stderr
    );
    // Variables of the test suites are not options and not errors.
    let run = with_env(
        firn_cmd(&db),
        &[
            ("FIRN_TEST_S3_ENDPOINT", "http://127.0.0.1:1"),
            ("FIRN_S3_SERVER_PID", "1"),
        ],
        &["put", "a", "1"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn config_values_take_effect_env_overrides_the_file_and_flags_override_both() {
    let (dir, db) = temp_db();
    let cfg = dir.path().join("firn.toml");
    let db_path = db.to_str().expect("utf-8");
    // The file names the database (url, like --db) and limits values to 4 bytes.
    write(
        &cfg,
        &format!("url = {db_path:?}\nmax_value_size = \"4B\"\n"),
    );
    let c = config_arg(&cfg);

    let run = with_env(
        firn_without_db(),
        &[],
        &["--config", &c, "put", "k", "123456"],
    );
    assert_eq!(run.code, 3, "the file's limit applies: {}", run.stderr);
    assert!(
        run.stderr
            .contains("exceeds the value size limit of 4 bytes"),
        "{}",
        run.stderr
    );
    with_env(
        firn_without_db(),
        &[],
        &["--config", &c, "put", "k", "1234"],
    )
    .ok();

    // FIRN_MAX_VALUE_SIZE overrides the file.
    with_env(
        firn_without_db(),
        &[("FIRN_MAX_VALUE_SIZE", "64KiB")],
        &["--config", &c, "put", "k", "123456"],
    )
    .ok();
    let got = firn(&db, &["get", "k"]).ok();
    assert_eq!(got.stdout, "123456\n", "the write went to the file's url");

    // A flag overrides the environment, which overrides the file:
    // wal_ship_bytes below 4 KiB is refused when the database opens.
    write(
        &cfg,
        &format!("url = {db_path:?}\nwal_ship_bytes = \"1KiB\"\n"),
    );
    let run = with_env(firn_without_db(), &[], &["--config", &c, "put", "a", "1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("wal_ship_bytes must be between"),
        "{}",
        run.stderr
    );
    with_env(
        firn_without_db(),
        &[("FIRN_WAL_SHIP_BYTES", "1MiB")],
        &["--config", &c, "put", "a", "1"],
    )
    .ok();
    let run = with_env(
        firn_without_db(),
        &[("FIRN_WAL_SHIP_BYTES", "2KiB")],
        &["--config", &c, "put", "a", "2"],
    );
    assert_eq!(run.code, 3, "env 2KiB beats the file: {}", run.stderr);
    with_env(
        firn_without_db(),
        &[("FIRN_WAL_SHIP_BYTES", "2KiB")],
        &["--config", &c, "--wal-ship-bytes", "8MiB", "put", "a", "3"],
    )
    .ok();
    assert_eq!(firn(&db, &["get", "a"]).ok().stdout, "3\n");

    // --db overrides the file's url; a file:// url with local_dir works as
    // --db URL --local DIR.
    let other = dir.path().join("other");
    let objects = other.join("objects");
    write(
        &cfg,
        &format!(
            "url = \"file://{}\"\nlocal_dir = {:?}\n",
            objects.display(),
            other.join("local").to_str().expect("utf-8")
        ),
    );
    with_env(
        firn_without_db(),
        &[],
        &["--config", &c, "put", "u", "url-db"],
    )
    .ok();
    with_env(firn_cmd(&db), &[], &["--config", &c, "put", "d", "flag-db"]).ok();
    assert_eq!(firn(&other, &["get", "u"]).ok().stdout, "url-db\n");
    assert_eq!(firn(&other, &["get", "d"]).code, 1, "--db won over url");
    assert_eq!(firn(&db, &["get", "d"]).ok().stdout, "flag-db\n");
}

//! Read commands keep their local state in `--local DIR`: the second
//! `firn get` of a cold key through the same directory costs no GET — its
//! chunk index, the data block and the manifest come from local disk — on
//! `file://` and on the S3 server. The bucket is never written by a reader.

mod common;

use std::path::Path;

use common::{run_cmd, Run};
use firn_tests::{s3_enabled, StoreKind, TestDb};

/// `firn --db URL --local DIR ARGS...`, with the test S3 endpoint.
fn firn_url(url: &str, local: &Path, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env_remove("FIRN_DB").env_remove("RUST_LOG");
    if let Ok(endpoint) = std::env::var("FIRN_TEST_S3_ENDPOINT") {
        cmd.env("AWS_ENDPOINT_URL", endpoint);
    }
    cmd.arg("--db")
        .arg(url)
        .arg("--local")
        .arg(local)
        .args(args);
    run_cmd(cmd, b"")
}

/// `key=value` pairs of the `requests:` line `--print-requests` prints.
fn requests(stderr: &str) -> std::collections::BTreeMap<String, u64> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("requests: "))
        .unwrap_or_else(|| panic!("no requests: line in {stderr}"));
    line["requests: ".len()..]
        .split(' ')
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("key=value");
            (k.to_string(), v.parse().expect("a count"))
        })
        .collect()
}

fn a_repeated_get_through_the_same_local_dir_costs_no_get(kind: StoreKind) {
    let env = TestDb::new(kind, "cli-local");
    let writer = env.root.path().join("writer");
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        firn_url(&env.url, &writer, &["put", k, v]).ok();
    }
    let reader = env.root.path().join("reader");

    let first = firn_url(&env.url, &reader, &["--print-requests", "get", "b"]).ok();
    assert_eq!(first.stdout, "2\n");
    let cold = requests(&first.stderr);
    assert!(cold["get"] >= 3, "manifest, index, block: {}", first.stderr);
    assert_eq!(cold["put"], 0, "a reader never writes the bucket");
    for name in ["IDENTITY", "MANIFEST", "index", "cache"] {
        assert!(reader.join(name).exists(), "the reader kept {name}");
    }
    assert!(!reader.join("wal").exists(), "a reader has no WAL");

    let second = firn_url(&env.url, &reader, &["--print-requests", "get", "b"]).ok();
    assert_eq!(second.stdout, "2\n");
    let warm = requests(&second.stderr);
    assert_eq!(warm["get"], 0, "the second get: {}", second.stderr);
    assert_eq!(warm["put"] + warm["delete"], 0);
    assert!(
        second.stderr.contains("index_local=1") && second.stderr.contains("disk_hits=1"),
        "{}",
        second.stderr
    );

    // A new write makes the manifest copy stale: the next read fetches the
    // new version (and the new chunk's index), then is local again.
    firn_url(&env.url, &writer, &["put", "b", "22"]).ok();
    let after = firn_url(&env.url, &reader, &["--print-requests", "get", "b"]).ok();
    assert_eq!(after.stdout, "22\n");
    assert!(requests(&after.stderr)["get"] >= 1, "{}", after.stderr);
    let again = firn_url(&env.url, &reader, &["--print-requests", "get", "b"]).ok();
    assert_eq!(again.stdout, "22\n");
    assert_eq!(requests(&again.stderr)["get"], 0, "{}", again.stderr);

    // The writer can take the directory a reader filled.
    firn_url(&env.url, &reader, &["put", "d", "4"]).ok();
    let d = firn_url(&env.url, &reader, &["get", "d"]).ok();
    assert_eq!(d.stdout, "4\n");
}

#[test]
fn a_repeated_get_through_the_same_local_dir_costs_no_get_on_file() {
    a_repeated_get_through_the_same_local_dir_costs_no_get(StoreKind::File);
}

#[test]
fn a_repeated_get_through_the_same_local_dir_costs_no_get_on_s3() {
    if s3_enabled("a_repeated_get_through_the_same_local_dir_costs_no_get_on_s3") {
        a_repeated_get_through_the_same_local_dir_costs_no_get(StoreKind::S3);
    }
}

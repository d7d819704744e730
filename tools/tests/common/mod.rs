//! Helpers shared by the end-to-end tests of the `firn` binary.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success; stderr: {}", self.stderr);
        self
    }
}

pub fn firn_cmd(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firn"));
    cmd.env_remove("FIRN_DB")
        .env_remove("FIRN_CONFIG")
        .env_remove("RUST_LOG")
        .arg("--db")
        .arg(db);
    cmd
}

pub fn run_cmd(mut cmd: Command, stdin: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn firn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for firn");
    Run {
        code: out
            .status
            .code()
            .expect("exited normally, not by a signal (a panic would abort here too)"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `firn --db DB ARGS...`.
pub fn firn<S: AsRef<OsStr>>(db: &Path, args: &[S]) -> Run {
    let mut cmd = firn_cmd(db);
    cmd.args(args);
    run_cmd(cmd, b"")
}

/// Runs `firn --db DB ARGS...` with `input` on stdin.
pub fn firn_in(db: &Path, args: &[&str], input: &str) -> Run {
    let mut cmd = firn_cmd(db);
    cmd.args(args);
    run_cmd(cmd, input.as_bytes())
}

pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    (dir, db)
}

/// The chunk files under P/objects/chunks/.
pub fn chunk_files(db: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(db.join("objects/chunks"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension() == Some(OsStr::new("chunk")));
    files.sort();
    files
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn assert_one_error_line(run: &Run) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line, got: {:?}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{:?}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// Spawns `firn load` with piped stdin/stdout; returns the child and a
/// channel of its stdout lines.
pub fn spawn_load(db: &Path, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = firn_cmd(db);
    cmd.arg("load").args(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn firn load");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

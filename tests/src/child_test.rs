//! Crash tests whose child is a test of the same test binary: the child runs
//! one named test (which does nothing unless its environment variable is
//! set), prints a line per acknowledgement, and dies at a crash point or by
//! `abort`; the parent reads what it printed and how it ended.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};

/// The signal `std::process::abort` (and so every crash point) raises: 6 on
/// every Unix Firn runs on.
pub const SIGABRT: i32 = 6;

/// Runs test `test` of the current test binary as a child with `env`, and
/// returns the lines it printed on stdout and how it ended. The test
/// harness may print on the line of the child's first output: match lines
/// with `contains`, not `starts_with`.
pub fn run_child_test<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    test: &str,
    env: &[(K, V)],
) -> (Vec<String>, ExitStatus) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the child test");
    let lines: Vec<String> = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(|l| l.ok())
        .collect();
    (lines, child.wait().expect("wait for the child test"))
}

/// True when the child died of `abort` (a crash point), not of a failed
/// assertion (which exits with 101).
pub fn aborted(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(SIGABRT)
}

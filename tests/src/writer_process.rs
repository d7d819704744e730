//! A writer process (the `s3_writer` binary) driven one command at a time,
//! for tests that need two writers in two processes, or a writer to kill.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one command may take.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// A writer process (`s3_writer`) driven one command at a time.
pub struct WriterProcess {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl WriterProcess {
    /// Starts the process (`exe`: the `s3_writer` binary, which integration
    /// tests name with `env!("CARGO_BIN_EXE_s3_writer")`) and returns it with its first line (`OPEN <epoch>`
    /// or `ERR ...`).
    pub fn spawn(
        exe: &str,
        name: &'static str,
        url: &str,
        local: &std::path::Path,
    ) -> (WriterProcess, String) {
        WriterProcess::spawn_with(exe, name, url, local, &[])
    }

    /// The same process as a read-only handle that assumes GC grace
    /// `gc_grace_ms` and never refreshes by itself (`s3_writer --read-only`).
    pub fn spawn_reader(
        exe: &str,
        name: &'static str,
        url: &str,
        local: &std::path::Path,
        gc_grace_ms: u64,
    ) -> (WriterProcess, String) {
        let ms = gc_grace_ms.to_string();
        WriterProcess::spawn_with(exe, name, url, local, &["--read-only", &ms])
    }

    fn spawn_with(
        exe: &str,
        name: &'static str,
        url: &str,
        local: &std::path::Path,
        extra: &[&str],
    ) -> (WriterProcess, String) {
        let mut child = Command::new(exe)
            .arg(url)
            .arg(local)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn s3_writer");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut w = WriterProcess {
            name,
            child,
            stdin,
            lines,
        };
        let first = w.answer("open");
        (w, first)
    }

    pub fn answer(&mut self, what: &str) -> String {
        match self.lines.recv_timeout(COMMAND_DEADLINE) {
            Ok(line) => line,
            Err(e) => panic!("writer {}: no answer to {what:?}: {e}", self.name),
        }
    }

    /// Sends one command and returns its answer.
    pub fn cmd(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}")
            .and_then(|_| self.stdin.flush())
            .unwrap_or_else(|e| panic!("writer {}: send {command:?}: {e}", self.name));
        self.answer(command)
    }

    /// A command that must answer `OK <number>`.
    pub fn ok_number(&mut self, command: &str) -> u64 {
        let answer = self.cmd(command);
        answer
            .strip_prefix("OK ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("writer {}: {command:?} answered {answer:?}", self.name))
    }

    pub fn wait(mut self) {
        let deadline = Instant::now() + COMMAND_DEADLINE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "writer {} exited with {status}",
                        self.name
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => panic!("writer {} did not exit", self.name),
            }
        }
    }
}

impl Drop for WriterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WriterProcess {
    /// Kills the process at once (SIGKILL): nothing more reaches its disk
    /// or the bucket.
    /// The process id (to pause it with SIGSTOP, resume it with SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

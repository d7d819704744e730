//! Standard output and standard error for commands.
//!
//! Human and machine output goes to stdout through [`Out`] (buffered; a
//! closed pipe, as in `firn scan | head`, ends the command quietly instead of
//! panicking). Diagnostics go to stderr through [`diag`].

use std::io::{BufWriter, Write};

use serde::Serialize;

use crate::error::{output_error, CliError, CliResult};

/// Buffered standard output (or any writer, for tests).
pub struct Out {
    w: BufWriter<Box<dyn Write + Send>>,
}

impl Out {
    /// Writes to the process's standard output.
    pub fn stdout() -> Out {
        Out::to(Box::new(std::io::stdout()))
    }

    /// Writes to `w`.
    pub fn to(w: Box<dyn Write + Send>) -> Out {
        Out {
            w: BufWriter::with_capacity(64 << 10, w),
        }
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> CliResult {
        self.w.write_all(text.as_bytes()).map_err(output_error)?;
        self.w.write_all(b"\n").map_err(output_error)
    }

    /// Writes `text` as is.
    pub fn raw(&mut self, text: &str) -> CliResult {
        self.w.write_all(text.as_bytes()).map_err(output_error)
    }

    /// Writes `value` as compact JSON and a newline.
    pub fn json_line<T: Serialize + ?Sized>(&mut self, value: &T) -> CliResult {
        let text = to_json(value)?;
        self.line(&text)
    }

    /// Pushes buffered output to the reader now (e.g. after acknowledging
    /// writes).
    pub fn flush(&mut self) -> CliResult {
        self.w.flush().map_err(output_error)
    }
}

/// Compact JSON text of `value`.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> CliResult<String> {
    serde_json::to_string(value)
        .map_err(|e| CliError::other(format!("cannot encode JSON output: {e}")))
}

/// Writes one diagnostic line to stderr (errors writing it are ignored:
/// there is nowhere left to report them).
pub fn diag(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

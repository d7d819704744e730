//! Command errors and the exit codes scripts rely on.
//!
//! | code | meaning                                                        |
//! |------|----------------------------------------------------------------|
//! | 0    | success                                                        |
//! | 1    | not found (a missing key, chunk file or object)                |
//! | 2    | corruption (a checksum failed, a file is not a valid chunk)    |
//! | 3    | any other error (bad arguments or input, I/O, a locked writer) |

use firn::Error;
use firn_chunk::ChunkError;
use firn_manifest::ManifestError;
use firn_store::StoreError;

/// Why a command failed, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// Exit 1: what was asked for does not exist.
    NotFound,
    /// Exit 2: stored data is damaged.
    Corruption,
    /// Exit 3: anything else.
    Other,
    /// The reader of our output went away (a closed pipe): stop quietly, exit 0.
    OutputClosed,
}

impl ExitKind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::OutputClosed => 0,
            ExitKind::NotFound => 1,
            ExitKind::Corruption => 2,
            ExitKind::Other => 3,
        }
    }
}

/// A failed command: the exit kind and the one line printed to stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    /// Decides the exit code.
    pub kind: ExitKind,
    /// The message (without the `error: ` prefix).
    pub message: String,
    /// Print the message as is, without the `error: ` prefix (used for the
    /// plain `not found` of `get`).
    pub bare: bool,
}

/// Result alias for commands.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// An error with the given kind.
    pub fn new(kind: ExitKind, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
            bare: false,
        }
    }

    /// Exit 1.
    pub fn not_found(message: impl Into<String>) -> CliError {
        CliError::new(ExitKind::NotFound, message)
    }

    /// Exit 2.
    pub fn corruption(message: impl Into<String>) -> CliError {
        CliError::new(ExitKind::Corruption, message)
    }

    /// Exit 3.
    pub fn other(message: impl Into<String>) -> CliError {
        CliError::new(ExitKind::Other, message)
    }

    /// Prefixes the message with some context (`"{context}: {message}"`).
    pub fn context(mut self, context: impl std::fmt::Display) -> CliError {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The line to print on stderr: `error: MESSAGE` on one line (newlines in
    /// underlying messages are folded), or nothing for a closed output.
    pub fn line(&self) -> Option<String> {
        if self.kind == ExitKind::OutputClosed {
            return None;
        }
        let folded = self
            .message
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Some(if self.bare {
            folded
        } else {
            format!("error: {folded}")
        })
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> CliError {
        let kind = if err.is_corruption() {
            ExitKind::Corruption
        } else {
            ExitKind::Other
        };
        CliError::new(kind, err.to_string())
    }
}

impl From<ManifestError> for CliError {
    fn from(err: ManifestError) -> CliError {
        let kind = match &err {
            ManifestError::Corrupt { .. } => ExitKind::Corruption,
            _ => ExitKind::Other,
        };
        CliError::new(kind, err.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> CliError {
        let kind = match &err {
            StoreError::NotFound { .. } => ExitKind::NotFound,
            _ => ExitKind::Other,
        };
        CliError::new(kind, err.to_string())
    }
}

/// True when a chunk error means the bytes are damaged or not a chunk at all
/// (as opposed to an I/O failure or a newer format version).
pub fn chunk_error_is_corruption(err: &ChunkError) -> bool {
    match err {
        ChunkError::Corrupt { .. }
        | ChunkError::Truncated { .. }
        | ChunkError::NotAChunk { .. } => true,
        ChunkError::Io(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
        _ => false,
    }
}

/// A chunk error about the file or object `name`, with its exit kind.
pub fn chunk_error(name: &str, err: &ChunkError) -> CliError {
    let kind = if chunk_error_is_corruption(err) {
        ExitKind::Corruption
    } else {
        ExitKind::Other
    };
    CliError::new(kind, format!("{name}: {err}"))
}

/// Maps a failed write to stdout: a closed pipe ends the command quietly.
pub fn output_error(err: std::io::Error) -> CliError {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::new(ExitKind::OutputClosed, "output closed")
    } else {
        CliError::other(format!("cannot write to standard output: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_lines() {
        assert_eq!(CliError::not_found("x").kind.code(), 1);
        assert_eq!(CliError::corruption("x").kind.code(), 2);
        assert_eq!(CliError::other("x").kind.code(), 3);
        assert_eq!(
            CliError::other("a\nb\n").line().as_deref(),
            Some("error: a; b")
        );
        let bare = CliError {
            bare: true,
            ..CliError::not_found("not found")
        };
        assert_eq!(bare.line().as_deref(), Some("not found"));
        assert_eq!(
            output_error(std::io::ErrorKind::BrokenPipe.into()).line(),
            None
        );
    }

    #[test]
    fn engine_errors_map_to_codes() {
        let e: CliError = Error::Corruption {
            object: "chunks/x.chunk".into(),
            offset: Some(7),
            detail: "bad".into(),
        }
        .into();
        assert_eq!(e.kind, ExitKind::Corruption);
        assert!(
            e.message.contains("chunks/x.chunk at offset 7"),
            "{}",
            e.message
        );
        let e: CliError = Error::InvalidArgument("nope".into()).into();
        assert_eq!(e.kind, ExitKind::Other);
        let text = ChunkError::NotAChunk {
            detail: "bad magic".into(),
        };
        assert_eq!(chunk_error("f", &text).kind, ExitKind::Corruption);
        let version = ChunkError::UnsupportedVersion {
            found: 9,
            supported: 1,
        };
        assert_eq!(chunk_error("f", &version).kind, ExitKind::Other);
    }
}

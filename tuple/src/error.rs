//! Why bytes could not be unpacked.

use thiserror::Error;

/// Why [`unpack`](crate::unpack) rejected its input.
///
/// Every variant carries `offset`: the position in the input, counted from 0,
/// of the type code that starts the element at fault (for a nested element,
/// its own type code, not that of the enclosing tuple).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TupleError {
    /// A byte where an element should start is not a type code of this
    /// format. Bytes after the last element also end up here, since every
    /// byte at that position would start another element.
    #[error("unknown type code {code:#04x} at offset {offset}")]
    UnknownTypeCode {
        /// The byte that was read.
        code: u8,
        /// Its position.
        offset: usize,
    },

    /// The input ended inside an element: an integer or float missing
    /// payload bytes, or a byte string or string missing its terminator.
    #[error("truncated {what} starting at offset {offset}")]
    Truncated {
        /// Position of the element's type code.
        offset: usize,
        /// The kind of element: "integer", "float", "bytes" or "string".
        what: &'static str,
    },

    /// A string element is not valid UTF-8.
    #[error("string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Position of the string's type code.
        offset: usize,
    },

    /// An integer lies outside `i64::MIN ..= u64::MAX` (including every
    /// integer longer than 8 bytes).
    #[error("integer at offset {offset} is outside i64::MIN ..= u64::MAX")]
    IntegerOutOfRange {
        /// Position of the integer's type code.
        offset: usize,
    },

    /// An integer is written with more bytes than it needs (a leading 0x00,
    /// or a leading 0xFF for a negative one). [`pack`](crate::pack) never
    /// writes these; rejecting them keeps one byte string per tuple.
    #[error("integer at offset {offset} has a redundant leading byte")]
    NonCanonicalInteger {
        /// Position of the integer's type code.
        offset: usize,
    },

    /// The input ended inside a nested tuple, before its terminating 0x00.
    #[error("nested tuple starting at offset {offset} is not terminated")]
    UnterminatedTuple {
        /// Position of the nested tuple's type code.
        offset: usize,
    },

    /// Nested tuples are nested deeper than
    /// [`MAX_NESTING_DEPTH`](crate::MAX_NESTING_DEPTH).
    #[error("nested tuple at offset {offset} is nested deeper than {limit} levels")]
    NestingTooDeep {
        /// Position of the first nested tuple's type code past the limit.
        offset: usize,
        /// The limit.
        limit: usize,
    },
}

//! The byte layout of a packed tuple, and the type codes that start each
//! element.
//!
//! ```text
//! A packed tuple is its elements' encodings, one after another, with no
//! header, count or version byte:
//!
//!   +-----------+-----------+-----+-----------+
//!   | element 0 | element 1 | ... | element n |
//!   +-----------+-----------+-----+-----------+
//!
//! Every element starts with one type-code byte. The code decides the kind
//! (and, for integers, the payload length), so each encoding is
//! self-delimiting and no encoding is a prefix of another.
//!
//!   code        kind        payload after the code
//!   ----------  ----------  -------------------------------------------------
//!   0x00        Null        none (inside a nested tuple: 0x00 0xFF, see below)
//!   0x01        Bytes       escaped bytes, then 0x00
//!   0x02        String      escaped UTF-8 bytes, then 0x00
//!   0x05        Tuple       nested elements, then 0x00
//!   0x0C..0x13  Int < 0     8..1 bytes: one's complement of |n|, big-endian
//!   0x14        Int = 0     none
//!   0x15..0x1C  Int > 0     1..8 bytes: n, big-endian
//!   0x21        Float       8 bytes: f64 bits, big-endian, with the sign bit
//!                           flipped if positive, every bit flipped if negative
//!   0x26        Bool false  none
//!   0x27        Bool true   none
//!
//! Escaping (Bytes and String):
//!
//!   raw:      66 6F 6F 00 62 61 72              "foo\0bar"
//!   encoded:  01 66 6F 6F 00 FF 62 61 72 00     each 0x00 becomes 0x00 0xFF;
//!             ^^          ^^^^^          ^^     a lone 0x00 ends the value
//!             code        escaped nul    end
//!
//! Integers (minimal length; the code is 0x14 + length, or 0x14 - length):
//!
//!   -256 -> 12 FE FF     -255 -> 13 00     -1 -> 13 FE     0 -> 14
//!      1 -> 15 01         255 -> 15 FF    256 -> 16 01 00
//!
//! Nested tuple:
//!
//!   (1, Null, ("a",))  ->  05  15 01  00 FF  05 02 61 00 00  00
//!                          ^^  ^^^^^  ^^^^^  ^^^^^^^^^^^^^^  ^^
//!                          |   1      Null   ("a",)          end
//!                          start
//! ```
//!
//! Inside a nested tuple a bare 0x00 ends the tuple, so a Null element there is
//! written 0x00 0xFF. Both spellings sort below every other element and a
//! shorter tuple (ending in 0x00) sorts below a longer one.
//!
//! These codes and layouts are the ones FoundationDB's tuple layer uses for the
//! same kinds, so a packed Firn tuple is also a valid FoundationDB tuple.
//!
//! # Frozen: never renumber
//!
//! The encoding has no version byte: keys already written depend on every
//! constant below. Never change a value. A new kind may only take a code that
//! is unused here, and only one whose position among the other codes gives the
//! kind order wanted. Codes FoundationDB assigns to other kinds (0x0B and 0x1D
//! for big integers, 0x20 for f32, 0x30 for UUIDs, 0x33 for versionstamps, ...)
//! are best kept for those meanings.

/// Null at top level; inside a nested tuple it is written `NULL, ESCAPE`.
/// Frozen: never renumber.
pub(crate) const NULL: u8 = 0x00;
/// Byte string. Frozen: never renumber.
pub(crate) const BYTES: u8 = 0x01;
/// UTF-8 string. Frozen: never renumber.
pub(crate) const STRING: u8 = 0x02;
/// Start of a nested tuple. Frozen: never renumber.
pub(crate) const NESTED: u8 = 0x05;
/// Negative integer of 8 bytes; `INT_ZERO - n` for n bytes.
/// Frozen: never renumber.
pub(crate) const INT_NEG_8: u8 = 0x0C;
/// The integer zero; positive integers of n bytes use `INT_ZERO + n`.
/// Frozen: never renumber.
pub(crate) const INT_ZERO: u8 = 0x14;
/// Positive integer of 8 bytes. Frozen: never renumber.
pub(crate) const INT_POS_8: u8 = 0x1C;
/// FoundationDB's code for a negative integer longer than 8 bytes; always out
/// of range here. Frozen: never renumber.
pub(crate) const INT_NEG_BIG: u8 = 0x0B;
/// FoundationDB's code for a positive integer longer than 8 bytes; always out
/// of range here. Frozen: never renumber.
pub(crate) const INT_POS_BIG: u8 = 0x1D;
/// 64-bit IEEE 754 float. Frozen: never renumber.
pub(crate) const FLOAT64: u8 = 0x21;
/// Boolean false. Frozen: never renumber.
pub(crate) const FALSE: u8 = 0x26;
/// Boolean true. Frozen: never renumber.
pub(crate) const TRUE: u8 = 0x27;

/// Ends a byte string, a string or a nested tuple.
pub(crate) const TERMINATOR: u8 = 0x00;
/// Follows a 0x00 that is data rather than an end: an escaped nul byte in a
/// string, or a Null inside a nested tuple.
pub(crate) const ESCAPE: u8 = 0xFF;

/// Largest payload of an integer, in bytes.
pub(crate) const MAX_INT_LEN: u8 = 8;
/// The sign bit of an `f64`'s bits.
pub(crate) const F64_SIGN_BIT: u64 = 1 << 63;

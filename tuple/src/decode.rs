//! Unpacking bytes into a tuple.
//!
//! The input may be anything, so this module never panics: it reads through
//! `get`, checked or saturating arithmetic, and returns a [`TupleError`] for
//! every malformed input.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::element::{Element, Integer};
use crate::error::TupleError;
use crate::format::{
    BYTES, ESCAPE, F64_SIGN_BIT, FALSE, FLOAT64, INT_NEG_8, INT_NEG_BIG, INT_POS_8, INT_POS_BIG,
    INT_ZERO, NESTED, NULL, STRING, TERMINATOR, TRUE,
};

/// How deeply [`unpack`] lets tuples nest: a tuple inside the packed tuple is
/// at depth 1, a tuple inside that at depth 2, and so on. Deeper input is
/// rejected with [`TupleError::NestingTooDeep`], which keeps the decoder's
/// recursion, and the drop of what it builds, within a small stack.
pub const MAX_NESTING_DEPTH: usize = 128;

/// Unpacks bytes made by [`pack`](crate::pack) back into the tuple's elements.
///
/// Accepts exactly the byte strings that `pack` can produce (with nesting up
/// to [`MAX_NESTING_DEPTH`]), so for any `bytes` it accepts,
/// `pack(&unpack(bytes)?) == bytes`. Anything else, for instance truncated
/// input, an unknown type code, invalid UTF-8, or an integer with a redundant
/// leading byte, is a [`TupleError`] giving the offset of the element at
/// fault. Never panics.
pub fn unpack(bytes: &[u8]) -> Result<Vec<Element>, TupleError> {
    let mut reader = Reader { bytes, position: 0 };
    let mut elements = Vec::new();
    while let Some(code) = reader.peek() {
        elements.push(reader.element(code, 0)?);
    }
    Ok(elements)
}

/// A position in the input.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.position.saturating_add(ahead)).copied()
    }

    fn skip(&mut self, count: usize) {
        self.position = self.position.saturating_add(count);
    }

    /// The next `count` bytes, or `None` (reading nothing) if there are fewer.
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(count)?;
        let taken = self.bytes.get(self.position..end)?;
        self.position = end;
        Some(taken)
    }

    /// Reads one element, starting at its type code `code` (the next byte).
    /// `depth` is the number of nested tuples around it.
    fn element(&mut self, code: u8, depth: usize) -> Result<Element, TupleError> {
        let offset = self.position;
        self.skip(1);
        match code {
            NULL => Ok(Element::Null),
            BYTES => self.escaped(offset, "bytes").map(Element::Bytes),
            STRING => {
                let bytes = self.escaped(offset, "string")?;
                String::from_utf8(bytes)
                    .map(Element::String)
                    .map_err(|_| TupleError::InvalidUtf8 { offset })
            }
            NESTED => self.nested(offset, depth).map(Element::Tuple),
            INT_NEG_8..=INT_POS_8 => self.integer(code, offset).map(Element::Int),
            INT_NEG_BIG | INT_POS_BIG => Err(TupleError::IntegerOutOfRange { offset }),
            FLOAT64 => self.float(offset).map(Element::Float),
            FALSE => Ok(Element::Bool(false)),
            TRUE => Ok(Element::Bool(true)),
            _ => Err(TupleError::UnknownTypeCode { code, offset }),
        }
    }

    /// Reads escaped bytes up to and including their terminator.
    fn escaped(&mut self, offset: usize, what: &'static str) -> Result<Vec<u8>, TupleError> {
        let mut unescaped = Vec::new();
        loop {
            let rest = self.bytes.get(self.position..).unwrap_or_default();
            let Some(zero_at) = rest.iter().position(|&byte| byte == 0x00) else {
                return Err(TupleError::Truncated { offset, what });
            };
            unescaped.extend_from_slice(rest.get(..zero_at).unwrap_or_default());
            self.skip(zero_at);
            if self.peek_at(1) == Some(ESCAPE) {
                unescaped.push(0x00);
                self.skip(2);
            } else {
                self.skip(1);
                return Ok(unescaped);
            }
        }
    }

    /// Reads the elements of a nested tuple, after its type code at `offset`,
    /// up to and including its terminator.
    fn nested(&mut self, offset: usize, depth: usize) -> Result<Vec<Element>, TupleError> {
        let depth = depth.saturating_add(1);
        if depth > MAX_NESTING_DEPTH {
            return Err(TupleError::NestingTooDeep {
                offset,
                limit: MAX_NESTING_DEPTH,
            });
        }
        let mut elements = Vec::new();
        loop {
            match self.peek() {
                None => return Err(TupleError::UnterminatedTuple { offset }),
                Some(TERMINATOR) if self.peek_at(1) == Some(ESCAPE) => {
                    elements.push(Element::Null);
                    self.skip(2);
                }
                Some(TERMINATOR) => {
                    self.skip(1);
                    return Ok(elements);
                }
                Some(code) => elements.push(self.element(code, depth)?),
            }
        }
    }

    /// Reads the payload of an integer whose type code, at `offset`, is
    /// `code`.
    fn integer(&mut self, code: u8, offset: usize) -> Result<Integer, TupleError> {
        let negative = code < INT_ZERO;
        let length = usize::from(code.abs_diff(INT_ZERO));
        let payload = self.take(length).ok_or(TupleError::Truncated {
            offset,
            what: "integer",
        })?;
        // A negative integer's payload is the one's complement of its
        // magnitude: pad it with 0xFF to 8 bytes and flip every bit.
        let (padding, redundant_leading_byte) = if negative { (0xFF, 0xFF) } else { (0x00, 0x00) };
        if payload.first() == Some(&redundant_leading_byte) {
            return Err(TupleError::NonCanonicalInteger { offset });
        }
        let mut padded = [padding; 8];
        let skipped = padded.len().saturating_sub(length);
        for (slot, byte) in padded.iter_mut().skip(skipped).zip(payload) {
            *slot = *byte;
        }
        let bits = u64::from_be_bytes(padded);
        let value = if negative {
            i128::from(!bits)
                .checked_neg()
                .ok_or(TupleError::IntegerOutOfRange { offset })?
        } else {
            i128::from(bits)
        };
        Integer::from_i128(value).ok_or(TupleError::IntegerOutOfRange { offset })
    }

    /// Reads the 8 payload bytes of a float whose type code is at `offset`.
    fn float(&mut self, offset: usize) -> Result<f64, TupleError> {
        let payload = self.take(8).ok_or(TupleError::Truncated {
            offset,
            what: "float",
        })?;
        let array = <[u8; 8]>::try_from(payload).map_err(|_| TupleError::Truncated {
            offset,
            what: "float",
        })?;
        let ordered = u64::from_be_bytes(array);
        // Undo the encoder's rearrangement: an encoded positive value has the
        // sign bit set, an encoded negative value had every bit flipped.
        let bits = if ordered & F64_SIGN_BIT != 0 {
            ordered & !F64_SIGN_BIT
        } else {
            !ordered
        };
        Ok(f64::from_bits(bits))
    }
}

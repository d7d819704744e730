//! Packing tuples into bytes, and the byte range of a tuple prefix.
//!
//! The layout is described in the `format` module and in FORMAT.md.

use crate::element::{Element, Integer};
use crate::format::{
    BYTES, ESCAPE, F64_SIGN_BIT, FALSE, FLOAT64, INT_ZERO, MAX_INT_LEN, NESTED, NULL, STRING,
    TERMINATOR, TRUE,
};

/// Packs `elements` into a byte string that sorts, byte-wise, in the order of
/// the tuples (see [`Element`] for that order).
///
/// For all tuples `a` and `b`:
///
/// - `pack(a).cmp(&pack(b)) == a.cmp(b)`;
/// - `unpack(&pack(a)) == Ok(a)`;
/// - `pack(a ++ b) == pack(a) ++ pack(b)`, so a packed tuple is a byte prefix
///   of every packed tuple that extends it.
///
/// The empty tuple packs to no bytes.
pub fn pack(elements: &[Element]) -> Vec<u8> {
    let mut out = Vec::new();
    pack_into(elements, &mut out);
    out
}

/// Appends the packing of `elements` to `out`; see [`pack`].
pub fn pack_into(elements: &[Element], out: &mut Vec<u8>) {
    for element in elements {
        encode_element(element, false, out);
    }
}

/// The byte range holding exactly the packed tuples that strictly extend
/// `prefix`: those with at least one more element after `prefix`'s.
///
/// Returns `(start, end)`: `start` is inclusive and is `pack(prefix)`
/// followed by 0x00, `end` is exclusive and is `pack(prefix)` followed by
/// 0xFF. Every element encoding starts with a type code below 0xFF, so a packed
/// tuple lies in the range if and only if it starts with `pack(prefix)` and
/// has more after it. `pack(prefix)` itself is not in the range.
///
/// ```
/// use firn_tuple::{pack, range, Element};
///
/// let (start, end) = range(&[Element::from("users")]);
/// let inside = pack(&["users".into(), 7u64.into()]);
/// let outside = pack(&["users!".into()]);
/// assert!(start <= inside && inside < end);
/// assert!(!(start <= outside && outside < end));
/// ```
pub fn range(prefix: &[Element]) -> (Vec<u8>, Vec<u8>) {
    let mut start = pack(prefix);
    let mut end = start.clone();
    start.push(0x00);
    end.push(0xFF);
    (start, end)
}

fn encode_element(element: &Element, nested: bool, out: &mut Vec<u8>) {
    match element {
        Element::Null => {
            out.push(NULL);
            if nested {
                out.push(ESCAPE);
            }
        }
        Element::Bytes(bytes) => {
            out.push(BYTES);
            encode_escaped(bytes, out);
        }
        Element::String(string) => {
            out.push(STRING);
            encode_escaped(string.as_bytes(), out);
        }
        Element::Tuple(elements) => {
            out.push(NESTED);
            for element in elements {
                encode_element(element, true, out);
            }
            out.push(TERMINATOR);
        }
        Element::Int(integer) => encode_integer(*integer, out),
        Element::Float(float) => {
            out.push(FLOAT64);
            out.extend_from_slice(&order_preserving_f64_bits(*float).to_be_bytes());
        }
        Element::Bool(false) => out.push(FALSE),
        Element::Bool(true) => out.push(TRUE),
    }
}

/// Writes `bytes` with every 0x00 escaped as 0x00 0xFF, then a terminating
/// 0x00.
fn encode_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    for &byte in bytes {
        out.push(byte);
        if byte == 0x00 {
            out.push(ESCAPE);
        }
    }
    out.push(TERMINATOR);
}

/// Writes the type code `INT_ZERO ± n` and the `n` significant big-endian
/// bytes of the magnitude; for negative values, the bytes are the one's
/// complement, so that a larger magnitude gives smaller bytes.
fn encode_integer(integer: Integer, out: &mut Vec<u8>) {
    let value = integer.to_i128();
    // `Integer` holds `i64::MIN ..= u64::MAX`, whose magnitudes all fit in a
    // `u64`; `Integer::MAX` keeps this from ever saturating.
    let magnitude = u64::try_from(value.unsigned_abs()).unwrap_or(u64::MAX);
    let significant_bytes = MAX_INT_LEN - (magnitude.leading_zeros() / 8) as u8;
    let skipped = usize::from(MAX_INT_LEN - significant_bytes);
    if value >= 0 {
        out.push(INT_ZERO + significant_bytes);
        out.extend_from_slice(&magnitude.to_be_bytes()[skipped..]);
    } else {
        out.push(INT_ZERO - significant_bytes);
        out.extend_from_slice(&(!magnitude).to_be_bytes()[skipped..]);
    }
}

/// The bits of `float` rearranged so that comparing them as unsigned integers
/// gives IEEE 754 totalOrder: positive values get the sign bit set, negative
/// values have every bit flipped.
fn order_preserving_f64_bits(float: f64) -> u64 {
    let bits = float.to_bits();
    if bits & F64_SIGN_BIT == 0 {
        bits | F64_SIGN_BIT
    } else {
        !bits
    }
}

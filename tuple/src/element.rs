//! The values a tuple holds, and their total order.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// An integer in `i64::MIN ..= u64::MAX`: every value of `i64` and of `u64`,
/// ordered numerically.
///
/// It is stored as an `i128`; the constructors keep it inside that range, so
/// a value that does not fit the encoding can not be built, and packing never
/// truncates.
///
/// ```
/// use firn_tuple::Integer;
///
/// assert_eq!(Integer::from(-1i64).as_i64(), Some(-1));
/// assert_eq!(Integer::from(u64::MAX).as_i64(), None);
/// assert_eq!(Integer::from_i128(i128::from(u64::MAX) + 1), None);
/// assert!(Integer::from(-1i64) < Integer::from(0u64));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Integer(i128);

impl Integer {
    /// The smallest integer: `i64::MIN`.
    pub const MIN: Integer = Integer(i64::MIN as i128);
    /// The largest integer: `u64::MAX`.
    pub const MAX: Integer = Integer(u64::MAX as i128);

    /// The integer `value`, or `None` if it is outside `i64::MIN ..= u64::MAX`.
    pub fn from_i128(value: i128) -> Option<Integer> {
        (Self::MIN.0..=Self::MAX.0)
            .contains(&value)
            .then_some(Integer(value))
    }

    /// The value as an `i128` (always fits).
    pub fn to_i128(self) -> i128 {
        self.0
    }

    /// The value as an `i64`, if it fits.
    pub fn as_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// The value as a `u64`, if it fits.
    pub fn as_u64(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }
}

impl fmt::Display for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

macro_rules! integer_from {
    ($($source:ty),*) => {$(
        impl From<$source> for Integer {
            fn from(value: $source) -> Integer {
                Integer(i128::from(value))
            }
        }

        impl From<$source> for Element {
            fn from(value: $source) -> Element {
                Element::Int(Integer::from(value))
            }
        }
    )*};
}

integer_from!(i8, i16, i32, i64, u8, u16, u32, u64);

/// One element of a tuple.
///
/// # Order
///
/// Elements have a total order (`Ord`), and packed tuples sort byte-wise in
/// exactly that order. Elements of different kinds sort by kind:
///
/// `Null < Bytes < String < Tuple < Int < Float < Bool`
///
/// (the order of their type codes, the same as FoundationDB's). Elements of the
/// same kind sort by value:
///
/// - `Bytes` and `String`: lexicographically by their bytes (for strings, the
///   UTF-8 bytes, which is also code-point order);
/// - `Tuple`: element by element; a tuple that is a prefix of another sorts
///   first;
/// - `Int`: numerically;
/// - `Float`: by IEEE 754 totalOrder ([`f64::total_cmp`]):
///   `-NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN`, NaNs further
///   ordered by their payload bits;
/// - `Bool`: `false < true`.
///
/// Equality agrees with this order, so two floats are equal only if their bits
/// are: `-0.0 != +0.0`, and a NaN equals itself.
#[derive(Clone, Debug)]
pub enum Element {
    /// The null element.
    Null,
    /// A byte string.
    Bytes(Vec<u8>),
    /// A UTF-8 string.
    String(String),
    /// A nested tuple.
    Tuple(Vec<Element>),
    /// An integer in `i64::MIN ..= u64::MAX`.
    Int(Integer),
    /// A 64-bit float; every bit pattern, NaNs included, is kept exactly.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Element {
    /// Position of this element's kind in the kind order.
    fn kind_rank(&self) -> u8 {
        match self {
            Element::Null => 0,
            Element::Bytes(_) => 1,
            Element::String(_) => 2,
            Element::Tuple(_) => 3,
            Element::Int(_) => 4,
            Element::Float(_) => 5,
            Element::Bool(_) => 6,
        }
    }

    /// Whether this is [`Element::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Element::Null)
    }

    /// The integer, if this is an `Int` that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_integer().and_then(Integer::as_i64)
    }

    /// The integer, if this is an `Int` that fits in a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(Integer::as_u64)
    }

    /// The integer, if this is an `Int`.
    pub fn as_integer(&self) -> Option<Integer> {
        match self {
            Element::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The float, if this is a `Float`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Element::Float(value) => Some(*value),
            _ => None,
        }
    }

    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Element::Bool(value) => Some(*value),
            _ => None,
        }
    }

    /// The string, if this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Element::String(value) => Some(value),
            _ => None,
        }
    }

    /// The bytes, if this is `Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Element::Bytes(value) => Some(value),
            _ => None,
        }
    }

    /// The elements, if this is a nested `Tuple`.
    pub fn as_tuple(&self) -> Option<&[Element]> {
        match self {
            Element::Tuple(value) => Some(value),
            _ => None,
        }
    }
}

impl Ord for Element {
    fn cmp(&self, other: &Element) -> Ordering {
        match (self, other) {
            (Element::Null, Element::Null) => Ordering::Equal,
            (Element::Bytes(a), Element::Bytes(b)) => a.cmp(b),
            (Element::String(a), Element::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Element::Tuple(a), Element::Tuple(b)) => a.cmp(b),
            (Element::Int(a), Element::Int(b)) => a.cmp(b),
            (Element::Float(a), Element::Float(b)) => a.total_cmp(b),
            (Element::Bool(a), Element::Bool(b)) => a.cmp(b),
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }
}

impl PartialOrd for Element {
    fn partial_cmp(&self, other: &Element) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Element {
    fn eq(&self, other: &Element) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Element {}

impl Hash for Element {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind_rank().hash(state);
        match self {
            Element::Null => {}
            Element::Bytes(value) => value.hash(state),
            Element::String(value) => value.hash(state),
            Element::Tuple(value) => value.hash(state),
            Element::Int(value) => value.hash(state),
            // Equal floats have equal bits (see `Ord`), so hashing the bits
            // agrees with `Eq`.
            Element::Float(value) => value.to_bits().hash(state),
            Element::Bool(value) => value.hash(state),
        }
    }
}

impl From<Integer> for Element {
    fn from(value: Integer) -> Element {
        Element::Int(value)
    }
}

impl From<bool> for Element {
    fn from(value: bool) -> Element {
        Element::Bool(value)
    }
}

impl From<f64> for Element {
    fn from(value: f64) -> Element {
        Element::Float(value)
    }
}

impl From<&str> for Element {
    fn from(value: &str) -> Element {
        Element::String(value.to_owned())
    }
}

impl From<String> for Element {
    fn from(value: String) -> Element {
        Element::String(value)
    }
}

impl From<&[u8]> for Element {
    fn from(value: &[u8]) -> Element {
        Element::Bytes(value.to_vec())
    }
}

impl From<Vec<u8>> for Element {
    fn from(value: Vec<u8>) -> Element {
        Element::Bytes(value)
    }
}

impl From<Vec<Element>> for Element {
    fn from(value: Vec<Element>) -> Element {
        Element::Tuple(value)
    }
}

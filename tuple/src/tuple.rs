//! [`Tuple`]: a small owned tuple with a builder and packing methods.

use crate::decode::unpack;
use crate::element::Element;
use crate::encode::{pack, pack_into, range};
use crate::error::TupleError;

/// An owned tuple: a list of [`Element`]s, built with [`Tuple::push`].
///
/// Tuples compare in the order of their packed bytes (element by element, a
/// prefix first).
///
/// ```
/// use firn_tuple::Tuple;
///
/// let key = Tuple::new().push(1u64).push("users").push(Tuple::new().push(true));
/// assert_eq!(Tuple::unpack(&key.pack()), Ok(key));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple(Vec<Element>);

impl Tuple {
    /// The empty tuple.
    pub fn new() -> Tuple {
        Tuple(Vec::new())
    }

    /// This tuple with `element` appended.
    #[must_use]
    pub fn push(mut self, element: impl Into<Element>) -> Tuple {
        self.0.push(element.into());
        self
    }

    /// The elements.
    pub fn elements(&self) -> &[Element] {
        &self.0
    }

    /// The elements, by value.
    pub fn into_elements(self) -> Vec<Element> {
        self.0
    }

    /// The packed bytes; see [`pack`](crate::pack).
    pub fn pack(&self) -> Vec<u8> {
        pack(&self.0)
    }

    /// Appends the packed bytes to `out`; see [`pack_into`](crate::pack_into).
    pub fn pack_into(&self, out: &mut Vec<u8>) {
        pack_into(&self.0, out);
    }

    /// The byte range of the packed tuples that strictly extend this one; see
    /// [`range`](crate::range).
    pub fn range(&self) -> (Vec<u8>, Vec<u8>) {
        range(&self.0)
    }

    /// Unpacks bytes made by [`Tuple::pack`]; see [`unpack`](crate::unpack).
    pub fn unpack(bytes: &[u8]) -> Result<Tuple, TupleError> {
        unpack(bytes).map(Tuple)
    }
}

impl From<Vec<Element>> for Tuple {
    fn from(elements: Vec<Element>) -> Tuple {
        Tuple(elements)
    }
}

impl From<Tuple> for Vec<Element> {
    fn from(tuple: Tuple) -> Vec<Element> {
        tuple.0
    }
}

/// A `Tuple` pushed into another becomes a nested [`Element::Tuple`].
impl From<Tuple> for Element {
    fn from(tuple: Tuple) -> Element {
        Element::Tuple(tuple.0)
    }
}

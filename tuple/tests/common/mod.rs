//! Proptest strategies shared by the test files.

#![allow(dead_code)]

use firn_tuple::{Element, Integer};
use proptest::prelude::*;

/// Cases per property: enough to find ordering bugs, fast in a debug build.
pub const CASES: u32 = 1000;

/// Integers, biased towards the edges of the encoding: zero, the borders
/// between payload lengths, and the ends of the range.
pub fn integer() -> impl Strategy<Value = Integer> {
    let edge = prop_oneof![
        Just(0i128),
        Just(1),
        Just(-1),
        Just(255),
        Just(-255),
        Just(256),
        Just(-256),
        Just(65_535),
        Just(-65_536),
        Just(i128::from(i64::MIN)),
        Just(i128::from(i64::MIN) + 1),
        Just(i128::from(i64::MAX)),
        Just(i128::from(i64::MAX) + 1),
        Just(i128::from(u64::MAX)),
        Just(i128::from(u64::MAX) - 1),
        (0u32..64).prop_map(|shift| 1i128 << shift),
        (0u32..64).prop_map(|shift| -(1i128 << shift)),
    ];
    prop_oneof![
        3 => edge,
        2 => -3i128..3,
        2 => any::<i64>().prop_map(i128::from),
        2 => any::<u64>().prop_map(i128::from),
    ]
    .prop_map(|value| Integer::from_i128(value).expect("strategy stays in range"))
}

/// Floats, biased towards zeros, infinities and NaNs of both signs.
pub fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        Just(f64::MIN),
        (-2i8..=2).prop_map(f64::from),
        any::<f64>(),
        // Every bit pattern, so NaN payloads and subnormals too.
        any::<u64>().prop_map(f64::from_bits),
    ]
}

/// Short byte strings over a small alphabet rich in 0x00 and 0xFF, so that
/// equal prefixes and escapes are common.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(0x00u8),
        Just(0xFF),
        Just(0x01),
        Just(0xFE),
        any::<u8>()
    ];
    prop::collection::vec(byte, 0..5)
}

/// Short strings over a small alphabet that includes NUL.
pub fn string() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        Just('\0'),
        Just('a'),
        Just('b'),
        Just('\u{ff}'),
        Just('\u{10ffff}'),
        any::<char>(),
    ];
    prop::collection::vec(character, 0..5).prop_map(|characters| characters.into_iter().collect())
}

/// Elements of every kind, with tuples nested up to 3 deep.
pub fn element() -> impl Strategy<Value = Element> {
    let leaf = prop_oneof![
        Just(Element::Null),
        any::<bool>().prop_map(Element::Bool),
        integer().prop_map(Element::Int),
        float().prop_map(Element::Float),
        string().prop_map(Element::String),
        bytes().prop_map(Element::Bytes),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(Element::Tuple)
    })
}

/// Tuples of up to 4 elements.
pub fn tuple() -> impl Strategy<Value = Vec<Element>> {
    prop::collection::vec(element(), 0..5)
}

/// Whether `tuple` has more elements than `prefix` and starts with them.
pub fn strictly_extends(tuple: &[Element], prefix: &[Element]) -> bool {
    tuple.len() > prefix.len() && tuple.starts_with(prefix)
}

/// `a` followed by `b`.
pub fn concat(a: &[Element], b: &[Element]) -> Vec<Element> {
    a.iter().chain(b).cloned().collect()
}

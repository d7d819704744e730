//! The element type, its order and the `Tuple` builder.

use firn_tuple::{pack, range, unpack, Element, Integer, Tuple};

#[test]
fn integer_constructor_rejects_values_outside_the_range() {
    assert_eq!(Integer::from_i128(i128::from(i64::MIN) - 1), None);
    assert_eq!(Integer::from_i128(i128::from(u64::MAX) + 1), None);
    assert_eq!(Integer::from_i128(i128::from(i64::MIN)), Some(Integer::MIN));
    assert_eq!(Integer::from_i128(i128::from(u64::MAX)), Some(Integer::MAX));
}

#[test]
fn integer_accessors_return_only_values_that_fit() {
    assert_eq!(Element::from(-1i32).as_i64(), Some(-1));
    assert_eq!(Element::from(-1i32).as_u64(), None);
    assert_eq!(Element::from(u64::MAX).as_u64(), Some(u64::MAX));
    assert_eq!(Element::from(u64::MAX).as_i64(), None);
    assert_eq!(Element::from(7u8).as_i64(), Some(7));
    assert_eq!(Element::from("7").as_i64(), None);
}

#[test]
fn integers_of_every_source_type_are_one_kind() {
    assert_eq!(Element::from(5u64), Element::from(5i8));
    assert!(Element::from(-1i64) < Element::from(0u64));
    assert!(Element::from(i64::MAX) < Element::from(u64::MAX));
}

#[test]
fn kinds_sort_in_the_documented_order() {
    let one_of_each_kind = [
        Element::Null,
        Element::from(vec![0xFFu8]),
        Element::from(""),
        Element::Tuple(vec![]),
        Element::from(i64::MIN),
        Element::from(f64::NEG_INFINITY),
        Element::from(false),
    ];
    for pair in one_of_each_kind.windows(2) {
        assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        assert!(
            pack(&pair[..1]) < pack(&pair[1..]),
            "{:?} < {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn floats_are_equal_only_when_their_bits_are() {
    assert_ne!(Element::from(0.0), Element::from(-0.0));
    assert!(Element::from(-0.0) < Element::from(0.0));
    assert_eq!(Element::from(f64::NAN), Element::from(f64::NAN));
    assert!(Element::from(f64::INFINITY) < Element::from(f64::NAN));
    assert!(Element::from(-f64::NAN) < Element::from(f64::NEG_INFINITY));
}

#[test]
fn a_tuple_sorts_before_its_extensions() {
    let short = Tuple::new().push(1).push("a");
    let long = short.clone().push(Element::Null);
    assert!(short < long);
    assert!(short.pack() < long.pack());
    let nested_short = Tuple::new().push(short);
    let nested_long = Tuple::new().push(long);
    assert!(nested_short < nested_long);
    assert!(nested_short.pack() < nested_long.pack());
}

#[test]
fn tuple_builder_agrees_with_the_free_functions() {
    let tuple = Tuple::new()
        .push(3u32)
        .push("users")
        .push(vec![0u8, 1])
        .push(2.5)
        .push(true);
    let elements = tuple.elements().to_vec();
    assert_eq!(tuple.pack(), pack(&elements));
    assert_eq!(tuple.range(), range(&elements));
    let mut appended = vec![0xAB];
    tuple.pack_into(&mut appended);
    assert_eq!(appended[1..], pack(&elements));
    assert_eq!(Tuple::unpack(&tuple.pack()), Ok(tuple.clone()));
    assert_eq!(unpack(&tuple.pack()), Ok(tuple.into_elements()));
}

#[test]
fn range_bounds_are_the_prefix_followed_by_0x00_and_0xff() {
    let prefix = [Element::from(7u64), Element::from("orders")];
    let (start, end) = range(&prefix);
    let packed = pack(&prefix);
    assert_eq!(start, [packed.as_slice(), &[0x00]].concat());
    assert_eq!(end, [packed.as_slice(), &[0xFF]].concat());
    assert_eq!(range(&[]), (vec![0x00], vec![0xFF]));
}

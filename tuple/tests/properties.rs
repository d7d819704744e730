//! Properties of `pack`, `unpack` and `range` over random tuples.

mod common;

use common::{concat, element, float, integer, strictly_extends, tuple, CASES};
use firn_tuple::{pack, range, unpack, Element};
use proptest::prelude::*;

fn in_range(key: &[u8], (start, end): &(Vec<u8>, Vec<u8>)) -> bool {
    start.as_slice() <= key && key < end.as_slice()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn packed_order_matches_tuple_order(a in tuple(), b in tuple()) {
        prop_assert_eq!(pack(&a).cmp(&pack(&b)), a.cmp(&b));
    }

    /// Random tuples mostly differ in their first element; a shared prefix
    /// makes the comparison reach later and nested elements.
    #[test]
    fn packed_order_matches_tuple_order_after_a_shared_prefix(
        prefix in tuple(),
        tail_a in tuple(),
        tail_b in tuple(),
    ) {
        let a = concat(&prefix, &tail_a);
        let b = concat(&prefix, &tail_b);
        prop_assert_eq!(pack(&a).cmp(&pack(&b)), a.cmp(&b));
    }

    /// Same, for tuples nested inside a tuple, where nulls are escaped and a
    /// terminator ends the tuple.
    #[test]
    fn packed_order_matches_tuple_order_inside_nested_tuples(
        prefix in tuple(),
        tail_a in tuple(),
        tail_b in tuple(),
        after in tuple(),
    ) {
        let a = concat(&[Element::Tuple(concat(&prefix, &tail_a))], &after);
        let b = concat(&[Element::Tuple(concat(&prefix, &tail_b))], &after);
        prop_assert_eq!(pack(&a).cmp(&pack(&b)), a.cmp(&b));
    }

    #[test]
    fn packed_order_matches_element_order(a in element(), b in element()) {
        let packed_a = pack(std::slice::from_ref(&a));
        let packed_b = pack(std::slice::from_ref(&b));
        prop_assert_eq!(packed_a.cmp(&packed_b), a.cmp(&b));
    }

    #[test]
    fn integers_pack_in_numeric_order(a in integer(), b in integer()) {
        let packed_a = pack(&[Element::Int(a)]);
        let packed_b = pack(&[Element::Int(b)]);
        prop_assert_eq!(packed_a.cmp(&packed_b), a.to_i128().cmp(&b.to_i128()));
    }

    #[test]
    fn floats_pack_in_total_order(a in float(), b in float()) {
        let packed_a = pack(&[Element::Float(a)]);
        let packed_b = pack(&[Element::Float(b)]);
        prop_assert_eq!(packed_a.cmp(&packed_b), a.total_cmp(&b));
    }

    #[test]
    fn unpack_inverts_pack(a in tuple()) {
        let unpacked = unpack(&pack(&a));
        prop_assert_eq!(unpacked, Ok(a));
    }

    #[test]
    fn pack_of_concatenation_is_concatenation_of_packs(a in tuple(), b in tuple()) {
        let mut expected = pack(&a);
        expected.extend_from_slice(&pack(&b));
        let packed = pack(&concat(&a, &b));
        prop_assert!(packed.starts_with(&pack(&a)));
        prop_assert_eq!(packed, expected);
    }

    #[test]
    fn range_holds_every_strict_extension_of_the_prefix(
        prefix in tuple(),
        extension in tuple().prop_filter("non-empty", |tail| !tail.is_empty()),
    ) {
        let bounds = range(&prefix);
        prop_assert!(in_range(&pack(&concat(&prefix, &extension)), &bounds));
        prop_assert!(!in_range(&pack(&prefix), &bounds));
    }

    #[test]
    fn range_holds_no_tuple_that_does_not_extend_the_prefix(
        shared in tuple(),
        prefix_tail in tuple(),
        other_tail in tuple(),
    ) {
        // Tuples that share some elements with the prefix are the ones a
        // wrong bound would let in.
        let prefix = concat(&shared, &prefix_tail);
        let other = concat(&shared, &other_tail);
        prop_assert_eq!(
            in_range(&pack(&other), &range(&prefix)),
            strictly_extends(&other, &prefix)
        );
    }

    #[test]
    fn sorting_by_packed_bytes_sorts_the_tuples(
        mut tuples in prop::collection::vec(tuple(), 0..12),
    ) {
        let mut by_bytes = tuples.clone();
        by_bytes.sort_by_cached_key(|t| pack(t));
        tuples.sort();
        prop_assert_eq!(by_bytes, tuples);
    }
}

//! The decoder on bytes that `pack` did not make: it must never panic, must
//! accept only canonical encodings, and must name the right error and offset.

mod common;

use common::{tuple, CASES};
use firn_tuple::{pack, unpack, TupleError, MAX_NESTING_DEPTH};
use proptest::prelude::*;

/// Unpacks `bytes`; if that succeeds, the tuple must pack back to exactly
/// `bytes` (every accepted input is canonical).
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(elements) = unpack(bytes) {
        prop_assert_eq!(pack(&elements), bytes);
    }
    Ok(())
}

/// Bytes that are mostly type codes, terminators and escapes, so that random
/// input decodes far more often than uniform bytes would.
fn code_heavy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        prop::sample::select(vec![
            0x00u8, 0x01, 0x02, 0x05, 0x0B, 0x0C, 0x13, 0x14, 0x15, 0x1C, 0x1D, 0x21, 0x26, 0x27,
            0xFF,
        ]),
        any::<u8>(),
    ];
    prop::collection::vec(byte, 0..48)
}

/// What can go wrong with stored bytes.
#[derive(Debug, Clone)]
enum Corruption {
    Truncate(usize),
    Flip { at: usize, mask: u8 },
    Insert { at: usize, byte: u8 },
    Remove(usize),
}

fn corrupt(mut bytes: Vec<u8>, corruption: &Corruption) -> Vec<u8> {
    let len = bytes.len();
    match *corruption {
        Corruption::Truncate(at) => bytes.truncate(at % (len + 1)),
        Corruption::Flip { at, mask } if len > 0 => bytes[at % len] ^= mask,
        Corruption::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
        Corruption::Remove(at) if len > 0 => {
            bytes.remove(at % len);
        }
        Corruption::Flip { .. } | Corruption::Remove(_) => {}
    }
    bytes
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        any::<usize>().prop_map(Corruption::Truncate),
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Corruption::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Corruption::Insert { at, byte }),
        any::<usize>().prop_map(Corruption::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn unpack_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        check_decode(&bytes)?;
    }

    #[test]
    fn unpack_never_panics_on_code_heavy_bytes(bytes in code_heavy_bytes()) {
        check_decode(&bytes)?;
    }

    #[test]
    fn unpack_never_panics_on_corrupted_packed_tuples(
        elements in tuple(),
        corruptions in prop::collection::vec(corruption(), 1..4),
    ) {
        let bytes = corruptions.iter().fold(pack(&elements), corrupt);
        check_decode(&bytes)?;
    }
}

fn unknown(code: u8, offset: usize) -> TupleError {
    TupleError::UnknownTypeCode { code, offset }
}

fn truncated(offset: usize, what: &'static str) -> TupleError {
    TupleError::Truncated { offset, what }
}

#[test]
fn malformed_inputs_report_the_right_error_and_offset() {
    use TupleError::*;
    let cases: Vec<(&str, Vec<u8>, TupleError)> = vec![
        ("unassigned code", vec![0xFF], unknown(0xFF, 0)),
        ("code after a valid int", vec![0x14, 0x03], unknown(0x03, 1)),
        ("trailing garbage", vec![0x15, 0x01, 0xFF], unknown(0xFF, 2)),
        (
            "escaped null at top level",
            vec![0x00, 0xFF],
            unknown(0xFF, 1),
        ),
        (
            "unknown code inside a nested tuple",
            vec![0x05, 0x14, 0x30, 0x00],
            unknown(0x30, 2),
        ),
        (
            "string without terminator",
            vec![0x02, b'a'],
            truncated(0, "string"),
        ),
        (
            "bytes ending in an escape",
            vec![0x14, 0x01, b'a', 0x00, 0xFF],
            truncated(1, "bytes"),
        ),
        (
            "integer missing a byte",
            vec![0x16, 0x01],
            truncated(0, "integer"),
        ),
        (
            "negative integer missing its bytes",
            vec![0x14, 0x0C],
            truncated(1, "integer"),
        ),
        (
            "float missing bytes",
            vec![0x21, 0x80, 0x00, 0x00],
            truncated(0, "float"),
        ),
        (
            "int inside a nested tuple missing its byte",
            vec![0x05, 0x15],
            truncated(1, "integer"),
        ),
        (
            "invalid utf-8",
            vec![0x02, 0xC3, 0x28, 0x00],
            InvalidUtf8 { offset: 0 },
        ),
        (
            "lone 0xff in a string",
            vec![0x14, 0x02, 0xFF, 0x00],
            InvalidUtf8 { offset: 1 },
        ),
        (
            "big positive integer code",
            vec![0x1D, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
            IntegerOutOfRange { offset: 0 },
        ),
        (
            "big negative integer code",
            vec![0x14, 0x0B, 0xF6],
            IntegerOutOfRange { offset: 1 },
        ),
        (
            "i64::MIN - 1",
            vec![0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE],
            IntegerOutOfRange { offset: 0 },
        ),
        (
            "positive with a leading zero byte",
            vec![0x15, 0x00],
            NonCanonicalInteger { offset: 0 },
        ),
        (
            "negative zero",
            vec![0x13, 0xFF],
            NonCanonicalInteger { offset: 0 },
        ),
        (
            "negative with a leading 0xff byte",
            vec![0x14, 0x12, 0xFF, 0x00],
            NonCanonicalInteger { offset: 1 },
        ),
        (
            "nested tuple without terminator",
            vec![0x05, 0x14],
            UnterminatedTuple { offset: 0 },
        ),
        (
            "nested tuple ending in a null",
            vec![0x05, 0x00, 0xFF],
            UnterminatedTuple { offset: 0 },
        ),
        (
            "outer tuple unterminated",
            vec![0x14, 0x05, 0x05, 0x00],
            UnterminatedTuple { offset: 1 },
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(unpack(&bytes), Err(expected), "{name}");
    }
}

#[test]
fn the_edges_of_the_integer_range_decode() {
    let i64_min = [0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert_eq!(unpack(&i64_min).map(|t| t[0].as_i64()), Ok(Some(i64::MIN)));
    let u64_max = [0x1C, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert_eq!(unpack(&u64_max).map(|t| t[0].as_u64()), Ok(Some(u64::MAX)));
}

#[test]
fn nesting_up_to_the_limit_decodes() {
    let mut bytes = vec![0x05; MAX_NESTING_DEPTH];
    bytes.extend(vec![0x00; MAX_NESTING_DEPTH]);
    let elements = unpack(&bytes).expect("nesting at the limit decodes");
    assert_eq!(pack(&elements), bytes);
}

#[test]
fn nesting_past_the_limit_is_an_error() {
    let depth = MAX_NESTING_DEPTH + 1;
    let mut bytes = vec![0x05; depth];
    bytes.extend(vec![0x00; depth]);
    assert_eq!(
        unpack(&bytes),
        Err(TupleError::NestingTooDeep {
            offset: MAX_NESTING_DEPTH,
            limit: MAX_NESTING_DEPTH
        })
    );
}

#[test]
fn very_deep_nesting_is_an_error_not_a_stack_overflow() {
    let bytes = vec![0x05; 1_000_000];
    assert!(matches!(
        unpack(&bytes),
        Err(TupleError::NestingTooDeep { .. })
    ));
}

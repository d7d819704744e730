//! Fixed tuples and their exact packed bytes. A failure here means the
//! encoding changed, which would break every key already stored: fix the
//! code, never the table.
//!
//! Except for `u64::MAX`, every row is the same bytes that FoundationDB's tuple
//! layer produces for the same tuple.

use firn_tuple::{unpack, Element, Tuple};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("valid hex"))
        .collect()
}

fn golden_table() -> Vec<(&'static str, Tuple, &'static str)> {
    let null = Element::Null;
    vec![
        ("empty tuple", Tuple::new(), ""),
        ("null", Tuple::new().push(null.clone()), "00"),
        (
            "bytes with a nul",
            Tuple::new().push(b"foo\x00bar".to_vec()),
            "01666f6f00ff62617200",
        ),
        (
            "bytes 0xff 0x00",
            Tuple::new().push(vec![0xFF, 0x00]),
            "01ff00ff00",
        ),
        ("empty string", Tuple::new().push(""), "0200"),
        (
            "utf-8 string with a nul",
            Tuple::new().push("F\u{d4}O\0bar"),
            "0246c3944f00ff62617200",
        ),
        (
            "nested tuple with bytes, null and empty tuple",
            Tuple::new().push(
                Tuple::new()
                    .push(b"foo\x00bar".to_vec())
                    .push(null.clone())
                    .push(Tuple::new()),
            ),
            "0501666f6f00ff6261720000ff050000",
        ),
        (
            "nested tuple holding a null",
            Tuple::new().push(Tuple::new().push(null.clone())),
            "0500ff00",
        ),
        (
            "small integers",
            Tuple::new()
                .push(0)
                .push(1)
                .push(-1)
                .push(255)
                .push(-255)
                .push(256)
                .push(-256),
            "14150113fe15ff130016010012feff",
        ),
        (
            "three-byte negative",
            Tuple::new().push(-5_551_212),
            "11ab4b93",
        ),
        (
            "i64::MIN",
            Tuple::new().push(i64::MIN),
            "0c7fffffffffffffff",
        ),
        (
            "i64::MAX",
            Tuple::new().push(i64::MAX),
            "1c7fffffffffffffff",
        ),
        (
            "u64::MAX",
            Tuple::new().push(u64::MAX),
            "1cffffffffffffffff",
        ),
        (
            "floats -42, +0, -0",
            Tuple::new().push(-42.0).push(0.0).push(-0.0),
            "213fbaffffffffffff218000000000000000217fffffffffffffff",
        ),
        (
            "floats +inf, -inf, NaN",
            Tuple::new()
                .push(f64::INFINITY)
                .push(f64::NEG_INFINITY)
                .push(f64::from_bits(0x7FF8_0000_0000_0000)),
            "21fff000000000000021000fffffffffffff21fff8000000000000",
        ),
        ("booleans", Tuple::new().push(false).push(true), "2627"),
        (
            "composite key",
            Tuple::new().push(42u64).push("orders").push(7u64),
            "152a026f7264657273001507",
        ),
        (
            "mixed nesting",
            Tuple::new()
                .push(1)
                .push(null.clone())
                .push(
                    Tuple::new()
                        .push("a")
                        .push(Tuple::new().push(null).push(false)),
                )
                .push(Vec::<u8>::new()),
            "150100050261000500ff2600000100",
        ),
    ]
}

#[test]
fn golden_tuples_pack_to_their_exact_bytes() {
    for (name, tuple, expected) in golden_table() {
        assert_eq!(hex(&tuple.pack()), expected, "{name}");
    }
}

#[test]
fn golden_bytes_unpack_to_their_tuples() {
    for (name, tuple, bytes) in golden_table() {
        assert_eq!(
            unpack(&from_hex(bytes)).as_deref(),
            Ok(tuple.elements()),
            "{name}"
        );
    }
}

//! Arbitrary bytes as a shipped WAL object: an error or its records, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firn::fuzzing::decode_shipped_wal(data);
});

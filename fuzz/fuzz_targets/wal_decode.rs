//! Arbitrary bytes as a WAL segment (with and without a valid header): replay
//! must return records or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firn::fuzzing::decode_wal_segment(data);
});

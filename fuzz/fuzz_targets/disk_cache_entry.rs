//! Arbitrary bytes as a disk cache entry file: the check must accept or
//! refuse them, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firn::fuzzing::decode_disk_cache_entry(data);
});

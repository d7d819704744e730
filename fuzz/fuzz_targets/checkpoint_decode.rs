//! Arbitrary bytes as a checkpoint object: an error or a checkpoint, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    firn::fuzzing::decode_checkpoint(data);
});

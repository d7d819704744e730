//! Fuzz target: `unpack` on arbitrary bytes.
//!
//! `unpack` must return, never panic. When it accepts the input, the tuple it
//! returns must pack back to exactly the input (the decoder accepts only
//! canonical encodings) and unpack again to an equal tuple.

#![no_main]

use firn_tuple::{pack, unpack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(elements) = unpack(data) else {
        return;
    };
    let repacked = pack(&elements);
    assert_eq!(repacked, data, "unpack accepted a non-canonical encoding");
    let unpacked_again = unpack(&repacked).expect("a packed tuple must unpack");
    assert_eq!(unpacked_again, elements, "pack/unpack did not round-trip");
});

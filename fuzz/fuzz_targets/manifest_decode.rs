//! Feeds arbitrary bytes to the manifest decoder: it must return (never panic, never allocate
//! without bound), and whatever it accepts must survive an encode/decode round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = firn_manifest::decode(data, "manifest/fuzz") {
        let again = firn_manifest::decode(&firn_manifest::encode(&manifest), "manifest/fuzz");
        assert_eq!(again.ok(), Some(manifest));
    }
});

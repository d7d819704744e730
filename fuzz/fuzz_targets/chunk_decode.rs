//! Feeds arbitrary bytes to the chunk decoders: they must return errors, never
//! panic, and never allocate more than the input justifies.

#![no_main]

use firn_chunk::{decode_block, BlockHandle, ChunkIndex, ChunkReader, Footer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let size = data.len() as u64;

    // The pieces the engine decodes on its own.
    let _ = Footer::decode(data, size);
    let _ = ChunkIndex::decode(data, 0, size);
    if let Ok(block) = decode_block(
        data,
        BlockHandle {
            offset: 0,
            len: size,
        },
    ) {
        let _ = block.get(b"key", u64::MAX);
        let mut it = block.iter();
        if it.seek_to_first().is_ok() {
            while let Ok(true) = it.next() {}
        }
    }

    // The whole reader: open, verify, iterate, look up.
    if let Ok(reader) = ChunkReader::open(data) {
        let _ = reader.verify();
        for entry in reader.entries() {
            if entry.is_err() {
                break;
            }
        }
        let _ = reader.get(b"key", u64::MAX);
        let _ = reader.entries_from(b"k", 0).take(16).count();
    }
});

//! Feeds arbitrary bytes to the local index decoder: it must return errors,
//! never panic, and never allocate more than the input justifies. Each input
//! is tried as is and with a valid trailer (CRC-32 and magic) written over its
//! last 8 bytes, so that the checks behind the checksum are reached too.

#![no_main]

use bytes::Bytes;
use firn_chunk::ChunkIndex;
use libfuzzer_sys::fuzz_target;

fn poke(file: Bytes) {
    let Ok(idx) = ChunkIndex::decode_local(file) else {
        return;
    };
    // A decoded index answers every query without panicking.
    let _ = (
        idx.properties(),
        idx.footer(),
        idx.file_size(),
        idx.memory_usage(),
    );
    for i in 0..idx.block_count() {
        let _ = idx.block_handle(i);
        let (key, seq) = idx.separator(i);
        let _ = (idx.seek_block(key, seq), idx.may_contain(key));
    }
    let _ = idx.seek_block(b"key", u64::MAX);
    let _ = idx.may_contain(b"key");
    let _ = ChunkIndex::decode_local(Bytes::from(idx.encode_local()));
}

fuzz_target!(|data: &[u8]| {
    poke(Bytes::copy_from_slice(data));

    if let Some(at) = data.len().checked_sub(8) {
        let mut fixed = data.to_vec();
        let crc = crc32fast::hash(&fixed[..at]);
        fixed[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        fixed[at + 4..].copy_from_slice(b"FIDX");
        poke(Bytes::from(fixed));
    }
});

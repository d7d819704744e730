//! What a read returns about a value besides the value itself: its
//! sequence number, write time and expiry.

use bytes::Bytes;
use firn_chunk::EntryMeta;

/// A value as stored: the value, the sequence number of the write that set
/// it, when that write was committed and when the value expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The value.
    pub value: Bytes,
    /// The sequence number of the write that set it.
    pub seq: u64,
    /// When that write was committed (ms since the Unix epoch); `None` for
    /// writes stored without it (bulk ingests, data written by builds that
    /// did not record it).
    pub write_time_ms: Option<u64>,
    /// When the value expires (ms since the Unix epoch); `None`: never.
    pub expires_ms: Option<u64>,
}

impl Record {
    pub(crate) fn new(value: Bytes, seq: u64, meta: EntryMeta) -> Record {
        Record {
            value,
            seq,
            write_time_ms: (meta.write_ms != 0).then_some(meta.write_ms),
            expires_ms: (meta.expires_ms != 0).then_some(meta.expires_ms),
        }
    }
}

/// The time expiry is judged against, read from the clock at most once
/// (most values never expire, and their reads never look at the clock).
pub(crate) struct ReadClock(Option<u64>);

impl ReadClock {
    pub(crate) fn new() -> ReadClock {
        ReadClock(None)
    }

    /// True when `meta` says the value has expired.
    pub(crate) fn expired(&mut self, meta: &EntryMeta) -> bool {
        meta.expires_ms != 0
            && meta.is_expired_at(*self.0.get_or_insert_with(firn_store::clock::now_ms))
    }
}

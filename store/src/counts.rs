//! Request and byte counters of one [`super::ObjectStore`].
//!
//! Object stores bill per request, so the number of GET/PUT/LIST/DELETE/HEAD requests is a
//! first-class performance figure. The counters are shared by all clones of one store.
//!
//! - `s3://` stores count the HTTP requests actually sent (see `wire.rs`): a retry is another
//!   request, a multipart upload is one PUT to start it, one per part and one to complete it
//!   (plus a DELETE if it has to be aborted), a listing is one LIST per page.
//! - Other stores count one request per public call of `ObjectStore`, of the call's kind.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of an [`super::ObjectStore`]'s request counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// GET requests (`get`, `get_range`).
    pub get: u64,
    /// PUT requests (`put`, `put_if_absent`; on S3 also the POSTs that start and complete a
    /// multipart upload).
    pub put: u64,
    /// LIST requests (one per `list` call; on S3 one per page).
    pub list: u64,
    /// DELETE requests.
    pub delete: u64,
    /// HEAD requests (`stat`).
    pub head: u64,
    /// Payload bytes received by GETs.
    pub bytes_read: u64,
    /// Payload bytes sent by PUTs (counted when the request is sent, whether or not it wins).
    pub bytes_written: u64,
}

impl RequestCounts {
    /// The requests made between `earlier` and `self` (field-wise difference, saturating at 0).
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            get: self.get.saturating_sub(earlier.get),
            put: self.put.saturating_sub(earlier.put),
            list: self.list.saturating_sub(earlier.list),
            delete: self.delete.saturating_sub(earlier.delete),
            head: self.head.saturating_sub(earlier.head),
            bytes_read: self.bytes_read.saturating_sub(earlier.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
        }
    }

    /// Total number of requests of all kinds.
    pub fn total_requests(&self) -> u64 {
        self.get + self.put + self.list + self.delete + self.head
    }
}

impl fmt::Display for RequestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "get={} put={} list={} delete={} head={} bytes_read={} bytes_written={}",
            self.get,
            self.put,
            self.list,
            self.delete,
            self.head,
            self.bytes_read,
            self.bytes_written
        )
    }
}

/// The kind of a counted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Get,
    Put,
    List,
    Delete,
    Head,
}

/// The live counters behind [`RequestCounts`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    get: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
    head: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl Counters {
    /// Counts one request of `kind` (no bytes).
    pub(crate) fn count(&self, kind: RequestKind) {
        let counter = match kind {
            RequestKind::Get => &self.get,
            RequestKind::Put => &self.put,
            RequestKind::List => &self.list,
            RequestKind::Delete => &self.delete,
            RequestKind::Head => &self.head,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds payload bytes sent.
    pub(crate) fn written_bytes(&self, bytes: usize) {
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Adds payload bytes received.
    pub(crate) fn read_bytes(&self, bytes: usize) {
        self.bytes_read.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            list: self.list.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_since() {
        let c = Counters::default();
        c.count(RequestKind::Get);
        c.read_bytes(10);
        c.count(RequestKind::Put);
        c.written_bytes(7);
        c.count(RequestKind::Put);
        c.written_bytes(3);
        c.count(RequestKind::List);
        c.count(RequestKind::Head);
        c.count(RequestKind::Delete);
        let a = c.snapshot();
        assert_eq!(
            a.to_string(),
            "get=1 put=2 list=1 delete=1 head=1 bytes_read=10 bytes_written=10"
        );
        c.count(RequestKind::Get);
        c.read_bytes(5);
        let d = c.snapshot().since(&a);
        assert_eq!(
            d,
            RequestCounts {
                get: 1,
                bytes_read: 5,
                ..RequestCounts::default()
            }
        );
        assert_eq!(d.total_requests(), 1);
    }
}

//! Named crash points for crash tests.
//!
//! With the `crash-points` feature, setting `FIRN_CRASH_POINT=<name>` (or
//! `<name>:<n>` for the n-th time, counting from 1) makes the process abort
//! the moment it reaches that point: no destructor runs and nothing more is
//! written, as with `kill -9`. Without the feature every point compiles to
//! nothing.
//!
//! Points (see where each is called):
//!
//! | name | where |
//! |---|---|
//! | `wal.segment.before_create` | a new WAL segment: before its file exists |
//! | `wal.segment.created` | its temporary file exists, empty |
//! | `wal.segment.mid_header` | half of its header is written and synced |
//! | `wal.segment.before_rename` | the header is synced under the temporary name |
//! | `wal.segment.before_dir_sync` | renamed into place, folder not yet synced |
//! | `open.after_fence` | a writer's open claimed the epoch and fenced the shipped WAL, before replaying it |
//! | `flush.before_publish` | a flushed chunk is uploaded, the manifest not yet published |
//! | `ingest.after_marker` | a bulk ingest's marker is in the WAL, the earlier writes not yet flushed |
//! | `ingest.before_publish` | its chunks are uploaded and every earlier write flushed, the manifest not yet published |
//! | `ingest.after_publish` | its manifest version is published, the hold on writes not yet released |

#[cfg(feature = "crash-points")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    fn armed() -> Option<&'static (String, u64)> {
        static POINT: OnceLock<Option<(String, u64)>> = OnceLock::new();
        POINT
            .get_or_init(|| {
                let spec = std::env::var("FIRN_CRASH_POINT").ok()?;
                match spec.split_once(':') {
                    Some((name, n)) => Some((name.to_string(), n.parse().ok()?)),
                    None => Some((spec, 1)),
                }
            })
            .as_ref()
    }

    /// True when this call to point `name` is the one that must crash.
    pub(crate) fn reached(name: &str) -> bool {
        static HITS: AtomicU64 = AtomicU64::new(0);
        match armed() {
            Some((point, n)) if point == name => HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n,
            _ => false,
        }
    }
}

/// Aborts the process if point `name` is armed for this call.
#[inline]
pub(crate) fn crash_point(name: &str) {
    if reached(name) {
        crash();
    }
}

/// True when point `name` is armed for this call (the caller leaves the
/// partial state the point stands for, then calls [`crash`]).
#[inline]
pub(crate) fn reached(name: &str) -> bool {
    #[cfg(feature = "crash-points")]
    {
        imp::reached(name)
    }
    #[cfg(not(feature = "crash-points"))]
    {
        let _ = name;
        false
    }
}

/// Ends the process at once, like `kill -9`.
pub(crate) fn crash() -> ! {
    std::process::abort()
}

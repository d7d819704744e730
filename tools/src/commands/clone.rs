//! `clone`: a zero-copy clone of a database; `restore`: a new database at
//! a point of another's history; `drop`: delete a database and release its
//! pins.

use crate::commands::copy::store_named;
use crate::error::{CliError, CliResult};
use crate::progress::Progress;
use crate::session::Session;

/// Runs `clone SRC DEST`.
pub async fn clone(
    session: &mut Session,
    src: &str,
    dest: &str,
    checkpoint: Option<&str>,
    json: bool,
) -> CliResult {
    let from = store_named(src, true)?;
    let to = store_named(dest, false)?;
    session.track_store(&from);
    let report = firn::clone_database(&from, &to, checkpoint).await?;
    if json {
        return session.out.json_line(&report);
    }
    session.out.line(&format!(
        "cloned manifest version {} of {} into {} (database {}): {} chunks ({} bytes) \
         referenced in place, {} shipped WAL objects copied, {} bytes written; pinned as \
         checkpoint {} in {}",
        report.source_version,
        from.url(),
        to.url(),
        report.db_id,
        report.chunks,
        report.chunk_bytes,
        report.wal_objects,
        report.bytes_written,
        report.pin,
        report.sources.join(", ")
    ))
}

/// Runs `drop URL`.
pub async fn drop(session: &mut Session, url: &str, break_clones: bool, json: bool) -> CliResult {
    let store = store_named(url, true)?;
    session.track_store(&store);
    let report = firn::drop_database(&store, break_clones).await?;
    if json {
        return session.out.json_line(&report);
    }
    session.out.line(&format!(
        "dropped {}: {} objects ({} bytes) deleted, {} pins released",
        store.url(),
        report.objects_deleted,
        report.bytes_deleted,
        report.pins_released
    ))
}

/// Runs `restore SRC DEST (--to-seq N | --to-time T)`.
pub async fn restore(
    session: &mut Session,
    src: &str,
    dest: &str,
    to_seq: Option<u64>,
    to_time: Option<&str>,
    json: bool,
) -> CliResult {
    let point = match (to_seq, to_time) {
        (Some(n), _) => firn::RestorePoint::Seq(n),
        (None, Some(text)) => {
            let t = humantime::parse_rfc3339_weak(text).map_err(|e| {
                CliError::other(format!(
                    "--to-time {text:?} is not an RFC 3339 time ({e}): write e.g. \
                     2026-12-06T09:30:00Z"
                ))
            })?;
            let ms = t
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| CliError::other(format!("--to-time {text:?} is before 1970")))?
                .as_millis();
            firn::RestorePoint::TimeMs(u64::try_from(ms).unwrap_or(u64::MAX))
        }
        (None, None) => return Err(CliError::other("give --to-seq N or --to-time T")),
    };
    let from = store_named(src, true)?;
    let to = store_named(dest, false)?;
    session.track_store(&from);
    let working = Progress::working("restoring");
    let report = firn::restore_database(&from, &to, point).await;
    std::mem::drop(working);
    let report = report?;
    if json {
        return session.out.json_line(&report);
    }
    let when = report
        .committed_at_ms
        .map(|ms| {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            format!(", committed {}", humantime::format_rfc3339_millis(t))
        })
        .unwrap_or_default();
    session.out.line(&format!(
        "restored {} through seq {}{when} into {} (database {}): manifest version {} \
         (watermark {}) with {} chunks read in place, {} batches from {} shipped WAL objects \
         replayed, {} bytes written",
        from.url(),
        report.seq,
        to.url(),
        report.db_id,
        report.base_version,
        report.base_watermark,
        report.chunks,
        report.batches_replayed,
        report.wal_objects_read,
        report.bytes_written
    ))
}

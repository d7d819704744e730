//! `clone`: a zero-copy clone of a database; `drop`: delete a database and
//! release its pins.

use crate::commands::copy::store_named;
use crate::error::CliResult;
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

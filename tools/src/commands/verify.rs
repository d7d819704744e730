//! `verify`: prints what [`firn::inspect::verify`] finds: every chunk the
//! manifest references is checked; each damaged one is reported as
//! `error: corruption in OBJECT at offset N: DETAIL`.

use crate::error::{CliError, CliResult};
use crate::output::diag;
use crate::progress::{Progress, Unit};
use crate::session::Session;

/// Runs `verify`: exit 0 with a summary when everything checks out, exit 2
/// naming the object and offset of each damaged chunk (the check itself is
/// [`firn::inspect::verify`]).
pub async fn verify(session: &mut Session) -> CliResult {
    let store = session.open_store()?;
    let bar = Progress::new("verifying", Some(0), Unit::Bytes);
    let progress = |p: firn::inspect::VerifyProgress| {
        bar.set_total(p.total_bytes);
        bar.set(p.bytes);
        bar.say(&format!("verifying chunk {}/{}", p.chunks, p.total_chunks));
    };
    let report = firn::inspect::verify_with_progress(&store, &progress).await;
    drop(bar);
    let report = report?;
    let m = &report.manifest;
    let total = (report.chunks_ok + report.wal_objects_ok) as usize + report.damaged.len();
    let mut damaged: Vec<CliError> = report.damaged.into_iter().map(CliError::from).collect();
    let bad = damaged.len();
    if let Some(last) = damaged.pop() {
        for p in &damaged {
            if let Some(line) = p.line() {
                diag(&line);
            }
        }
        return Err(if bad > 1 {
            last.context(format!(
                "{bad} of {total} objects (chunks and shipped WAL) are damaged; last"
            ))
        } else {
            last
        });
    }
    session.out.line(&format!(
        "ok: manifest version {} ({}), {} chunks, {} blocks, {} entries ({} tombstones), {} bytes, {} shipped WAL objects: every checksum matches",
        m.version,
        m.object_name(),
        report.chunks_ok,
        report.blocks,
        report.entries,
        report.tombstones,
        report.bytes,
        report.wal_objects_ok
    ))
}

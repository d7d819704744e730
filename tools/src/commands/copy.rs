//! `copy`: copy a database's current state (or a checkpoint) from one store
//! to another, checking every checksum, with a progress bar on a terminal.
//! Also the backup command.

use std::path::Path;

use firn::{CopyProgress, Options};
use firn_store::ObjectStore;

use crate::error::{CliError, CliResult};
use crate::progress::{Progress, Unit};
use crate::session::Session;

/// The object store a `--db`-style name (a folder path, the embedded
/// default, or a URL) names.
pub(crate) fn store_named(name: &str, must_exist: bool) -> CliResult<ObjectStore> {
    let url = if name.contains("://") {
        name.to_string()
    } else {
        let path = Path::new(name);
        if must_exist && !path.join("objects").is_dir() {
            return Err(CliError::not_found(format!(
                "no Firn database at {name} ({} does not exist)",
                path.join("objects").display()
            )));
        }
        Options::embedded(path)?.url
    };
    Ok(ObjectStore::from_url(&url)?)
}

/// Runs `copy SRC DEST`.
pub async fn copy(
    session: &mut Session,
    src: &str,
    dest: &str,
    checkpoint: Option<&str>,
) -> CliResult {
    let from = store_named(src, true)?;
    let to = store_named(dest, false)?;
    session.track_store(&from);
    let bar = Progress::new("copying", Some(0), Unit::Bytes);
    let progress = |p: CopyProgress| {
        bar.set_total(p.total);
        bar.set(p.bytes);
    };
    let report = firn::copy_database(&from, &to, checkpoint, &progress).await;
    drop(bar);
    let report = report?;
    session.out.line(&format!(
        "copied manifest version {} ({} chunks, {} bytes; {} shipped WAL objects, {} bytes) \
         from {} to {}: every checksum matches",
        report.manifest_version,
        report.chunks,
        report.chunk_bytes,
        report.wal_objects,
        report.wal_bytes,
        from.url(),
        to.url()
    ))
}

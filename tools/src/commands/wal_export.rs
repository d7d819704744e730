//! `wal-export`: print the writes held in a local directory's WAL as `load`
//! lines, without opening the database. This is how a fenced writer's
//! acknowledged writes that never reached the bucket are re-applied
//! (`firn wal-export ... | firn load`) — or inspected before being discarded.

use std::path::PathBuf;

use firn::BatchOp;

use crate::error::{CliError, CliResult};
use crate::session::Session;

/// Runs `wal-export`: batches with sequence numbers from `from_seq` on.
pub async fn wal_export(session: &mut Session, local: Option<PathBuf>, from_seq: u64) -> CliResult {
    let local = match local {
        Some(dir) => dir,
        None => session.local_dir()?,
    };
    let batches = firn::read_local_wal(&local)?;
    let (mut exported, mut ops) = (0u64, 0u64);
    let mut range: Option<(u64, u64)> = None;
    let codec = session.codec;
    for b in &batches {
        let last = b.first_seq + b.batch.len() as u64 - 1;
        if last < from_seq {
            continue;
        }
        for (i, op) in b.batch.ops().iter().enumerate() {
            let seq = b.first_seq + i as u64;
            if seq < from_seq {
                continue;
            }
            let line = match op {
                BatchOp::Put { key, value } => {
                    format!("put\t{}\t{}", codec.show(key), codec.show(value))
                }
                BatchOp::Delete { key } => format!("del\t{}", codec.show(key)),
            };
            session.out.line(&line)?;
            ops += 1;
            let r = range.get_or_insert((seq, seq));
            r.1 = seq;
        }
        exported += 1;
    }
    let summary = match range {
        Some((a, b)) => format!("seq {a}..={b}"),
        None => "nothing".into(),
    };
    crate::output::diag(&format!(
        "exported {ops} ops in {exported} batches ({summary}) from {}",
        local.join("wal").display()
    ));
    if batches.is_empty() && !local.join("wal").is_dir() {
        return Err(CliError::not_found(format!(
            "no WAL in {} (expected a wal/ folder)",
            local.display()
        )));
    }
    Ok(())
}

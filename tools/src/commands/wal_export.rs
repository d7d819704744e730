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
                // A bulk ingest's marker: its data is in chunks, not the WAL.
                BatchOp::Delete { key } if key.is_empty() => continue,
                BatchOp::Put { key, value } => {
                    format!("put\t{}\t{}", codec.show(key), codec.show(value))
                }
                BatchOp::Delete { key } => format!("del\t{}", codec.show(key)),
                BatchOp::DeleteRange { start, end } => {
                    format!("delrange\t{}\t{}", codec.show(start), codec.show(end))
                }
                BatchOp::PutExpiring { key, value, ttl } => format!(
                    "put\t{}\t{}\tttl={}",
                    codec.show(key),
                    codec.show(value),
                    crate::commands::load::show_ttl(*ttl)
                ),
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

/// One record in `wal-dump --json`.
#[derive(serde::Serialize)]
struct RecordJson {
    offset: u64,
    first_seq: u64,
    last_seq: u64,
    ops: Vec<OpJson>,
}

/// One op in `wal-dump --json`.
#[derive(serde::Serialize)]
struct OpJson {
    op: &'static str,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// An expiring put's TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_ms: Option<u64>,
    /// A range delete's end (its start is `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
}

/// One segment or object in `wal-dump --json`.
#[derive(serde::Serialize)]
struct SourceJson {
    name: String,
    shipped: bool,
    epoch: u64,
    records: Vec<RecordJson>,
}

/// Runs `wal-dump`: the local WAL, or the shipped WAL with `shipped`.
pub async fn wal_dump(session: &mut Session, shipped: bool, json: bool, verify: bool) -> CliResult {
    let sources = if shipped {
        let store = session.open_store()?;
        firn::inspect::shipped_wal(&store).await?
    } else {
        let local = match session.local_flag() {
            Some(dir) => dir,
            None => session.local_dir()?,
        };
        if !local.join("wal").is_dir() {
            return Err(CliError::not_found(format!(
                "no WAL in {} (expected a wal/ folder)",
                local.display()
            )));
        }
        firn::inspect::local_wal(&local)?
    };
    let what = if shipped { "objects" } else { "segments" };
    if verify {
        let records: usize = sources.iter().map(|s| s.records.len()).sum();
        return session.out.line(&format!(
            "ok: {} {what}, {records} records, every checksum matches",
            sources.len()
        ));
    }
    let codec = session.codec;
    for source in &sources {
        let records: Vec<RecordJson> = source
            .records
            .iter()
            .map(|r| RecordJson {
                offset: r.offset,
                first_seq: r.first_seq,
                last_seq: r.first_seq + (r.batch.len() as u64).saturating_sub(1),
                ops: r
                    .batch
                    .ops()
                    .iter()
                    .map(|op| match op {
                        BatchOp::Put { key, value } => OpJson {
                            op: "put",
                            key: codec.show(key),
                            value: Some(codec.show(value)),
                            ttl_ms: None,
                            end: None,
                        },
                        BatchOp::Delete { key } => OpJson {
                            op: "del",
                            key: codec.show(key),
                            value: None,
                            ttl_ms: None,
                            end: None,
                        },
                        BatchOp::DeleteRange { start, end } => OpJson {
                            op: "delrange",
                            key: codec.show(start),
                            value: None,
                            ttl_ms: None,
                            end: Some(codec.show(end)),
                        },
                        BatchOp::PutExpiring { key, value, ttl } => OpJson {
                            op: "put",
                            key: codec.show(key),
                            value: Some(codec.show(value)),
                            ttl_ms: Some(ttl.as_millis() as u64),
                            end: None,
                        },
                    })
                    .collect(),
            })
            .collect();
        if json {
            session.out.json_line(&SourceJson {
                name: source.name.clone(),
                shipped: source.shipped,
                epoch: source.epoch,
                records,
            })?;
            continue;
        }
        let kind = if source.shipped { "object" } else { "segment" };
        let fence = if source.shipped && records.is_empty() {
            " (a fence)"
        } else {
            ""
        };
        session.out.line(&format!(
            "{kind} {} epoch {}: {} records{fence}",
            source.name,
            source.epoch,
            records.len()
        ))?;
        for r in &records {
            session.out.line(&format!(
                "  offset {} seq {}..={} ops {}",
                r.offset,
                r.first_seq,
                r.last_seq,
                r.ops.len()
            ))?;
            for op in &r.ops {
                let line = match &op.value {
                    Some(v) => format!("    put\t{}\t{v}", op.key),
                    None => format!("    del\t{}", op.key),
                };
                session.out.line(&line)?;
            }
        }
    }
    Ok(())
}

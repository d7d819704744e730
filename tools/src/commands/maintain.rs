//! Maintenance commands: `compact`, `gc`, `checkpoint create|list|delete`.

use std::time::Duration;

use crate::cli::CheckpointCommand;
use crate::commands::finish;
use crate::error::CliResult;
use crate::progress::Progress;
use crate::session::{Access, Session};

/// Runs `compact`: a full compaction into one sorted run, waited for.
pub async fn compact(session: &mut Session) -> CliResult {
    let db = session.open_db(Access::Write).await?;
    let body = async {
        let before = db.manifest();
        let working = Progress::working(&format!(
            "compacting {} chunks ({})",
            before.all_chunks().count(),
            indicatif::HumanBytes(before.all_chunks().map(|c| c.size).sum::<u64>())
        ));
        let compacted = db.compact().await;
        drop(working);
        compacted?;
        let after = db.manifest();
        let bytes = |m: &firn::Manifest| m.all_chunks().map(|c| c.size).sum::<u64>();
        session.out.line(&format!(
            "compacted {} chunks ({} bytes) into {} chunks ({} bytes) in {} sorted run(s)",
            before.all_chunks().count(),
            bytes(&before),
            after.all_chunks().count(),
            bytes(&after),
            after.runs.len()
        ))
    }
    .await;
    finish(db, body).await
}

/// Runs `gc`: one garbage-collection pass with the given grace period.
pub async fn gc(session: &mut Session, grace_secs: u64) -> CliResult {
    let db = session.open_db(Access::Write).await?;
    let body = async {
        let r = db.gc(Duration::from_secs(grace_secs)).await?;
        session.out.line(&format!(
            "deleted {} chunks ({} orphans, {} bytes reclaimed) and {} manifest versions; kept {} chunks and {} manifest versions",
            r.chunks_deleted,
            r.orphans_deleted,
            r.bytes_reclaimed,
            r.manifests_deleted,
            r.chunks_kept,
            r.manifests_kept
        ))
    }
    .await;
    finish(db, body).await
}

/// Runs `checkpoint create|list|delete`.
pub async fn checkpoint(session: &mut Session, command: &CheckpointCommand) -> CliResult {
    let access = match command {
        CheckpointCommand::List => Access::Read,
        _ => Access::Write,
    };
    let db = session.open_db(access).await?;
    let body = async {
        match command {
            CheckpointCommand::Create { name } => {
                let c = db.checkpoint(name).await?;
                session.out.line(&format!(
                    "checkpoint {} pins manifest version {}",
                    c.name, c.manifest_version
                ))
            }
            CheckpointCommand::List => {
                for c in db.list_checkpoints().await? {
                    session.out.line(&format!(
                        "{}\tmanifest_version={}\tcreated_at_ms={}",
                        c.name, c.manifest_version, c.created_at_ms
                    ))?;
                }
                Ok(())
            }
            CheckpointCommand::Delete { name } => {
                db.delete_checkpoint(name).await?;
                session.out.line(&format!("deleted checkpoint {name}"))
            }
        }
    }
    .await;
    finish(db, body).await
}

/// Runs `retention [--set DURATION]`.
pub async fn retention(session: &mut Session, set: Option<Duration>, json: bool) -> CliResult {
    let access = if set.is_some() {
        Access::Write
    } else {
        Access::Read
    };
    let db = session.open_db(access).await?;
    let body = async {
        if let Some(window) = set {
            db.set_history_retention(window).await?;
        }
        let window = db.history_retention();
        if json {
            return session.out.json_line(&serde_json::json!({
                "history_retention_ms": u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            }));
        }
        let text = if window.is_zero() {
            "history retention: off (restore reaches back only as far as the GC grace period)"
                .to_string()
        } else {
            format!(
                "history retention: {} ({} s): any point inside can be restored",
                humantime::format_duration(window),
                window.as_secs()
            )
        };
        session.out.line(&text)
    }
    .await;
    finish(db, body).await
}

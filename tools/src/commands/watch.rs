//! `watch`: print every change the writer ships, in sequence order, as a
//! follower sees it.

use std::time::Duration;

use firn::BatchOp;
use serde::Serialize;

use crate::commands::finish;
use crate::error::{CliError, CliResult};
use crate::session::{Access, Session};

/// What `firn watch` was asked for.
pub struct WatchArgs {
    pub from_seq: Option<u64>,
    pub prefix: Option<Vec<u8>>,
    pub json: bool,
    pub poll_interval: Duration,
    pub until_seq: Option<u64>,
}

/// One line of `watch --json`.
#[derive(Serialize)]
struct JsonChange<'a> {
    seq: u64,
    op: &'a str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    /// An expiring put's TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_ms: Option<u64>,
    /// A range delete's end (its start is `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<&'a str>,
}

/// Runs `watch` until interrupted or past `--until-seq`.
pub async fn watch(session: &mut Session, args: &WatchArgs) -> CliResult {
    let db = session.open_db(Access::Read).await?;
    let body = async {
        let after = args.from_seq.map(|n| n.saturating_sub(1));
        let mut watch = db.watch(after, args.poll_interval).await?;
        let codec = session.codec;
        loop {
            if args.until_seq.is_some_and(|u| watch.position() >= u) {
                return Ok(());
            }
            let (first, batch) = watch.next().await?;
            for (i, op) in batch.ops().iter().enumerate() {
                let seq = first + i as u64;
                if args.until_seq.is_some_and(|u| seq > u) {
                    break;
                }
                let (kind, key, value, ttl, end) = match op {
                    BatchOp::Put { key, value } => ("put", key, Some(value), None, None),
                    BatchOp::Delete { key } => ("del", key, None, None, None),
                    BatchOp::PutExpiring { key, value, ttl } => {
                        ("put", key, Some(value), Some(*ttl), None)
                    }
                    BatchOp::DeleteRange { start, end } => {
                        ("delrange", start, None, None, Some(end))
                    }
                };
                // A range delete shows when it reaches keys with the prefix.
                let shown = |p: &Vec<u8>| match end {
                    None => key.starts_with(p),
                    Some(end) => {
                        key.starts_with(p)
                            || (key.as_ref() < p.as_slice() && end.as_ref() > p.as_slice())
                    }
                };
                if args.prefix.as_ref().is_some_and(|p| !shown(p)) {
                    continue;
                }
                let key = codec.show(key);
                let value = value.map(|v| codec.show(v));
                let end = end.map(|e| codec.show(e));
                if args.json {
                    session.out.json_line(&JsonChange {
                        seq,
                        op: kind,
                        key: &key,
                        value: value.as_deref(),
                        ttl_ms: ttl.map(|t| t.as_millis() as u64),
                        end: end.as_deref(),
                    })?;
                } else {
                    match (&value, ttl) {
                        (Some(v), Some(t)) => session.out.line(&format!(
                            "{seq}\t{kind}\t{key}\t{v}\tttl={}",
                            crate::commands::load::show_ttl(t)
                        ))?,
                        (Some(v), None) => {
                            session.out.line(&format!("{seq}\t{kind}\t{key}\t{v}"))?
                        }
                        (None, _) => match &end {
                            Some(end) => {
                                session.out.line(&format!("{seq}\t{kind}\t{key}\t{end}"))?
                            }
                            None => session.out.line(&format!("{seq}\t{kind}\t{key}"))?,
                        },
                    }
                }
            }
            session.out.flush()?;
        }
    }
    .await
    .map_err(|e: CliError| e);
    finish(db, body).await
}

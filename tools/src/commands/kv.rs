//! `get`, `put`, `delete` and `scan`.

use std::ops::Bound;

use serde::Serialize;

use crate::cli::ScanArgs;
use crate::commands::finish;
use crate::error::{CliError, CliResult, ExitKind};
use crate::escape::Codec;
use crate::session::{Access, Session};

/// Prints the value of one key; with several keys (read with one
/// `multi_get`), one `key<TAB>value` line per key found, in the order given.
/// Any missing key makes the command exit 1 after the rest are printed
/// (`not found` on stderr, naming the keys when several were asked for).
pub async fn get(session: &mut Session, keys: &[Vec<u8>]) -> CliResult {
    let db = session.open_db(Access::ReadKeepingLocal).await?;
    let body = async {
        let mut missing = Vec::new();
        let values = db.multi_get(keys).await?;
        for (key, value) in keys.iter().zip(values) {
            match value {
                Some(value) if keys.len() == 1 => session.out.line(&session.codec.show(&value))?,
                Some(value) => session.out.line(&format!(
                    "{}\t{}",
                    session.codec.show(key),
                    session.codec.show(&value)
                ))?,
                None => missing.push(session.codec.show(key)),
            }
        }
        missing_keys(&missing, keys.len())
    }
    .await;
    finish(db, body).await
}

/// One key of `get --json`.
#[derive(serde::Serialize)]
struct JsonRecord {
    key: String,
    value: String,
    seq: u64,
    write_time: Option<String>,
    expires: Option<String>,
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `get --json`: one object per key found, with its seq and times.
pub async fn get_json(session: &mut Session, keys: &[Vec<u8>]) -> CliResult {
    let db = session.open_db(Access::ReadKeepingLocal).await?;
    let body = async {
        let mut missing = Vec::new();
        for key in keys {
            match db.get_with_meta(key).await? {
                Some(r) => session.out.json_line(&JsonRecord {
                    key: session.codec.show(key),
                    value: session.codec.show(&r.value),
                    seq: r.seq,
                    write_time: r.write_time_ms.map(rfc3339),
                    expires: r.expires_ms.map(rfc3339),
                })?,
                None => missing.push(session.codec.show(key)),
            }
        }
        missing_keys(&missing, keys.len())
    }
    .await;
    finish(db, body).await
}

/// Exit 1 naming the keys not found (bare `not found` when the one key
/// asked for is missing), after the others were printed.
fn missing_keys(missing: &[String], asked: usize) -> CliResult {
    match missing {
        [] => Ok(()),
        [_] if asked == 1 => Err(not_found("not found".to_string())),
        many => Err(not_found(format!("not found: {}", many.join(" ")))),
    }
}

fn not_found(message: String) -> CliError {
    CliError {
        bare: true,
        ..CliError::new(ExitKind::NotFound, message)
    }
}

/// Sets `key` to `value` as the writer; the close flushes it to the object
/// store.
pub async fn put(
    session: &mut Session,
    key: Vec<u8>,
    value: Vec<u8>,
    ttl: Option<std::time::Duration>,
    durability: firn::Durability,
) -> CliResult {
    let mut batch = firn::WriteBatch::new();
    match ttl {
        Some(ttl) => batch.put_with_ttl(key, value, ttl),
        None => batch.put(key, value),
    };
    write_one(session, batch, durability).await
}

/// Deletes `key` as the writer.
pub async fn delete(
    session: &mut Session,
    key: Vec<u8>,
    durability: firn::Durability,
) -> CliResult {
    let mut batch = firn::WriteBatch::new();
    batch.delete(key);
    write_one(session, batch, durability).await
}

/// Deletes every key in `start..end` as the writer: one range delete.
pub async fn delete_range(
    session: &mut Session,
    start: Vec<u8>,
    end: Vec<u8>,
    durability: firn::Durability,
) -> CliResult {
    if start >= end {
        return Err(CliError::other(format!(
            "delete --range needs START < END (START is included, END excluded), got {} and {}; \
             nothing was deleted",
            session.codec.show(&start),
            session.codec.show(&end)
        )));
    }
    let mut batch = firn::WriteBatch::new();
    batch.delete_range(start, end);
    write_one(session, batch, durability).await
}

async fn write_one(
    session: &mut Session,
    batch: firn::WriteBatch,
    durability: firn::Durability,
) -> CliResult {
    let db = session.open_db(Access::Write).await?;
    let opts = firn::WriteOptions {
        durability: Some(durability),
    };
    let body = db
        .write_with(batch, opts)
        .await
        .map(|_| ())
        .map_err(CliError::from);
    finish(db, body).await
}

/// The key range of a scan: `--prefix`, `--from` (inclusive) and `--to`
/// (exclusive) intersected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRange {
    /// Lower bound (always inclusive or unbounded).
    pub start: Bound<Vec<u8>>,
    /// Upper bound (always exclusive or unbounded).
    pub end: Bound<Vec<u8>>,
}

impl ScanRange {
    /// Builds the range from raw bounds.
    pub fn new(prefix: Option<&[u8]>, from: Option<&[u8]>, to: Option<&[u8]>) -> ScanRange {
        let lower = [prefix, from].into_iter().flatten().max();
        let upper = [prefix.and_then(prefix_successor), to.map(<[u8]>::to_vec)]
            .into_iter()
            .flatten()
            .min();
        ScanRange {
            start: lower.map_or(Bound::Unbounded, |k| Bound::Included(k.to_vec())),
            end: upper.map_or(Bound::Unbounded, Bound::Excluded),
        }
    }

    /// Builds the range from `scan`'s arguments.
    pub fn from_args(args: &ScanArgs, codec: Codec) -> CliResult<ScanRange> {
        let parse = |arg: &Option<std::ffi::OsString>, what: &str| {
            arg.as_deref()
                .map(|a| codec.parse_arg(a, what))
                .transpose()
                .map_err(CliError::other)
        };
        let prefix = parse(&args.prefix, "--prefix")?;
        let from = parse(&args.from, "--from")?;
        let to = parse(&args.to, "--to")?;
        Ok(ScanRange::new(
            prefix.as_deref(),
            from.as_deref(),
            to.as_deref(),
        ))
    }

    /// True when no key can fall inside the range.
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Excluded(e)) => s >= e,
            (Bound::Unbounded, Bound::Excluded(e)) => e.is_empty(),
            _ => false,
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`
/// when there is none: the prefix is empty or all 0xff).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// One line of `scan --json`.
#[derive(Serialize)]
struct JsonEntry<'a> {
    key: &'a str,
    value: &'a str,
}

/// Prints the entries in `range` in key order: `key<TAB>value` lines, or
/// one JSON object per line.
pub async fn scan(
    session: &mut Session,
    range: &ScanRange,
    limit: Option<u64>,
    reverse: bool,
    json: bool,
) -> CliResult {
    let db = session.open_db(Access::ReadKeepingLocal).await?;
    let body = async {
        if range.is_empty() || limit == Some(0) {
            return Ok(());
        }
        let mut it = db.scan((range.start.clone(), range.end.clone()))?;
        if reverse {
            it = it.rev();
        }
        let mut printed = 0u64;
        while let Some((key, value)) = it.next().await? {
            let (key, value) = (session.codec.show(&key), session.codec.show(&value));
            if json {
                session.out.json_line(&JsonEntry {
                    key: &key,
                    value: &value,
                })?;
            } else {
                session.out.line(&format!("{key}\t{value}"))?;
            }
            printed += 1;
            if limit.is_some_and(|l| printed >= l) {
                break;
            }
        }
        Ok(())
    }
    .await;
    finish(db, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn ranges_intersect() {
        let r = ScanRange::new(Some(b"k"), Some(b"ka"), Some(b"kz"));
        assert_eq!(r.start, Bound::Included(b"ka".to_vec()));
        assert_eq!(r.end, Bound::Excluded(b"kz".to_vec()));
        let r = ScanRange::new(Some(b"k"), Some(b"a"), Some(b"z"));
        assert_eq!(r.start, Bound::Included(b"k".to_vec()));
        assert_eq!(r.end, Bound::Excluded(b"l".to_vec()));
        let r = ScanRange::new(None, None, None);
        assert_eq!(
            (r.start.clone(), r.end.clone()),
            (Bound::Unbounded, Bound::Unbounded)
        );
        assert!(!r.is_empty());
        assert!(ScanRange::new(None, Some(b"b"), Some(b"a")).is_empty());
        assert!(ScanRange::new(None, Some(b"b"), Some(b"b")).is_empty());
        assert!(ScanRange::new(None, None, Some(b"")).is_empty());
        assert!(ScanRange::new(Some(b"x"), None, Some(b"a")).is_empty());
    }
}

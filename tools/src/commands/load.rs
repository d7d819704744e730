//! `load`: apply `put<TAB>key<TAB>value[<TAB>ttl=DURATION]` / `del<TAB>key`
//! / `delrange<TAB>start<TAB>end` lines in atomic batches.

use std::fs::File;
use std::io::{BufRead, BufReader};

use bytes::Bytes;
use firn::{BatchOp, Db, Durability, IngestPlacement, WriteBatch, WriteOptions};

use crate::cli::LoadArgs;
use crate::commands::finish;
use crate::error::{CliError, CliResult};
use crate::escape::{quote, Codec};
use crate::progress::{Progress, Unit};
use crate::session::{Access, Session};

/// Parses one input line (without its line ending). `Ok(None)` for an empty
/// line.
pub fn parse_line(line: &[u8], codec: Codec) -> Result<Option<BatchOp>, String> {
    if line.is_empty() {
        return Ok(None);
    }
    let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
    let field = |i: usize, what: &str| -> Result<Bytes, String> {
        let raw = fields.get(i).copied().unwrap_or_default();
        codec
            .parse_field(raw)
            .map(Bytes::from)
            .map_err(|e| format!("{what}: {e}"))
    };
    let op = match (fields.first().copied().unwrap_or_default(), fields.len()) {
        (b"put", 3) => BatchOp::Put {
            key: field(1, "key")?,
            value: field(2, "value")?,
        },
        (b"put", 4) => {
            let raw = fields.get(3).copied().unwrap_or_default();
            let ttl = raw
                .strip_prefix(b"ttl=")
                .ok_or_else(|| {
                    format!(
                        "the 4th field of a put must be ttl=DURATION (e.g. ttl=30s), found {}",
                        quote(raw)
                    )
                })
                .and_then(|d| parse_ttl(&String::from_utf8_lossy(d)))?;
            BatchOp::PutExpiring {
                key: field(1, "key")?,
                value: field(2, "value")?,
                ttl,
            }
        }
        (b"del", 2) => BatchOp::Delete {
            key: field(1, "key")?,
        },
        (b"delrange", 3) => {
            let (start, end) = (field(1, "start")?, field(2, "end")?);
            if start >= end {
                return Err(format!(
                    "delrange needs start < end (start included, end excluded), found {} and {}",
                    quote(&start),
                    quote(&end)
                ));
            }
            BatchOp::DeleteRange { start, end }
        }
        (b"delrange", n) => {
            return Err(format!(
                "delrange needs 3 tab-separated fields (delrange<TAB>start<TAB>end), found {n}"
            ))
        }
        (b"put", n) => {
            return Err(format!(
                "put needs 3 or 4 tab-separated fields (put<TAB>key<TAB>value[<TAB>ttl=DURATION]), \
                 found {n}"
            ))
        }
        (b"del", n) => {
            return Err(format!(
                "del needs 2 tab-separated fields (del<TAB>key), found {n}"
            ))
        }
        (other, _) => {
            return Err(format!(
                "unknown operation {} (expected put<TAB>key<TAB>value, del<TAB>key or \
                 delrange<TAB>start<TAB>end)",
                quote(other)
            ))
        }
    };
    if op.key().is_empty() {
        return Err("empty key".to_string());
    }
    Ok(Some(op))
}

/// A TTL as the command line writes it: `30s`, `10m`, `2h`, `7d`,
/// `1h30m`, `250ms` (humantime), at least 1 ms and at most
/// [`firn::MAX_TTL`].
pub fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    let ttl = humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "bad TTL {}: {e} (write e.g. 30s, 10m, 2h, 7d)",
            quote(text.as_bytes())
        )
    })?;
    if ttl.as_millis() == 0 || ttl > firn::MAX_TTL {
        return Err(format!(
            "TTL {} is out of range: it must be between 1ms and 100 years",
            quote(text.as_bytes())
        ));
    }
    Ok(ttl)
}

/// A TTL written back in the form [`parse_ttl`] reads (`1m30s`).
pub fn show_ttl(ttl: std::time::Duration) -> String {
    humantime::format_duration(ttl).to_string().replace(' ', "")
}

/// A batch being collected: its ops and the input lines they came from.
struct Pending {
    batch: WriteBatch,
    first_line: u64,
}

/// Runs `load`: reads the input (opened before the database, so a missing
/// file changes nothing), writes batches, closes (which flushes).
pub async fn load(session: &mut Session, args: &LoadArgs) -> CliResult {
    let (input, size): (Box<dyn BufRead>, Option<u64>) = match args.input.as_deref() {
        None => (Box::new(std::io::stdin().lock()), None),
        Some(p) if p.as_os_str() == "-" => (Box::new(std::io::stdin().lock()), None),
        Some(p) => {
            // Exit 3, like every bad argument: exit 1 means a key or
            // object that is not in the database.
            let file = File::open(p)
                .map_err(|e| CliError::other(format!("cannot open {}: {e}", p.display())))?;
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (Box::new(BufReader::with_capacity(256 << 10, file)), size)
        }
    };
    let db = session.open_db(Access::Write).await?;
    // The bar counts input bytes: a file's size is known, stdin's is not (a spinner).
    let bar = Progress::new(
        if args.sorted { "ingesting" } else { "loading" },
        size,
        Unit::Bytes,
    );
    let body = if args.sorted {
        ingest_lines(session, &db, input, &bar).await
    } else {
        load_lines(session, &db, input, args, &bar).await
    };
    drop(bar);
    finish(db, body).await
}

/// `load --sorted`: one bulk ingest of every line; nothing of it on error.
async fn ingest_lines(
    session: &mut Session,
    db: &Db,
    mut input: Box<dyn BufRead>,
    bar: &Progress,
) -> CliResult {
    let mut ingest = db.bulk_ingest()?;
    let mut line_no = 0u64;
    let mut line = Vec::new();
    // The previous key and its line.
    let mut previous: Option<(Bytes, u64)> = None;
    let nothing = "nothing of the file was ingested";
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(|e| {
            CliError::other(format!(
                "cannot read input after line {line_no}: {e}; {nothing}"
            ))
        })?;
        if n == 0 {
            break;
        }
        bar.add(n as u64);
        line_no += 1;
        let parsed = strip_line_end(&line).and_then(|text| parse_line(text, session.codec));
        let op = match parsed {
            Ok(Some(op)) => op,
            Ok(None) => continue,
            Err(why) => return Err(CliError::other(format!("line {line_no}: {why}; {nothing}"))),
        };
        if let Some((prev, prev_line)) = &previous {
            if op.key() <= prev {
                let codec = session.codec;
                return Err(CliError::other(format!(
                    "line {line_no}: key {} is not above the key {} of line {prev_line}: \
                     --sorted needs the lines in strictly increasing key order, one per key \
                     (sort the file, or load it without --sorted); {nothing}",
                    codec.show(op.key()),
                    codec.show(prev)
                )));
            }
        }
        previous = Some((op.key().clone(), line_no));
        let added = match op {
            BatchOp::Put { key, value } => ingest.put(key, value).await,
            BatchOp::Delete { key } => ingest.delete(key).await,
            BatchOp::PutExpiring { .. } => {
                return Err(CliError::other(format!(
                    "line {line_no}: a bulk ingest (--sorted) takes no TTL: load lines with \
                     ttl= without --sorted; {nothing}"
                )))
            }
            BatchOp::DeleteRange { .. } => {
                return Err(CliError::other(format!(
                    "line {line_no}: a bulk ingest (--sorted) takes no range delete: load \
                     delrange lines without --sorted; {nothing}"
                )))
            }
        };
        added.map_err(|e| CliError::from(e).context(format!("line {line_no}; {nothing}")))?;
    }
    let report = ingest.finish().await?;
    crate::output::diag(&format!(
        "ingested {} entries at seq {} into {} chunks ({} bytes, {})",
        report.entries,
        report.seq,
        report.chunks,
        report.bytes,
        match report.placement {
            IngestPlacement::Run => "a new sorted run",
            IngestPlacement::L0 => "level 0",
            IngestPlacement::Nothing => "nothing to publish",
        }
    ));
    Ok(())
}

async fn load_lines(
    session: &mut Session,
    db: &Db,
    mut input: Box<dyn BufRead>,
    args: &LoadArgs,
    bar: &Progress,
) -> CliResult {
    let opts = WriteOptions {
        durability: Some(match (args.sync, args.durability) {
            (true, _) => Durability::Sync,
            (false, Some(d)) => d.to_engine(),
            (false, None) => Durability::Buffered,
        }),
    };
    let mut line_no = 0u64;
    let mut line = Vec::new();
    let mut pending: Option<Pending> = None;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::other(format!("cannot read input after line {line_no}: {e}")))?;
        if n == 0 {
            break;
        }
        bar.add(n as u64);
        line_no += 1;
        let parsed = strip_line_end(&line).and_then(|text| parse_line(text, session.codec));
        let parsed = parsed.map_err(|why| {
            let discarded = match &pending {
                Some(p) => format!("lines {}-{line_no}", p.first_line),
                None => format!("line {line_no}"),
            };
            CliError::other(format!(
                "line {line_no}: {why}; nothing from its batch ({discarded}) was written"
            ))
        })?;
        let Some(op) = parsed else { continue };
        let p = pending.get_or_insert_with(|| Pending {
            batch: WriteBatch::new(),
            first_line: line_no,
        });
        match op {
            BatchOp::Put { key, value } => p.batch.put(key, value),
            BatchOp::Delete { key } => p.batch.delete(key),
            BatchOp::PutExpiring { key, value, ttl } => p.batch.put_with_ttl(key, value, ttl),
            BatchOp::DeleteRange { start, end } => p.batch.delete_range(start, end),
        };
        if p.batch.len() as u64 >= args.batch {
            if let Some(p) = pending.take() {
                commit(session, db, p, line_no, opts, args.echo_acks).await?;
            }
        }
    }
    if let Some(p) = pending.take() {
        commit(session, db, p, line_no, opts, args.echo_acks).await?;
    }
    Ok(())
}

/// Writes one batch; after it is committed, prints its keys if asked to.
async fn commit(
    session: &mut Session,
    db: &Db,
    p: Pending,
    last_line: u64,
    opts: WriteOptions,
    echo_acks: bool,
) -> CliResult {
    let keys: Vec<Bytes> = if echo_acks {
        p.batch.ops().iter().map(|op| op.key().clone()).collect()
    } else {
        Vec::new()
    };
    db.write_with(p.batch, opts).await.map_err(|e| {
        CliError::from(e).context(format!("batch of lines {}-{last_line}", p.first_line))
    })?;
    if echo_acks {
        for key in &keys {
            session.out.line(&session.codec.show(key))?;
        }
        session.out.flush()?;
    }
    Ok(())
}

/// `line` without its trailing `\n`. A raw carriage return before it is an
/// error rather than silently dropped (or kept as part of the value): every
/// byte but the line end stands for itself, so a value ending in a carriage
/// return is written `\r`, and a file with CRLF line ends must be converted.
fn strip_line_end(line: &[u8]) -> Result<&[u8], String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if line.ends_with(b"\r") {
        return Err(
            "the line ends in a raw carriage return: write \\r for a carriage \
                    return at the end of a value, or convert a file with CRLF line ends \
                    to LF"
                .to_string(),
        );
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_puts_and_deletes() {
        let op = parse_line(b"put\ta\\tb\tv\\x01", Codec::Text).expect("ok");
        assert_eq!(
            op,
            Some(BatchOp::Put {
                key: Bytes::from_static(b"a\tb"),
                value: Bytes::from_static(b"v\x01"),
            })
        );
        let op = parse_line(b"del\t6b", Codec::Hex).expect("ok");
        assert_eq!(
            op,
            Some(BatchOp::Delete {
                key: Bytes::from_static(b"k")
            })
        );
        assert_eq!(parse_line(b"", Codec::Text), Ok(None));
        assert_eq!(
            parse_line(b"put\tk\tv\tttl=1h30m", Codec::Text),
            Ok(Some(BatchOp::PutExpiring {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                ttl: std::time::Duration::from_secs(5400),
            }))
        );
        assert_eq!(show_ttl(std::time::Duration::from_secs(5400)), "1h30m");
        let empty_value = parse_line(b"put\tk\t", Codec::Text).expect("ok");
        assert!(matches!(empty_value, Some(BatchOp::Put { value, .. }) if value.is_empty()));
    }

    #[test]
    fn rejects_malformed_lines() {
        for (line, needle) in [
            (&b"put\tk"[..], "found 2"),
            (b"put\tk\tv\tx", "must be ttl=DURATION"),
            (b"put\tk\tv\tttl=soon", "bad TTL"),
            (b"put\tk\tv\tttl=0s", "out of range"),
            (b"put\tk\tv\tttl=1s\tx", "found 5"),
            (b"del\tk\tv", "found 3"),
            (b"pt\tk\tv", "unknown operation \"pt\""),
            (b"put\t\tv", "empty key"),
            (b"put\tk\\q\tv", "key: invalid escape"),
        ] {
            let err = parse_line(line, Codec::Text).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        assert!(parse_line(b"put\tzz\t00", Codec::Hex)
            .unwrap_err()
            .contains("invalid hex"));
    }

    #[test]
    fn line_ends() {
        assert!(strip_line_end(b"a\r\n")
            .unwrap_err()
            .contains("raw carriage return"));
        assert!(strip_line_end(b"a\r").is_err());
        assert_eq!(strip_line_end(b"a\rb\n"), Ok(&b"a\rb"[..]));
        assert_eq!(strip_line_end(b"a\n"), Ok(&b"a"[..]));
        assert_eq!(strip_line_end(b"a"), Ok(&b"a"[..]));
    }
}

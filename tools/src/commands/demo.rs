//! `demo`: the main job on the embedded default, end to end. Writes keys
//! into a local folder acting as the bucket, flushes them into chunks, reads
//! every key back, and shows where the chunks are with a `chunk-dump` of one.

use std::path::PathBuf;
use std::time::Instant;

use firn::{Db, WriteBatch};

use crate::cli::{ChunkDumpArgs, DemoArgs};
use crate::commands::{chunk_dump, finish};
use crate::error::{CliError, CliResult};
use crate::progress::{Progress, Unit};
use crate::session::{Access, Session};

/// Runs `demo`.
pub async fn demo(session: &mut Session, args: &DemoArgs) -> CliResult {
    let mut opts = session.options(Access::Write)?;
    opts.memtable_size = args.memtable_mib.max(1) << 20;
    let Some(objects) = opts.url.strip_prefix("file://").map(PathBuf::from) else {
        return Err(CliError::other(
            "demo runs on the embedded default: give --db a folder path",
        ));
    };
    let db = Db::open(opts).await?;
    session.track_store(db.object_store());
    let body = run(session, &db, args).await;
    let body = finish(db, body).await;
    body?;

    let chunks = objects.join("chunks");
    let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(&chunks)
        .map_err(|e| CliError::other(format!("cannot list {}: {e}", chunks.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
        .filter(|(p, _)| p.extension().is_some_and(|x| x == "chunk"))
        .collect();
    files.sort();
    let out = &mut session.out;
    out.line(&format!("chunks in {}:", chunks.display()))?;
    for (path, size) in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        out.line(&format!("  {name}  {size} bytes"))?;
    }
    let Some((first, _)) = files.first() else {
        return Err(CliError::other("no chunk was written"));
    };
    out.line("")?;
    out.line(&format!("$ firn chunk-dump --verify {}", first.display()))?;
    let dump = ChunkDumpArgs {
        target: first.clone().into_os_string(),
        entries: false,
        blocks: false,
        json: false,
        verify: true,
    };
    chunk_dump::chunk_dump(session, &dump).await
}

async fn run(session: &mut Session, db: &Db, args: &DemoArgs) -> CliResult {
    let key = |i: u64| format!("user:{i:010}");
    let value = |i: u64| {
        let mut v = format!("profile of user {i}: ").into_bytes();
        v.resize(args.value_size.max(v.len()), b'0' + (i % 10) as u8);
        v
    };
    let started = Instant::now();
    let bar = Progress::new("writing", Some(args.keys), Unit::Items("keys"));
    let mut batch = WriteBatch::new();
    for i in 0..args.keys {
        batch.put(key(i), value(i));
        if batch.len() == 1000 || i + 1 == args.keys {
            let n = batch.len() as u64;
            db.write(std::mem::take(&mut batch)).await?;
            bar.add(n);
        }
    }
    drop(bar);
    let wrote = started.elapsed();
    let out = &mut session.out;
    out.line(&format!(
        "wrote {} keys ({} bytes each) in {:.2?} ({:.0} keys/s)",
        args.keys,
        args.value_size,
        wrote,
        args.keys as f64 / wrote.as_secs_f64().max(1e-9)
    ))?;

    let started = Instant::now();
    let working = Progress::working("flushing");
    let flushed = db.flush().await;
    drop(working);
    let flushed = flushed?;
    let m = db.metrics();
    out.line(&format!(
        "flushed into {} chunks ({} bytes) in {:.2?}; chunks made while loading: {}",
        m.l0_chunks,
        m.flush_bytes,
        started.elapsed(),
        m.flushes as usize - flushed.len().min(m.flushes as usize)
    ))?;

    let started = Instant::now();
    let bar = Progress::new("reading back", Some(args.keys), Unit::Items("keys"));
    for i in 0..args.keys {
        if i % 1000 == 0 {
            bar.set(i);
        }
        let got = db.get(key(i)).await?;
        if got.as_deref() != Some(value(i).as_slice()) {
            return Err(CliError::other(format!(
                "read-back mismatch for {}: the database returned {:?}",
                key(i),
                got.map(|v| String::from_utf8_lossy(&v).into_owned())
            )));
        }
    }
    drop(bar);
    let read = started.elapsed();
    let mut scanned = 0u64;
    let mut it = db.scan_prefix("user:")?;
    while it.next().await?.is_some() {
        scanned += 1;
    }
    let m = db.metrics();
    out.line(&format!(
        "read back all {} keys in {:.2?} ({:.0} gets/s, values verified); a prefix scan saw {scanned}",
        args.keys,
        read,
        args.keys as f64 / read.as_secs_f64().max(1e-9)
    ))?;
    out.line(&format!("requests: {}", m.requests))?;
    out.line(&format!("cache: {}", m.cache))?;
    if scanned < args.keys {
        return Err(CliError::other(format!(
            "the scan saw {scanned} keys, expected at least {}",
            args.keys
        )));
    }
    Ok(())
}

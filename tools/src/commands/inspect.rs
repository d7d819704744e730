//! `flush`, `manifest` and `stats`.

use std::collections::BTreeSet;

use firn::inspect::ManifestSummary;
use firn::{ChunkId, ChunkMeta, Manifest, Metrics};
use serde::Serialize;

use crate::commands::finish;
use crate::error::{CliError, CliResult};
use crate::escape::Codec;
use crate::output::Out;
use crate::session::{Access, Session};

/// Flushes as the writer and prints the ids of the chunks this process
/// created, one per line.
///
/// Opening as writer replays the WAL left by an earlier process into a
/// memtable that the background flusher may upload before `Db::flush` is
/// even called; chunk ids carry the writer epoch, and this process's epoch
/// is new, so every chunk of that epoch in the manifest is one it created.
pub async fn flush(session: &mut Session) -> CliResult {
    let db = session.open_db(Access::Write).await?;
    let body = async {
        let flushed = db.flush().await?;
        let epoch = db.epoch();
        let mut ids: BTreeSet<ChunkId> = flushed.into_iter().collect();
        ids.extend(
            db.manifest()
                .all_chunks()
                .map(|c| c.id)
                .filter(|id| id.epoch == epoch),
        );
        for id in ids {
            session.out.line(&id.to_string())?;
        }
        Ok(())
    }
    .await;
    finish(db, body).await
}

/// Loads the newest manifest version (LIST + GET, without opening the
/// engine, so a damaged chunk does not hide the manifest).
pub(crate) async fn load_manifest(session: &mut Session) -> CliResult<Manifest> {
    let store = session.open_store()?;
    Ok(firn::inspect::load_latest_manifest(&store).await?)
}

/// One chunk in `manifest --json`.
#[derive(Serialize)]
struct ChunkJson {
    id: String,
    object: String,
    /// The sorted run's id, or "L0".
    run: serde_json::Value,
    size: u64,
    meta_offset: u64,
    meta_len: u64,
    entries: u64,
    tombstones: u64,
    min_key: String,
    max_key: String,
    min_seq: u64,
    max_seq: u64,
}

impl ChunkJson {
    fn new(c: &ChunkMeta, run: Option<u64>, codec: Codec) -> ChunkJson {
        ChunkJson {
            id: c.id.to_string(),
            object: c.id.object_name(),
            run: run.map_or_else(|| "L0".into(), Into::into),
            size: c.size,
            meta_offset: c.meta_offset,
            meta_len: c.meta_len,
            entries: c.entries,
            tombstones: c.tombstones,
            min_key: codec.show(&c.min_key),
            max_key: codec.show(&c.max_key),
            min_seq: c.min_seq,
            max_seq: c.max_seq,
        }
    }
}

/// A sorted run in `manifest --json`.
#[derive(Serialize)]
struct RunJson {
    id: u64,
    chunks: usize,
}

/// `manifest --json`.
#[derive(Serialize)]
struct ManifestJson {
    version: u64,
    object: String,
    db_id: String,
    epoch: u64,
    wal_watermark: u64,
    next_chunk_id: u64,
    next_run_id: u64,
    published_at_ms: u64,
    l0_chunks: usize,
    runs: Vec<RunJson>,
    chunks: Vec<ChunkJson>,
    writer_clean: bool,
    fenced: Vec<FencedJson>,
    wal_objects_from: u64,
    /// A clone's sources (empty otherwise).
    sources: Vec<SourceJson>,
}

/// One source of a clone in `manifest --json`.
#[derive(Serialize)]
struct SourceJson {
    url: String,
    db_id: String,
    max_epoch: u64,
    pinned_version: u64,
    pin: String,
}

/// One fence record in `manifest --json`.
#[derive(Serialize)]
struct FencedJson {
    writer_id: String,
    epoch: u64,
    wal_watermark: u64,
    fenced_by_epoch: u64,
    fenced_at_ms: u64,
}

impl FencedJson {
    fn new(f: &firn_manifest::FencedWriter) -> FencedJson {
        FencedJson {
            writer_id: format_db_id(&f.writer_id),
            epoch: f.epoch,
            wal_watermark: f.wal_watermark,
            fenced_by_epoch: f.fenced_by_epoch,
            fenced_at_ms: f.fenced_at_ms,
        }
    }
}

/// Formats a database id as a UUID string.
pub fn format_db_id(id: &[u8; 16]) -> String {
    let hex = crate::escape::hex_encode(id);
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_string();
    [
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32),
    ]
    .join("-")
}

/// Prints the newest manifest version as text or JSON.
pub async fn manifest(session: &mut Session, json: bool) -> CliResult {
    let m = load_manifest(session).await?;
    let codec = session.codec;
    if json {
        let chunks =
            m.l0.iter()
                .map(|c| ChunkJson::new(c, None, codec))
                .chain(m.runs.iter().flat_map(|r| {
                    r.chunks
                        .iter()
                        .map(move |c| ChunkJson::new(c, Some(r.id), codec))
                }))
                .collect();
        let doc = ManifestJson {
            version: m.version,
            object: m.object_name(),
            db_id: format_db_id(&m.db_id),
            epoch: m.epoch,
            wal_watermark: m.wal_watermark,
            next_chunk_id: m.next_chunk_id,
            next_run_id: m.next_run_id,
            published_at_ms: m.published_at_ms,
            l0_chunks: m.l0.len(),
            runs: m
                .runs
                .iter()
                .map(|r| RunJson {
                    id: r.id,
                    chunks: r.chunks.len(),
                })
                .collect(),
            chunks,
            writer_clean: m.writer_clean,
            fenced: m.fenced.iter().map(FencedJson::new).collect(),
            wal_objects_from: m.wal_objects_from,
            sources: m
                .sources
                .iter()
                .map(|s| SourceJson {
                    url: s.url.clone(),
                    db_id: format_db_id(&s.db_id),
                    max_epoch: s.max_epoch,
                    pinned_version: s.pinned_version,
                    pin: s.pin.clone(),
                })
                .collect(),
        };
        return session.out.json_line(&doc);
    }
    print_manifest(&mut session.out, &m, codec)
}

fn print_manifest(out: &mut Out, m: &Manifest, codec: Codec) -> CliResult {
    let summary = ManifestSummary::of(m);
    out.line(&format!(
        "manifest version {} ({})",
        m.version,
        m.object_name()
    ))?;
    out.line(&format!("db_id: {}", format_db_id(&m.db_id)))?;
    out.line(&format!("epoch: {}", m.epoch))?;
    out.line(&format!("wal_watermark: {}", m.wal_watermark))?;
    out.line(&format!("next_chunk_id: {}", m.next_chunk_id))?;
    out.line(&format!("next_run_id: {}", m.next_run_id))?;
    out.line(&format!("published_at_ms: {}", m.published_at_ms))?;
    out.line(&format!("writer_clean: {}", m.writer_clean))?;
    out.line(&format!("wal_objects_from: {}", m.wal_objects_from))?;
    for s in &m.sources {
        out.line(&format!(
            "source: chunks of epochs up to {} are read from {} (database {}, version {} pinned as {})",
            s.max_epoch,
            s.url,
            format_db_id(&s.db_id),
            s.pinned_version,
            s.pin
        ))?;
    }
    for f in &m.fenced {
        out.line(&format!(
            "fenced: writer {} epoch {}: writes at or below seq {} are in the bucket (fenced by epoch {} at {} ms)",
            format_db_id(&f.writer_id),
            f.epoch,
            f.wal_watermark,
            f.fenced_by_epoch,
            f.fenced_at_ms
        ))?;
    }
    out.line(&format!(
        "chunks: {} ({} in L0, {} in {} sorted runs), {} bytes, {} entries, {} tombstones",
        summary.chunks,
        summary.l0_chunks,
        summary.run_chunks,
        summary.runs,
        summary.bytes,
        summary.entries,
        summary.tombstones
    ))?;
    let mut section = |title: String, chunks: &[ChunkMeta]| -> CliResult {
        out.line(&format!("{title}: {} chunks", chunks.len()))?;
        for c in chunks {
            out.line(&format!(
                "  {}\t{}\tsize={}\tentries={}\ttombstones={}\tkeys=[{} .. {}]\tseqs=[{} .. {}]",
                c.id,
                c.id.object_name(),
                c.size,
                c.entries,
                c.tombstones,
                codec.show(&c.min_key),
                codec.show(&c.max_key),
                c.min_seq,
                c.max_seq
            ))?;
        }
        Ok(())
    };
    section("L0".to_string(), &m.l0)?;
    for run in &m.runs {
        section(format!("run {}", run.id), &run.chunks)?;
    }
    Ok(())
}

/// `stats --json`.
#[derive(Serialize)]
struct StatsJson<'a> {
    metrics: &'a Metrics,
    manifest: ManifestSummary,
    totals: TotalsJson,
}

/// The database's running totals (from the manifest, so they cover every
/// process that ever wrote to it).
#[derive(Serialize)]
struct TotalsJson {
    flushes: u64,
    flush_bytes: u64,
    compactions: u64,
    compaction_bytes_read: u64,
    compaction_bytes_written: u64,
    write_amplification: Option<f64>,
    gc_chunks_deleted: u64,
    gc_bytes_reclaimed: u64,
}

impl TotalsJson {
    fn of(t: &firn_manifest::Totals) -> TotalsJson {
        TotalsJson {
            flushes: t.flushes,
            flush_bytes: t.flush_bytes,
            compactions: t.compactions,
            compaction_bytes_read: t.compaction_bytes_read,
            compaction_bytes_written: t.compaction_bytes_written,
            write_amplification: t
                .write_amplification()
                .map(|w| (w * 1000.0).round() / 1000.0),
            gc_chunks_deleted: t.gc_chunks_deleted,
            gc_bytes_reclaimed: t.gc_bytes_reclaimed,
        }
    }
}

/// Prints the engine metrics of a read-only handle and a manifest summary.
pub async fn stats(session: &mut Session, json: bool, prometheus: bool) -> CliResult {
    let db = session.open_db(Access::Read).await?;
    let body = async {
        let metrics = db.metrics();
        if prometheus {
            return session.out.raw(&metrics.to_prometheus_text());
        }
        let manifest = db.manifest();
        let summary = ManifestSummary::of(&manifest);
        let totals = TotalsJson::of(&manifest.totals);
        if json {
            return session.out.json_line(&StatsJson {
                metrics: &metrics,
                manifest: summary,
                totals,
            });
        }
        let out = &mut session.out;
        out.line("metrics:")?;
        out.line(&format!("  requests: {}", metrics.requests))?;
        out.line(&format!("  cache: {}", metrics.cache))?;
        print_fields(out, &metrics)?;
        out.line("manifest:")?;
        print_fields(out, &summary)?;
        out.line("totals (all processes, since the database was created):")?;
        print_fields(out, &totals)
    }
    .await;
    finish(db, body).await
}

/// `status --json`.
#[derive(Serialize)]
struct StatusJson {
    visible_seq: u64,
    local_synced_seq: u64,
    bucket_durable_seq: u64,
    oldest_unshipped_ms: Option<u64>,
    wal_watermark: u64,
    shipped_wal_objects: u64,
    wal_objects_read: u64,
    applied_seq: u64,
    lag_ms: u64,
}

/// Prints how far writes have got (see `firn status --help`).
pub async fn status(session: &mut Session, json: bool) -> CliResult {
    let db = session.open_db(Access::Read).await?;
    let body = async {
        let status = db.durability_status();
        let follow = db.follow_status();
        let shipped = db
            .object_store()
            .list(firn_manifest::manifest::WAL_PREFIX)
            .await
            .map_err(CliError::from)?
            .len() as u64;
        let doc = StatusJson {
            visible_seq: status.visible_seq,
            local_synced_seq: status.local_synced_seq,
            bucket_durable_seq: status.bucket_durable_seq,
            oldest_unshipped_ms: status.oldest_unshipped_ms,
            wal_watermark: db.manifest().wal_watermark,
            shipped_wal_objects: shipped,
            wal_objects_read: db.metrics().wal_objects_replayed,
            applied_seq: follow
                .as_ref()
                .map_or(status.visible_seq, |f| f.applied_seq),
            lag_ms: follow.as_ref().map_or(0, |f| f.lag_ms),
        };
        if json {
            return session.out.json_line(&doc);
        }
        let value = serde_json::to_value(&doc)
            .map_err(|e| CliError::other(format!("cannot format the status: {e}")))?;
        if let serde_json::Value::Object(fields) = value {
            for name in [
                "visible_seq",
                "local_synced_seq",
                "bucket_durable_seq",
                "oldest_unshipped_ms",
                "wal_watermark",
                "shipped_wal_objects",
                "wal_objects_read",
                "applied_seq",
                "lag_ms",
            ] {
                let v = fields.get(name).cloned().unwrap_or_default();
                session.out.line(&format!("{name}: {v}"))?;
            }
        }
        Ok(())
    }
    .await;
    finish(db, body).await
}

/// Prints the scalar fields of a struct as `  name: value` lines, in name
/// order (nested objects are left to the caller).
fn print_fields<T: Serialize>(out: &mut Out, value: &T) -> CliResult {
    let value = serde_json::to_value(value)
        .map_err(|e| CliError::other(format!("cannot format stats: {e}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Ok(());
    };
    for (name, v) in fields {
        if !v.is_object() {
            out.line(&format!("  {name}: {v}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_ids_look_like_uuids() {
        let id = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        assert_eq!(format_db_id(&id), "12345678-9abc-def0-0123-456789abcdef");
    }

    #[test]
    fn summary_counts_levels() {
        let chunk = |id: u64, size: u64| ChunkMeta {
            id: ChunkId { epoch: 1, id },
            size,
            meta_offset: 0,
            meta_len: size,
            entries: 2,
            tombstones: 1,
            min_key: b"a".to_vec(),
            max_key: b"b".to_vec(),
            min_seq: 1,
            max_seq: 2,
        };
        let mut m = Manifest::new([0; 16]);
        m.l0 = vec![chunk(1, 10)];
        m.runs = vec![firn_manifest::SortedRun {
            id: 7,
            chunks: vec![chunk(2, 20), chunk(3, 30)],
        }];
        let s = ManifestSummary::of(&m);
        assert_eq!((s.chunks, s.bytes, s.entries, s.tombstones), (3, 60, 6, 3));
        assert_eq!((s.l0_chunks, s.runs, s.run_chunks), (1, 1, 2));
        let json = serde_json::to_value(ChunkJson::new(&m.runs[0].chunks[0], Some(7), Codec::Text))
            .expect("json");
        assert_eq!(json["run"], 7);
        assert_eq!(json["id"], "1-2");
        let json = serde_json::to_value(ChunkJson::new(&m.l0[0], None, Codec::Hex)).expect("json");
        assert_eq!(json["run"], "L0");
        assert_eq!(json["min_key"], "61");
    }
}

//! `chunk-dump`: decode one chunk file (needs only the chunk and manifest
//! crates, no database).

use std::ffi::OsStr;
use std::path::PathBuf;

use firn_chunk::{BlockHandle, ChunkReader, Entry, Kind, Properties, RangeRead};
use firn_store::ObjectStore;
use serde::Serialize;

use crate::cli::ChunkDumpArgs;
use crate::error::{chunk_error, CliError, CliResult, ExitKind};
use crate::escape::Codec;
use crate::session::Session;

/// Where the chunk to dump lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A local file (a plain path or a `file://` URL).
    File(PathBuf),
    /// An object in a store: the store URL and the object name within it.
    Object {
        /// URL of the store (`scheme://...`).
        store_url: String,
        /// Object name relative to the store's root.
        object: String,
    },
}

impl Target {
    /// Interprets the `FILE|URL` argument. An object URL is split before its
    /// last `/chunks/` segment (or after its first path segment when it has
    /// none): `memory://db/chunks/x.chunk` is object `chunks/x.chunk` in
    /// `memory://db`.
    pub fn parse(arg: &OsStr) -> CliResult<Target> {
        let Some(text) = arg.to_str().filter(|t| t.contains("://")) else {
            return Ok(Target::File(PathBuf::from(arg)));
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(Target::File(PathBuf::from(arg)));
        };
        if scheme.eq_ignore_ascii_case("file") {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(CliError::other(format!(
                    "invalid file URL {text:?}: use file:///absolute/path (three slashes)"
                )));
            }
            return Ok(Target::File(PathBuf::from(path)));
        }
        let split = rest
            .rfind("/chunks/")
            .or_else(|| rest.find('/'))
            .filter(|&i| i + 1 < rest.len());
        let Some(i) = split else {
            return Err(CliError::other(format!(
                "invalid chunk URL {text:?}: it names a store but no object (expected STORE_URL/chunks/NAME.chunk)"
            )));
        };
        Ok(Target::Object {
            store_url: format!("{scheme}://{}", rest.get(..i).unwrap_or_default()),
            object: rest.get(i + 1..).unwrap_or_default().to_string(),
        })
    }
}

/// Runs `chunk-dump`.
pub async fn chunk_dump(session: &mut Session, args: &ChunkDumpArgs) -> CliResult {
    match Target::parse(&args.target)? {
        Target::File(path) => {
            let name = path.display().to_string();
            let meta = std::fs::metadata(&path).map_err(|e| {
                let kind = match e.kind() {
                    std::io::ErrorKind::NotFound => ExitKind::NotFound,
                    _ => ExitKind::Other,
                };
                CliError::new(kind, format!("cannot open {name}: {e}"))
            })?;
            if !meta.is_file() {
                return Err(CliError::other(format!("{name} is not a regular file")));
            }
            let file = std::fs::File::open(&path)
                .map_err(|e| CliError::other(format!("cannot open {name}: {e}")))?;
            dump(session, &name, file, args)
        }
        Target::Object { store_url, object } => {
            let store = ObjectStore::from_url(&store_url)?;
            session.track_store(&store);
            let bytes = store.get(&object).await?;
            dump(session, &format!("{store_url}/{object}"), bytes, args)
        }
    }
}

/// `properties` in the JSON output.
#[derive(Serialize)]
struct PropertiesJson {
    format_version: u32,
    entries: u64,
    tombstones: u64,
    blocks: u64,
    min_key: String,
    max_key: String,
    min_seq: u64,
    max_seq: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    data_bytes: u64,
    index_bytes: u64,
    filter_bytes: u64,
    expiring: u64,
    min_expires_ms: u64,
    /// Range tombstones, fragmented: one object per fragment.
    range_tombstones: Vec<RangeTombstoneJson>,
}

/// One range tombstone fragment in the JSON output: `[start, end)` deleted
/// by the range deletes with these seqs (newest first).
#[derive(Serialize)]
struct RangeTombstoneJson {
    start: String,
    end: String,
    seqs: Vec<u64>,
}

impl PropertiesJson {
    fn new(p: &Properties, codec: Codec) -> PropertiesJson {
        PropertiesJson {
            format_version: p.format_version,
            entries: p.entries,
            tombstones: p.tombstones,
            blocks: p.blocks,
            min_key: codec.show(&p.min_key),
            max_key: codec.show(&p.max_key),
            min_seq: p.min_seq,
            max_seq: p.max_seq,
            raw_key_bytes: p.raw_key_bytes,
            raw_value_bytes: p.raw_value_bytes,
            data_bytes: p.data_bytes,
            index_bytes: p.index_bytes,
            filter_bytes: p.filter_bytes,
            expiring: p.expiring,
            min_expires_ms: p.min_expires_ms,
            range_tombstones: p
                .range_tombstones
                .fragments()
                .iter()
                .map(|f| RangeTombstoneJson {
                    start: codec.show(&f.start),
                    end: codec.show(&f.end),
                    seqs: f.seqs.clone(),
                })
                .collect(),
        }
    }
}

/// A block handle in the JSON output.
#[derive(Serialize)]
struct HandleJson {
    offset: u64,
    len: u64,
}

impl From<BlockHandle> for HandleJson {
    fn from(h: BlockHandle) -> HandleJson {
        HandleJson {
            offset: h.offset,
            len: h.len,
        }
    }
}

/// `footer` in the JSON output.
#[derive(Serialize)]
struct FooterJson {
    format_version: u32,
    meta_offset: u64,
    index: HandleJson,
    filter: HandleJson,
    properties: HandleJson,
}

/// One data block in the JSON output.
#[derive(Serialize)]
struct BlockJson {
    index: usize,
    offset: u64,
    len: u64,
}

/// The JSON document without `entries` (which are streamed after it).
#[derive(Serialize)]
struct DumpJson {
    file: String,
    size: u64,
    meta_offset: u64,
    footer: FooterJson,
    properties: PropertiesJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<Vec<BlockJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
}

/// One entry in the JSON output.
#[derive(Serialize)]
struct EntryJson {
    key: String,
    seq: u64,
    kind: &'static str,
    value: String,
    /// When the put was committed (ms since the Unix epoch), if stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    write_time_ms: Option<u64>,
    /// When the value expires (ms since the Unix epoch), if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_ms: Option<u64>,
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Put => "put",
        Kind::Delete => "delete",
    }
}

/// Opens the chunk in `source` and prints what `args` asks for. With
/// `--verify` the whole chunk is checked before anything is printed, so a
/// damaged chunk prints nothing on stdout.
fn dump<R: RangeRead>(
    session: &mut Session,
    name: &str,
    source: R,
    args: &ChunkDumpArgs,
) -> CliResult {
    let reader = ChunkReader::open(source).map_err(|e| chunk_error(name, &e))?;
    if args.verify {
        reader.verify().map_err(|e| chunk_error(name, &e))?;
    }
    let codec = session.codec;
    let index = reader.index();
    let footer = index.footer();
    let handles = || (0..index.block_count()).map(|i| (i, index.block_handle(i)));
    let entry_err = |e: firn_chunk::ChunkError| chunk_error(name, &e);
    let out = &mut session.out;
    if args.json {
        let doc = DumpJson {
            file: name.to_string(),
            size: index.file_size(),
            meta_offset: index.meta_offset(),
            footer: FooterJson {
                format_version: footer.format_version,
                meta_offset: footer.meta_offset,
                index: footer.index.into(),
                filter: footer.filter.into(),
                properties: footer.properties.into(),
            },
            properties: PropertiesJson::new(index.properties(), codec),
            blocks: args.blocks.then(|| {
                handles()
                    .map(|(index, h)| BlockJson {
                        index,
                        offset: h.offset,
                        len: h.len,
                    })
                    .collect()
            }),
            verified: args.verify.then_some(true),
        };
        let head = crate::output::to_json(&doc)?;
        if !args.entries {
            return out.line(&head);
        }
        out.raw(head.strip_suffix('}').unwrap_or(&head))?;
        out.raw(",\"entries\":[")?;
        for (i, entry) in reader.entries().enumerate() {
            let e = entry.map_err(entry_err)?;
            if i > 0 {
                out.raw(",")?;
            }
            out.raw(&crate::output::to_json(&entry_json(&e, codec))?)?;
        }
        return out.line("]}");
    }

    let p = index.properties();
    out.line(&format!("chunk: {name}"))?;
    out.line(&format!("size: {}", index.file_size()))?;
    out.line(&format!(
        "meta_offset: {} (metadata region {} bytes)",
        index.meta_offset(),
        index.file_size().saturating_sub(index.meta_offset())
    ))?;
    let h = |h: BlockHandle| format!("offset={} len={}", h.offset, h.len);
    out.line(&format!(
        "footer: index {}, filter {}, properties {}",
        h(footer.index),
        h(footer.filter),
        h(footer.properties)
    ))?;
    out.line("properties:")?;
    for (field, value) in [
        ("format_version", p.format_version.to_string()),
        ("entries", p.entries.to_string()),
        ("tombstones", p.tombstones.to_string()),
        ("blocks", p.blocks.to_string()),
        ("min_key", codec.show(&p.min_key)),
        ("max_key", codec.show(&p.max_key)),
        ("min_seq", p.min_seq.to_string()),
        ("max_seq", p.max_seq.to_string()),
        ("raw_key_bytes", p.raw_key_bytes.to_string()),
        ("raw_value_bytes", p.raw_value_bytes.to_string()),
        ("data_bytes", p.data_bytes.to_string()),
        ("index_bytes", p.index_bytes.to_string()),
        ("filter_bytes", p.filter_bytes.to_string()),
        ("expiring", p.expiring.to_string()),
        ("min_expires_ms", p.min_expires_ms.to_string()),
        (
            "range_tombstones",
            p.range_tombstones.fragments().len().to_string(),
        ),
    ] {
        out.line(&format!("  {field}: {value}"))?;
    }
    let fragments = p.range_tombstones.fragments();
    if args.entries && !fragments.is_empty() {
        out.line("range tombstones: start<TAB>end<TAB>seqs (keys in [start, end) older than a seq are deleted)")?;
        for f in fragments {
            let seqs: Vec<String> = f.seqs.iter().map(u64::to_string).collect();
            out.line(&format!(
                "  {}\t{}\t{}",
                codec.show(&f.start),
                codec.show(&f.end),
                seqs.join(",")
            ))?;
        }
    }
    if args.blocks {
        out.line(&format!("blocks: {}", index.block_count()))?;
        for (i, handle) in handles() {
            out.line(&format!(
                "  {i}\toffset={}\tlen={}",
                handle.offset, handle.len
            ))?;
        }
    }
    if args.entries {
        out.line("entries: key<TAB>seq<TAB>kind<TAB>value[<TAB>write_time=T][<TAB>expires=T]")?;
        for entry in reader.entries() {
            let e = entry.map_err(entry_err)?;
            let mut line = format!(
                "  {}\t{}\t{}\t{}",
                codec.show(&e.key),
                e.seq,
                kind_name(e.kind),
                codec.show(&e.value)
            );
            if let Some(m) = e.meta {
                if m.write_ms != 0 {
                    line.push_str(&format!("\twrite_time={}", rfc3339(m.write_ms)));
                }
                if m.expires_ms != 0 {
                    line.push_str(&format!("\texpires={}", rfc3339(m.expires_ms)));
                }
            }
            out.line(&line)?;
        }
    }
    if args.verify {
        out.line(&format!(
            "verify: ok ({} blocks, {} entries, every checksum matches)",
            index.block_count(),
            p.entries
        ))?;
    }
    Ok(())
}

fn entry_json(e: &Entry, codec: Codec) -> EntryJson {
    EntryJson {
        key: codec.show(&e.key),
        seq: e.seq,
        kind: kind_name(e.kind),
        value: codec.show(&e.value),
        write_time_ms: e.meta.map(|m| m.write_ms).filter(|&t| t != 0),
        expires_ms: e.meta.map(|m| m.expires_ms).filter(|&t| t != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse(OsStr::new("/tmp/x.chunk")).ok(),
            Some(Target::File("/tmp/x.chunk".into()))
        );
        assert_eq!(
            Target::parse(OsStr::new("file:///tmp/x.chunk")).ok(),
            Some(Target::File("/tmp/x.chunk".into()))
        );
        assert_eq!(
            Target::parse(OsStr::new("memory://db/chunks/a.chunk")).ok(),
            Some(Target::Object {
                store_url: "memory://db".into(),
                object: "chunks/a.chunk".into()
            })
        );
        assert_eq!(
            Target::parse(OsStr::new("s3://bucket/pre/fix/chunks/a.chunk")).ok(),
            Some(Target::Object {
                store_url: "s3://bucket/pre/fix".into(),
                object: "chunks/a.chunk".into()
            })
        );
        assert!(Target::parse(OsStr::new("file://relative")).is_err());
        assert!(Target::parse(OsStr::new("memory://db")).is_err());
        assert!(Target::parse(OsStr::new("memory://db/")).is_err());
    }
}

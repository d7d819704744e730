//! End-to-end tests of the `firn` binary's inspection commands: manifest,
//! chunk-dump, verify, stats and `--print-requests`; TTL writes and
//! `get --json` with each value's seq and times.

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn manifest_json_has_the_documented_fields() {
    let (_dir, db) = temp_db();
    firn_in(&db, &["load"], "put\tapple\t1\nput\tpear\t2\ndel\tplum\n").ok();
    let m = json(&firn(&db, &["manifest", "--json"]).ok().stdout);
    assert!(m["version"].as_u64().expect("version") >= 2);
    assert!(m["epoch"].as_u64().expect("epoch") >= 1);
    assert!(m["wal_watermark"].as_u64().expect("wal_watermark") >= 3);
    let chunks = m["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 1);
    let c = &chunks[0];
    for field in [
        "id",
        "object",
        "run",
        "size",
        "entries",
        "tombstones",
        "min_key",
        "max_key",
        "min_seq",
        "max_seq",
    ] {
        assert!(c.get(field).is_some(), "chunk lacks {field}: {c}");
    }
    assert_eq!(c["run"], "L0");
    assert_eq!(
        (c["entries"].as_u64(), c["tombstones"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        (c["min_key"].as_str(), c["max_key"].as_str()),
        (Some("apple"), Some("plum"))
    );
    let object = c["object"].as_str().expect("object");
    assert!(db.join("objects").join(object).is_file(), "{object}");
    assert_eq!(
        c["size"].as_u64(),
        std::fs::metadata(db.join("objects").join(object))
            .ok()
            .map(|m| m.len())
    );

    let text = firn(&db, &["manifest"]).ok().stdout;
    assert!(text.starts_with("manifest version "), "{text}");
    assert!(text.contains(object), "{text}");
}

#[test]
fn chunk_dump_json_describes_a_real_chunk() {
    let (_dir, db) = temp_db();
    firn_in(&db, &["load"], "put\tk\\x01\tv1\nput\tk2\tv2\ndel\tk3\n").ok();
    let chunk = chunk_files(&db).pop().expect("a chunk");
    let run = firn(
        &db,
        &[
            OsStr::new("chunk-dump"),
            chunk.as_os_str(),
            OsStr::new("--json"),
            OsStr::new("--entries"),
            OsStr::new("--blocks"),
            OsStr::new("--verify"),
        ],
    )
    .ok();
    let d = json(&run.stdout);
    let p = &d["properties"];
    assert_eq!(p["entries"], 3);
    assert_eq!(p["tombstones"], 1);
    assert_eq!(p["format_version"], 3);
    assert_eq!(p["range_tombstones"], serde_json::json!([]));
    assert!(p["blocks"].as_u64().expect("blocks") >= 1);
    assert_eq!(
        d["blocks"].as_array().map(Vec::len),
        p["blocks"].as_u64().map(|b| b as usize)
    );
    assert_eq!(d["verified"], true);
    let entries = d["entries"].as_array().expect("entries");
    let simple: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            assert!(e["seq"].as_u64().is_some(), "{e}");
            let s = |f: &str| e[f].as_str().expect("string").to_string();
            (s("key"), s("kind"), s("value"))
        })
        .collect();
    let expect = |k: &str, kind: &str, v: &str| (k.to_string(), kind.to_string(), v.to_string());
    assert_eq!(
        simple,
        [
            expect("k\\x01", "put", "v1"),
            expect("k2", "put", "v2"),
            expect("k3", "delete", "")
        ]
    );

    let url = format!("file://{}", chunk.display());
    let text = firn(&db, &["chunk-dump", &url, "--entries", "--blocks"])
        .ok()
        .stdout;
    assert!(
        text.contains("entries: 3") && text.contains("k3\t"),
        "{text}"
    );
    let props_only = json(
        &firn(
            &db,
            &[
                OsStr::new("chunk-dump"),
                chunk.as_os_str(),
                OsStr::new("--json"),
            ],
        )
        .ok()
        .stdout,
    );
    assert!(props_only.get("entries").is_none() && props_only.get("blocks").is_none());
}

#[test]
fn chunk_dump_of_a_text_file_or_truncated_chunk_exits_2() {
    let (dir, db) = temp_db();
    firn_in(
        &db,
        &["load"],
        &(0..200)
            .map(|i| format!("put\tkey{i:04}\tvalue {i}\n"))
            .collect::<String>(),
    )
    .ok();
    let chunk = chunk_files(&db).pop().expect("a chunk");
    let bytes = std::fs::read(&chunk).expect("read chunk");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a chunk\n".repeat(20)).expect("write");
    let tiny = dir.path().join("tiny");
    std::fs::write(&tiny, b"hi").expect("write");
    let half = dir.path().join("half.chunk");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).expect("write");
    let short = dir.path().join("short.chunk");
    std::fs::write(&short, &bytes[..bytes.len() - 1]).expect("write");
    let empty = dir.path().join("empty.chunk");
    std::fs::write(&empty, b"").expect("write");

    for file in [&text, &tiny, &half, &short, &empty] {
        for json in [false, true] {
            let mut args = vec![
                OsStr::new("chunk-dump"),
                file.as_os_str(),
                OsStr::new("--entries"),
            ];
            if json {
                args.push(OsStr::new("--json"));
            }
            let run = firn(&db, &args);
            assert_eq!(run.code, 2, "{}: {}", file.display(), run.stderr);
            assert_one_error_line(&run);
            assert!(
                run.stderr.contains(&file.display().to_string()),
                "{}",
                run.stderr
            );
            assert_eq!(run.stdout, "");
        }
    }
    let missing = firn(&db, &["chunk-dump", "/no/such/file.chunk"]);
    assert_eq!(missing.code, 1);
    assert_one_error_line(&missing);
}

#[test]
fn verify_passes_then_names_the_object_with_a_flipped_byte() {
    let (_dir, db) = temp_db();
    let input: String = (0..500)
        .map(|i| format!("put\tkey{i:05}\tvalue number {i}\n"))
        .collect();
    firn_in(&db, &["load"], &input).ok();
    let ok = firn(&db, &["verify"]).ok();
    assert!(
        ok.stdout.starts_with("ok: ") && ok.stdout.contains("1 chunks"),
        "{}",
        ok.stdout
    );
    assert!(ok.stdout.contains("500 entries"), "{}", ok.stdout);

    let chunk = chunk_files(&db).pop().expect("a chunk");
    let dump = json(
        &firn(
            &db,
            &[
                OsStr::new("chunk-dump"),
                chunk.as_os_str(),
                OsStr::new("--json"),
                OsStr::new("--blocks"),
            ],
        )
        .ok()
        .stdout,
    );
    let block0 = &dump["blocks"][0];
    assert_eq!(block0["offset"], 0);
    let at = block0["len"].as_u64().expect("len") / 2;
    let mut bytes = std::fs::read(&chunk).expect("read");
    bytes[at as usize] ^= 0x40;
    std::fs::write(&chunk, &bytes).expect("write");

    let bad = firn(&db, &["verify"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert_one_error_line(&bad);
    let name = chunk.file_name().and_then(OsStr::to_str).expect("name");
    assert!(
        bad.stderr.contains(&format!("chunks/{name}")),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("at offset 0"), "{}", bad.stderr);
    let dump = firn(
        &db,
        &[
            OsStr::new("chunk-dump"),
            chunk.as_os_str(),
            OsStr::new("--verify"),
        ],
    );
    assert_eq!(dump.code, 2);
    assert_one_error_line(&dump);
}

#[test]
fn print_requests_prints_the_requests_and_cache_lines_in_the_documented_format() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k", "v"]).ok();
    let run = firn(&db, &["--print-requests", "get", "k"]).ok();
    assert_eq!(run.stdout, "v\n");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    let fields_of = |line: &str, prefix: &str| -> Vec<(String, u64)> {
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
            .split(' ')
            .map(|f| {
                let (name, n) = f.split_once('=').expect("name=N");
                (name.to_string(), n.parse().expect("a number"))
            })
            .collect()
    };
    let line = lines[0];
    let fields = fields_of(line, "requests: ");
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "get",
            "put",
            "list",
            "delete",
            "head",
            "bytes_read",
            "bytes_written"
        ]
    );
    assert!(fields[0].1 >= 1 && fields[2].1 >= 1, "{line}");
    assert_eq!(fields[1].1, 0, "a read-only get writes nothing: {line}");

    // The cache line: the writer's flush left the chunk's index in the local
    // directory, so the read maps it and fetches only the data block.
    let cache = fields_of(lines[1], "cache: ");
    let names: Vec<&str> = cache.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "memory_hits",
            "memory_misses",
            "disk_hits",
            "disk_misses",
            "block_gets",
            "block_bytes",
            "index_local",
            "index_gets",
            "index_bytes",
            "discarded"
        ]
    );
    let value = |name: &str| cache.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(value("index_local"), Some(1), "{}", lines[1]);
    assert_eq!(value("index_gets"), Some(0), "{}", lines[1]);
    assert_eq!(value("block_gets"), Some(1), "{}", lines[1]);
    assert_eq!(value("discarded"), Some(0), "{}", lines[1]);

    let writer = firn(&db, &["put", "k2", "v2", "--print-requests"]).ok();
    let line = writer.stderr.lines().last().expect("line");
    assert!(
        !line.contains(" put=0 "),
        "a writer publishes a manifest: {line}"
    );
}

#[test]
fn stats_prints_metrics_and_a_manifest_summary() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k", "v"]).ok();
    let stats = json(&firn(&db, &["stats", "--json"]).ok().stdout);
    assert_eq!(stats["manifest"]["chunks"], 1);
    assert_eq!(stats["manifest"]["l0_chunks"], 1);
    assert!(stats["metrics"]["requests"]["get"].as_u64().is_some());
    let text = firn(&db, &["stats"]).ok().stdout;
    assert!(
        text.contains("metrics:") && text.contains("l0_chunks: 1"),
        "{text}"
    );
    assert!(text.contains("  requests: get="), "{text}");
    assert!(text.contains("  cache: memory_hits="), "{text}");
    assert!(stats["metrics"]["cache"]["index_gets"].as_u64().is_some());
}

#[test]
fn stats_prometheus_prints_every_family_typed_once_with_the_database_shape() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "k", "v"]).ok();
    let text = firn(&db, &["stats", "--prometheus"]).ok().stdout;
    let mut typed = std::collections::BTreeMap::new();
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                typed.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} typed twice"
            );
        } else if !line.starts_with("# HELP ") {
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let name = series.split('{').next().unwrap_or(series);
            assert!(typed.contains_key(name), "{name} has no # TYPE before it");
            let value: f64 = value.parse().expect("a number");
            samples.insert(series.to_string(), value);
        }
    }
    assert_eq!(typed["firn_object_store_requests_total"], "counter");
    assert_eq!(typed["firn_compaction_pending_bytes"], "gauge");
    // The shape of the database, whatever process reads it.
    assert_eq!(samples["firn_chunks"], 1.0);
    assert_eq!(samples["firn_l0_chunks"], 1.0);
    assert_eq!(samples["firn_sorted_runs"], 1.0);
    // This process's own requests: it opened the database with GETs.
    assert!(samples["firn_object_store_requests_total{kind=\"get\"}"] >= 1.0);
    assert!(samples["firn_object_store_request_cost_usd_total"] > 0.0);
    for tier in ["memory", "disk"] {
        assert!(samples.contains_key(&format!("firn_cache_hits_total{{tier=\"{tier}\"}}")));
    }

    let both = firn(&db, &["stats", "--json", "--prometheus"]);
    assert_eq!(
        both.code, 3,
        "--json and --prometheus conflict: {}",
        both.stderr
    );
}

#[test]
fn ttl_puts_and_get_json_show_seq_write_time_and_expiry() {
    let (_dir, db) = temp_db();
    firn(&db, &["put", "session", "token", "--ttl", "1h"]).ok();
    firn_in(&db, &["load"], "put\tloaded\tv\tttl=30m\nput\tplain\tp\n").ok();
    let out = firn(&db, &["get", "--json", "session", "loaded", "plain"])
        .ok()
        .stdout;
    let rows: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(rows.len(), 3, "{out}");
    let time = |v: &Value| {
        let text = v
            .as_str()
            .unwrap_or_else(|| panic!("an RFC 3339 time: {v}"));
        humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    for (row, key, value, ttl) in [
        (&rows[0], "session", "token", Some(3600)),
        (&rows[1], "loaded", "v", Some(1800)),
        (&rows[2], "plain", "p", None),
    ] {
        assert_eq!(
            (row["key"].as_str(), row["value"].as_str()),
            (Some(key), Some(value))
        );
        assert!(row["seq"].as_u64().is_some_and(|s| s >= 1), "{row}");
        let written = time(&row["write_time"]);
        match ttl {
            Some(secs) => assert_eq!(
                time(&row["expires"]),
                written + Duration::from_secs(secs),
                "{row}"
            ),
            None => assert!(row["expires"].is_null(), "{row}"),
        }
    }
    assert!(rows[1]["seq"].as_u64() > rows[0]["seq"].as_u64());
    // A missing key is reported like `get` does; a bad TTL is a usage error
    // naming it, and writes nothing.
    let run = firn(&db, &["get", "--json", "plain", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "not found: nope\n");
    let bad = firn(&db, &["put", "k", "v", "--ttl", "soon"]);
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(bad.stderr.contains("soon"), "{}", bad.stderr);
    assert_eq!(firn(&db, &["get", "k"]).code, 1);

    // The flushed chunk carries the times: chunk-dump shows them.
    let chunk = chunk_files(&db).pop().expect("a chunk");
    let text = firn(
        &db,
        &[
            OsStr::new("chunk-dump"),
            chunk.as_os_str(),
            OsStr::new("--entries"),
        ],
    )
    .ok()
    .stdout;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("loaded\t"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("\twrite_time=") && line.contains("\texpires="),
        "{line}"
    );
    assert!(text.contains("expiring: 1"), "{text}");
}

#[test]
fn delete_range_removes_a_range_and_chunk_dump_shows_its_tombstone() {
    let (_dir, db) = temp_db();
    firn_in(
        &db,
        &["load"],
        "put\ta\t1\nput\tb\t2\nput\tc\t3\nput\td\t4\nput\te\t5\n",
    )
    .ok();
    // START included, END excluded.
    firn(&db, &["delete", "--range", "b", "d"]).ok();
    for (key, code) in [("a", 0), ("b", 1), ("c", 1), ("d", 0)] {
        assert_eq!(firn(&db, &["get", key]).code, code, "get {key}");
    }
    let scan = firn(&db, &["scan"]).ok().stdout;
    assert_eq!(scan, "a\t1\nd\t4\ne\t5\n");
    // A load line deletes a range too.
    firn_in(&db, &["load"], "delrange\td\te\nput\tc\tagain\n").ok();
    let scan = firn(&db, &["scan", "--reverse"]).ok().stdout;
    assert_eq!(scan, "e\t5\nc\tagain\na\t1\n");
    // An inverted or empty range is refused and deletes nothing.
    let bad = firn(&db, &["delete", "--range", "e", "a"]);
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(bad.stderr.contains("START < END"), "{}", bad.stderr);
    let bad = firn_in(&db, &["load"], "delrange\tz\ta\n");
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(bad.stderr.contains("line 1"), "{}", bad.stderr);
    assert_eq!(firn(&db, &["scan"]).ok().stdout, "a\t1\nc\tagain\ne\t5\n");

    // Every chunk checks out, the one of the range delete alone included.
    firn(&db, &["verify"]).ok();
    // The chunks hold the range deletes: chunk-dump lists them.
    let mut listed = Vec::new();
    for chunk in chunk_files(&db) {
        let text = firn(
            &db,
            &[
                OsStr::new("chunk-dump"),
                chunk.as_os_str(),
                OsStr::new("--entries"),
            ],
        )
        .ok()
        .stdout;
        let mut lines = text.lines();
        if lines.any(|l| l.starts_with("range tombstones:")) {
            listed.extend(lines.take_while(|l| l.starts_with("  ")).map(str::to_owned));
        }
        let doc = json(
            &firn(
                &db,
                &[
                    OsStr::new("chunk-dump"),
                    chunk.as_os_str(),
                    OsStr::new("--json"),
                    OsStr::new("--verify"),
                ],
            )
            .ok()
            .stdout,
        );
        let frags = doc["properties"]["range_tombstones"]
            .as_array()
            .expect("range_tombstones");
        for f in frags {
            assert!(f["start"].is_string() && f["end"].is_string(), "{f}");
            assert!(f["seqs"].as_array().is_some_and(|s| !s.is_empty()), "{f}");
        }
    }
    let ranges: Vec<(String, String)> = listed
        .iter()
        .map(|l| {
            let mut f = l.trim_start().split('\t');
            (f.next().unwrap().to_owned(), f.next().unwrap().to_owned())
        })
        .collect();
    assert!(
        ranges.contains(&("b".into(), "d".into())) && ranges.contains(&("d".into(), "e".into())),
        "{listed:?}"
    );
}

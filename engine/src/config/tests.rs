use std::path::PathBuf;
use std::time::Duration;

use super::keys::KEYS;
use super::*;
use crate::options::Durability;

const BASE: &str = "url = \"memory://cfg\"\nlocal_dir = \"/tmp/cfg-local\"\n";

fn parse(extra: &str) -> Result<Options> {
    Options::from_toml(&format!("{BASE}{extra}"))
}

fn err(extra: &str) -> String {
    match parse(extra) {
        Ok(o) => panic!("{extra:?} was accepted: {o:?}"),
        Err(Error::InvalidArgument(m)) => m,
        Err(e) => panic!("{extra:?}: not InvalidArgument: {e:?}"),
    }
}

fn env(vars: &[(&str, &str)]) -> Result<Config> {
    Config::from_env_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn env_err(vars: &[(&str, &str)]) -> String {
    match env(vars) {
        Ok(c) => panic!("{vars:?} was accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_value_form() {
    let o = parse(
        r#"
        read_only = true
        durability = "sync"
        follow_interval = "250ms"
        gc_grace = "1h 30m"
        wal_retention = 0
        memtable_size = "32MiB"
        block_cache_bytes = 1048576
        disk_cache_bytes = "1.5GiB"
        wal_ship_bytes = "4MB"
        default_ttl = "7d"
        compression_level = -3
        bloom_bits_per_key = 12
        max_frozen_memtables = 2
        checkpoint = "nightly"
        [compaction]
        policy = "leveled"
        l0_trigger = 8
        auto_compaction = false
        target_chunk_size = "128MiB"
        [s3]
        region = "eu-west-1"
        endpoint = "http://127.0.0.1:9000"
        secret_access_key = "s3cr3t-value"
        virtual_host_style = false
        [store]
        max_retries = 7
        request_timeout = "5s"
        multipart_part_size = "8MiB"
        "#,
    )
    .expect("parses");
    assert_eq!(o.url, "memory://cfg");
    assert_eq!(o.local_dir, PathBuf::from("/tmp/cfg-local"));
    assert!(o.read_only);
    assert_eq!(o.durability, Durability::Sync);
    assert_eq!(o.follow_interval, Duration::from_millis(250));
    assert_eq!(o.gc_grace, Duration::from_secs(5400));
    assert_eq!(o.wal_retention, Duration::ZERO);
    assert_eq!(o.memtable_size, 32 << 20);
    assert_eq!(o.block_cache_bytes, 1 << 20);
    assert_eq!(o.disk_cache_bytes, 3 << 29);
    assert_eq!(o.wal_ship_bytes, 4_000_000);
    assert_eq!(o.default_ttl, Some(Duration::from_secs(7 * 86400)));
    assert_eq!(o.compression_level, -3);
    assert_eq!(o.bloom_bits_per_key, 12);
    assert_eq!(o.max_frozen_memtables, 2);
    assert_eq!(o.checkpoint.as_deref(), Some("nightly"));
    assert_eq!(o.compaction.policy, firn_compaction::Policy::Leveled);
    assert_eq!(o.compaction.l0_trigger, 8);
    assert!(!o.compaction.auto_compaction);
    assert_eq!(o.compaction.target_chunk_size, 128 << 20);
    assert_eq!(o.store.s3_region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        o.store.s3_endpoint.as_deref(),
        Some("http://127.0.0.1:9000")
    );
    assert_eq!(
        o.store.s3_secret_access_key.as_deref(),
        Some("s3cr3t-value")
    );
    assert_eq!(o.store.s3_virtual_host_style, Some(false));
    assert_eq!(o.store.max_retries, 7);
    assert_eq!(o.store.request_timeout, Duration::from_secs(5));
    assert_eq!(o.store.multipart_part_size, 8 << 20);
    // Untouched options keep their defaults.
    let d = Options::new("memory://cfg", "/tmp/cfg-local");
    assert_eq!(o.wal_ship_interval, d.wal_ship_interval);
    assert_eq!(o.store.io_timeout, d.store.io_timeout);

    // Inline tables, dotted keys, and the unset forms.
    let o = parse(
        "s3 = { region = \"x\", virtual_host_style = \"auto\" }\ncompaction.max_runs = 3\n\
         default_ttl = \"none\"\ncheckpoint = \"\"\n",
    )
    .expect("parses");
    assert_eq!(o.store.s3_region.as_deref(), Some("x"));
    assert_eq!(o.store.s3_virtual_host_style, None);
    assert_eq!(o.compaction.max_runs, 3);
    assert_eq!(o.default_ttl, None);
    assert_eq!(o.checkpoint, None);
}

#[test]
fn unknown_keys_are_named_with_the_nearest_valid_one() {
    let m = err("memtable_siz = \"32MiB\"\n");
    assert!(m.starts_with("config line 3, column 1: "), "{m}");
    assert!(
        m.contains("unknown key \"memtable_siz\" at the top level"),
        "{m}"
    );
    assert!(m.contains("did you mean \"memtable_size\"?"), "{m}");

    let m = err("[s3]\nregoin = \"eu\"\n");
    assert!(m.contains("config line 4, column 1"), "{m}");
    assert!(
        m.contains("unknown key \"regoin\" in [s3]; did you mean \"region\"?"),
        "{m}"
    );

    // A key in the wrong table points to the right one.
    let m = err("[s3]\nmax_retries = 3\n");
    assert!(
        m.contains("did you mean \"max_retries\" in [store]?"),
        "{m}"
    );
    let m = err("s3_region = \"eu\"\n");
    assert!(m.contains("did you mean \"region\" in [s3]?"), "{m}");
    let m = err("[compaction]\nl0_stop_writes = 40\n");
    assert!(
        m.contains("did you mean \"l0_stop_writes\" at the top level?"),
        "{m}"
    );

    // Nothing near: the valid keys are listed.
    let m = err("[s3]\nbanana = 1\n");
    assert!(
        m.contains("unknown key \"banana\" in [s3]; the keys in [s3] are: endpoint, region"),
        "{m}"
    );
    let m = err("zzzzzz = 1\n");
    assert!(
        m.contains("memtable_size") && m.contains("[compaction], [s3], [store]"),
        "{m}"
    );

    // Unknown tables, and tables given as values.
    let m = err("[s4]\nregion = \"eu\"\n");
    assert!(m.contains("unknown table [s4]; did you mean [s3]?"), "{m}");
    let m = err("[azure_blobs]\nx = 1\n");
    assert!(
        m.contains("unknown table [azure_blobs]; the tables are [compaction], [s3], [store]"),
        "{m}"
    );
    let m = err("s3 = \"eu-west-1\"\n");
    assert!(m.contains("`s3` must be a table ([s3])"), "{m}");
    let m = err("[compaction]\npolicy = \"tiered\"\n[compaction.extra]\nx = 1\n");
    assert!(m.contains("unknown key \"extra\" in [compaction]"), "{m}");
}

#[test]
fn bad_values_name_the_key_the_value_and_the_form() {
    for (toml, wanted) in [
        (
            "memtable_size = \"64MB!\"",
            &[
                "line 3, column 17",
                "memtable_size = \"64MB!\" is not a size",
                "\"64MiB\"",
            ][..],
        ),
        (
            "memtable_size = -1",
            &["memtable_size = -1 is negative", "a size"],
        ),
        (
            "memtable_size = 1.5",
            &["memtable_size = 1.5 is a float", "expected a size"],
        ),
        (
            "block_size = \"64M\"",
            &["write 64MiB (powers of 1024) or 64MB"],
        ),
        (
            "gc_grace = \"soon\"",
            &["gc_grace = \"soon\" is not a duration", "\"10m\""],
        ),
        (
            "gc_grace = 600",
            &["gc_grace = 600 is a bare number", "\"600s\""],
        ),
        (
            "gc_grace = true",
            &["gc_grace = true is a boolean, not a duration"],
        ),
        (
            "default_ttl = \"forever\"",
            &["default_ttl = \"forever\"", "or \"none\""],
        ),
        (
            "read_only = \"maybe\"",
            &["read_only = \"maybe\" is not a boolean; expected true or false"],
        ),
        (
            "read_only = 1",
            &["read_only = 1 is an integer, not a boolean"],
        ),
        (
            "durability = \"fsync\"",
            &[
                "durability = \"fsync\" is invalid (unknown durability)",
                "\"sync\"",
            ],
        ),
        (
            "max_frozen_memtables = \"four\"",
            &["max_frozen_memtables = \"four\" is not an integer"],
        ),
        (
            "max_frozen_memtables = -2",
            &["max_frozen_memtables = -2 is negative"],
        ),
        (
            "bloom_bits_per_key = 5000000000",
            &["bloom_bits_per_key = 5000000000 is invalid (too large)"],
        ),
        ("compression_level = 3000000000", &["out of range"]),
        ("checkpoint = 2024-01-01", &["checkpoint is a date"]),
        (
            "[compaction]\npolicy = \"fifo\"",
            &["compaction.policy = \"fifo\"", "\"tiered\" or \"leveled\""],
        ),
        (
            "[s3]\nvirtual_host_style = \"yes please\"",
            &["s3.virtual_host_style", "\"auto\""],
        ),
        (
            "[store]\nmax_retries = {}",
            &["store.max_retries is a table"],
        ),
    ] {
        let m = err(&format!("{toml}\n"));
        for w in wanted {
            assert!(m.contains(w), "{toml:?}: {m:?} lacks {w:?}");
        }
        assert!(m.starts_with("config line "), "{toml:?}: {m}");
    }
    for (toml, wanted) in [
        (
            "url = 5",
            "f line 1, column 7: url = 5 is an integer, not a string; expected a string",
        ),
        (
            "local_dir = [\"a\"]",
            "f line 1, column 13: local_dir is an array; expected a string",
        ),
    ] {
        let m = Config::from_toml(toml, "f").unwrap_err().to_string();
        assert!(m.contains(wanted), "{toml:?}: {m:?}");
    }
}

#[test]
fn syntax_errors_name_line_and_column() {
    let m = err("memtable_size = \"64MiB\"\ngc_grace = \"10m\nblock_size = 1\n");
    assert!(m.contains("config line 4, column"), "{m}");
    assert!(m.contains("invalid TOML"), "{m}");
    let m = err("memtable_size = 1\nmemtable_size = 2\n");
    assert!(m.contains("line 4") && m.contains("invalid TOML"), "{m}");
}

#[test]
fn whole_options_are_checked() {
    let m = Options::from_toml("memtable_size = \"64MiB\"")
        .unwrap_err()
        .to_string();
    assert!(m.contains("`url` and `local_dir` must be set"), "{m}");
    let m = err("memtable_size = 100\n");
    assert_eq!(m, "config: memtable_size must be at least 4096 bytes");
    let m = err("wal_shipping = false\ndurability = \"remote\"\n");
    assert!(m.contains("wal_shipping"), "{m}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("firn.toml");
    std::fs::write(&file, format!("{BASE}[s3]\nregoin = 1\n")).expect("write");
    let m = Options::from_toml_file(&file).unwrap_err().to_string();
    assert!(m.contains(&format!("{} line 4", file.display())), "{m}");
    std::fs::write(&file, "memtable_size = \"1MiB\"\n").expect("write");
    let m = Options::from_toml_file(&file).unwrap_err().to_string();
    assert!(
        m.contains(&format!(
            "{}: `url` and `local_dir` must be set",
            file.display()
        )),
        "{m}"
    );
    let m = Config::from_toml_file(&file)
        .expect("file")
        .merge(
            env(&[
                ("FIRN_MEMTABLE_SIZE", "1KiB"),
                ("FIRN_URL", "memory://e"),
                ("FIRN_LOCAL_DIR", "/e"),
            ])
            .expect("env"),
        )
        .to_options()
        .unwrap_err()
        .to_string();
    assert!(
        m.contains(&format!(
            "{}, FIRN_* variables: memtable_size must be at least",
            file.display()
        )),
        "{m}"
    );
    let m = Options::from_toml_file(dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("cannot read the config file") && m.contains("missing.toml"),
        "{m}"
    );
}

#[test]
fn credentials_never_show() {
    let secret = "wJalrXUtnFEMI-do-not-print";
    let text = format!("{BASE}[s3]\naccess_key_id = \"AKID\"\nsecret_access_key = \"{secret}\"\nsession_token = \"{secret}\"\n");
    let config = Config::from_toml(&text, "f.toml").expect("parses");
    let shown = format!("{config:?}");
    assert!(
        shown.contains("s3.secret_access_key = <redacted>") && shown.contains("AKID"),
        "{shown}"
    );
    assert!(!shown.contains(secret), "{shown}");
    let opts = config.to_options().expect("options");
    assert!(!format!("{opts:?}").contains(secret));
    // A bad value of a credential is named, not shown.
    let m = err("[s3]\nsecret_access_key = 12345678\n");
    assert!(
        m.contains("s3.secret_access_key = <redacted> is an integer"),
        "{m}"
    );
    assert!(!m.contains("12345678"), "{m}");
    let from_env = env(&[("FIRN_S3_SECRET_ACCESS_KEY", secret)]).expect("env");
    assert!(!format!("{from_env:?}").contains(secret));
}

#[test]
fn env_overrides_and_mapping() {
    let file = Config::from_toml(
        &format!("{BASE}memtable_size = \"64MiB\"\n[s3]\nregion = \"eu-west-1\"\nendpoint = \"http://h\"\n"),
        "f.toml",
    )
    .expect("file");
    let vars = env(&[
        ("FIRN_MEMTABLE_SIZE", "32MiB"),
        ("FIRN_S3_REGION", "us-east-2"),
        ("FIRN_S3_ENDPOINT", ""),
        ("FIRN_COMPACTION_L0_TRIGGER", "6"),
        ("FIRN_STORE_MAX_RETRIES", "9"),
        ("FIRN_WAL_SHIPPING", "off"),
        ("FIRN_GC_GRACE", "2h"),
        ("HOME", "/root"),
        ("firn_memtable_size", "1"),
    ])
    .expect("env");
    let o = file.merge(vars).to_options().expect("options");
    assert_eq!(o.memtable_size, 32 << 20, "env wins over the file");
    assert_eq!(o.store.s3_region.as_deref(), Some("us-east-2"));
    assert_eq!(o.store.s3_endpoint, None, "an empty value unsets");
    assert_eq!(o.compaction.l0_trigger, 6);
    assert_eq!(o.store.max_retries, 9);
    assert!(!o.wal_shipping);
    assert_eq!(o.gc_grace, Duration::from_secs(7200));

    // Reserved names are not options and not errors.
    for name in [
        "FIRN_DB",
        "FIRN_CONFIG",
        "FIRN_TEST_S3_ENDPOINT",
        "FIRN_S3_SERVER_PID",
        "FIRN_REQUIRE_S3",
        "FIRN_CRASH_POINT",
    ] {
        assert!(env(&[(name, "1")]).expect(name).is_empty(), "{name}");
    }

    let m = env_err(&[("FIRN_MEMTABLE_SIZ", "1MiB")]);
    assert!(
        m.contains("FIRN_MEMTABLE_SIZ names no Firn option; did you mean FIRN_MEMTABLE_SIZE?"),
        "{m}"
    );
    let m = env_err(&[("FIRN_S3_REGOIN", "x")]);
    assert!(m.contains("did you mean FIRN_S3_REGION?"), "{m}");
    let m = env_err(&[("FIRN_BANANA", "x")]);
    assert!(
        m.contains("FIRN_BANANA names no Firn option; (FIRN_<KEY>"),
        "{m}"
    );
    let m = env_err(&[("FIRN_MEMTABLE_SIZE", "lots")]);
    assert!(
        m.contains("FIRN_MEMTABLE_SIZE (memtable_size) = \"lots\" is not a size"),
        "{m}"
    );
    let m = env_err(&[("FIRN_DURABILITY", "eventually")]);
    assert!(
        m.contains("FIRN_DURABILITY (durability) = \"eventually\""),
        "{m}"
    );
}

#[cfg(unix)]
#[test]
fn env_values_must_be_utf8() {
    use std::os::unix::ffi::OsStringExt;
    let bad = std::ffi::OsString::from_vec(vec![0xff, 0xfe]);
    let m = Config::from_env_vars([(std::ffi::OsString::from("FIRN_URL"), bad)])
        .unwrap_err()
        .to_string();
    assert!(m.contains("FIRN_URL (url) is not valid UTF-8"), "{m}");
}

#[test]
fn env_names_are_unique_and_never_reserved() {
    let mut names: Vec<String> = KEYS.iter().map(|k| k.env_name()).collect();
    for name in &names {
        assert!(!is_reserved(name), "{name} is both an option and reserved");
    }
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "two keys share an environment variable");
    for table in tables() {
        assert!(
            !KEYS.iter().any(|k| k.table.is_empty() && k.name == table),
            "{table} is both a key and a table"
        );
    }
}

#[test]
fn take_location_and_merge_order() {
    let mut c = Config::from_toml(
        "url = \"s3://b/p\"\nlocal_dir = \"/l\"\nmemtable_size = 8192\n",
        "a",
    )
    .expect("a")
    .merge(Config::from_toml("memtable_size = 16384\nlocal_dir = \"/m\"\n", "b").expect("b"));
    assert_eq!(
        c.take_location(),
        (Some("s3://b/p".into()), Some(PathBuf::from("/m")))
    );
    let mut o = Options::new("memory://x", "/x");
    c.apply_to(&mut o).expect("apply");
    assert_eq!((o.url.as_str(), o.memtable_size), ("memory://x", 16384));
    assert_eq!(o.local_dir, PathBuf::from("/x"), "location was taken out");
}

#[test]
fn request_prices_and_reader_local_state() {
    let o = parse(
        "reader_local_state = true\n[request_prices]\nget_per_1000 = 0.00042\nput_per_1000 = 1\n\
         list_per_1000 = \"0.0055\"\n",
    )
    .expect("parse");
    assert!(o.reader_local_state);
    assert_eq!(o.request_prices.get_per_1000, 0.00042);
    assert_eq!(o.request_prices.put_per_1000, 1.0);
    assert_eq!(o.request_prices.list_per_1000, 0.0055);
    assert_eq!(o.request_prices.head_per_1000, 0.0004, "a default kept");
    let m = err("[request_prices]\nget_per_1000 = -0.1\n");
    assert!(
        m.contains("request_prices.get_per_1000 = -0.1 is not a non-negative number"),
        "{m}"
    );
    let m = err("[request_prices]\nget_per_100 = 0.1\n");
    assert!(m.contains("get_per_1000"), "a suggestion: {m}");
    let vars = env(&[("FIRN_REQUEST_PRICES_PUT_PER_1000", "0.01")]).expect("env");
    let mut o = Options::new("memory://x", "/x");
    vars.apply_to(&mut o).expect("apply");
    assert_eq!(o.request_prices.put_per_1000, 0.01);
}

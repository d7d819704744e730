//! Configuration files and `FIRN_*` environment overrides.
//!
//! A configuration file is TOML. Its top level holds the options of
//! [`Options`] under their field names; `[compaction]` holds the compaction
//! planner's ([`CompactionConfig`](crate::CompactionConfig)); `[s3]` the S3
//! settings of [`StoreOptions`](firn_store::StoreOptions) without their `s3_`
//! prefix (`region`, `endpoint`, `access_key_id`, ...); `[store]` the other
//! object-store settings (timeouts, retries, multipart sizes). Every key is
//! listed, with its default, in `firn.example.toml` at the root of the
//! repository.
//!
//! Values:
//! - durations are strings in human units: `"250ms"`, `"10s"`, `"10m"`,
//!   `"2h"`, `"7d"`, `"1h 30m"` ([`parse_duration`]); `0` is zero;
//! - sizes are integers (bytes) or strings in human units: `"64MiB"`,
//!   `"512KiB"`, `"1GiB"` (powers of 1024), `"8MB"` (powers of 1000)
//!   ([`parse_size`]);
//! - enums are strings: `durability = "sync"`, `policy = "leveled"`;
//! - optional strings (`checkpoint`, the `[s3]` settings) are unset by `""`;
//!   `default_ttl` by `"none"`; `virtual_host_style` is `true`, `false` or
//!   `"auto"`.
//!
//! An unknown key or table is an error naming it, with the nearest valid
//! name; a bad value is an error naming the key, the value and the form
//! expected; a TOML syntax error names its line and column. Credentials
//! (`[s3] secret_access_key`, `session_token`) are never shown: not in
//! errors, not in `Debug`.
//!
//! # Environment overrides
//!
//! Every key has one environment variable: `FIRN_` + the table and an
//! underscore (for keys in a table) + the key, in capitals:
//! `memtable_size` is `FIRN_MEMTABLE_SIZE`, `[s3] region` is
//! `FIRN_S3_REGION`, `[compaction] l0_trigger` is
//! `FIRN_COMPACTION_L0_TRIGGER`. Values take the same forms as in the file
//! (booleans also `1`/`0`, `yes`/`no`, `on`/`off`). Any other variable
//! starting with `FIRN_` is an error naming it, except those
//! [reserved](RESERVED_ENV) for the command line and the test suites
//! (`FIRN_DB`, `FIRN_CONFIG`, `FIRN_TEST_*`, ...): a misspelt override is
//! never silently ignored.
//!
//! Precedence (in the `firn` command line): defaults, then the file
//! (`--config`), then `FIRN_*` variables, then command-line flags.
//!
//! ```
//! let opts = firn::Options::from_toml(r#"
//!     url = "file:///var/lib/app/objects"
//!     local_dir = "/var/lib/app/local"
//!     memtable_size = "32MiB"
//!     gc_grace = "10m"
//!     [s3]
//!     region = "eu-west-1"
//! "#).unwrap();
//! assert_eq!(opts.memtable_size, 32 << 20);
//!
//! let err = firn::Options::from_toml("url = \"memory://x\"\nmemtable_siz = 1").unwrap_err();
//! assert!(err.to_string().contains("did you mean \"memtable_size\""));
//! ```

#[cfg(test)]
mod coverage_tests;
mod keys;
#[cfg(test)]
mod tests;
mod values;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

pub use values::{parse_duration, parse_size};

use crate::error::{Error, Result};
use crate::options::Options;
use keys::{Key, Lit, KEYS};

/// Environment variables starting with `FIRN_` that are not options: the
/// command line's own (`FIRN_DB`, `FIRN_CONFIG`) and the test suites' and
/// scripts'. A name ending in `_` reserves every name it begins.
pub const RESERVED_ENV: &[&str] = &[
    "FIRN_DB",
    "FIRN_CONFIG",
    "FIRN_TEST_",
    "FIRN_CRASH_",
    "FIRN_SIM_",
    "FIRN_MODEL_",
    "FIRN_REQUIRE_",
    "FIRN_S3_SERVER_PID",
    "FIRN_AZURITE_PID",
    "FIRN_CLI",
    "FIRN_BLESS_FIXTURES",
    "FIRN_PYTHON_PROFILE",
    "FIRN_MOTO_SWITCH_INTERVAL",
    "FIRN_DEFERRED_DIR",
    "FIRN_INGEST_CRASH_DIR",
    "FIRN_MANIFEST_CRASH_TEST_DIR",
    "FIRN_TAKEOVER_CRASH_DIR",
    "FIRN_WAL_CRASH_DIR",
    "FIRN_WAL_RECOVER_DIR",
];

/// Settings read from a configuration file and/or `FIRN_*` variables,
/// checked but not yet applied: [`Config::apply_to`] sets them on an
/// [`Options`], later settings winning ([`Config::merge`]).
#[derive(Clone, Default)]
pub struct Config {
    entries: Vec<Entry>,
    /// What the settings came from (file names, `FIRN_* variables`), for
    /// errors about the whole.
    sources: Vec<String>,
}

#[derive(Clone)]
struct Entry {
    key: &'static Key,
    lit: Lit,
    /// Where it was set: `firn.toml line 3` or `FIRN_MEMTABLE_SIZE`.
    origin: String,
}

impl Config {
    /// Parses TOML `text`; `source` names it in errors (a file name).
    pub fn from_toml(text: &str, source: &str) -> Result<Config> {
        let doc = toml_edit::Document::parse(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" {}", position(text, s.start)))
                .unwrap_or_default();
            let message = e.message().lines().next().unwrap_or("").trim().to_string();
            invalid(format!("{source}{at}: invalid TOML: {message}"))
        })?;
        let mut config = Config {
            sources: vec![source.to_string()],
            ..Config::default()
        };
        config.walk(doc.as_table(), "", text, source)?;
        Ok(config)
    }

    /// Reads and parses the TOML file at `path`, naming it in errors.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// The `FIRN_*` variables of this process (see the module documentation).
    pub fn from_env() -> Result<Config> {
        Config::from_env_vars(std::env::vars_os())
    }

    /// The `FIRN_*` variables among `vars` (name, value): an option for each
    /// one naming a key, an error for any other `FIRN_` name not
    /// [reserved](RESERVED_ENV). Other variables are ignored.
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Config>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut vars: Vec<(String, OsString)> = vars
            .into_iter()
            .filter_map(|(k, v)| Some((k.into().into_string().ok()?, v.into())))
            .filter(|(k, _)| k.starts_with("FIRN_"))
            .collect();
        vars.sort();
        let mut config = Config::default();
        for (name, value) in vars {
            let Some(key) = KEYS.iter().find(|k| k.env_name() == name) else {
                if is_reserved(&name) {
                    continue;
                }
                return Err(invalid(unknown_env(&name)));
            };
            let value = value
                .into_string()
                .map_err(|_| invalid(format!("{name} ({}) is not valid UTF-8", key.path())))?;
            let origin = format!("{name} ({})", key.path());
            config.push(key, Lit::Str(value), origin)?;
        }
        if !config.entries.is_empty() {
            config.sources.push("FIRN_* variables".to_string());
        }
        Ok(config)
    }

    /// These settings, then `later`'s (which win where both set a key).
    pub fn merge(mut self, later: Config) -> Config {
        self.entries.extend(later.entries);
        self.sources.extend(later.sources);
        self
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes `url` and `local_dir` and returns their last values: a front
    /// end that resolves the database location itself (the `firn` command
    /// line's `--db`, `--local`) takes them out before
    /// [`apply_to`](Config::apply_to).
    pub fn take_location(&mut self) -> (Option<String>, Option<PathBuf>) {
        let mut scratch = Options::new("", "");
        let (mut url, mut local) = (None, None);
        for entry in &self.entries {
            if entry.key.set(&mut scratch, &entry.lit).is_ok() {
                match entry.key.name {
                    "url" if entry.key.table.is_empty() => url = Some(scratch.url.clone()),
                    "local_dir" if entry.key.table.is_empty() => {
                        local = Some(scratch.local_dir.clone())
                    }
                    _ => {}
                }
            }
        }
        self.entries
            .retain(|e| !(e.key.table.is_empty() && matches!(e.key.name, "url" | "local_dir")));
        (url, local)
    }

    /// Sets every option given on `opts`, in order (later settings win).
    pub fn apply_to(&self, opts: &mut Options) -> Result<()> {
        for entry in &self.entries {
            entry.key.set(opts, &entry.lit).map_err(|problem| {
                invalid(bad_value(&entry.origin, entry.key, &entry.lit, &problem))
            })?;
        }
        Ok(())
    }

    /// Complete options: `url` and `local_dir` must be set; every other
    /// option not set keeps its default. Checked as [`Db::open`](crate::Db::open)
    /// would check them.
    pub fn to_options(&self) -> Result<Options> {
        let mut rest = self.clone();
        let (url, local) = rest.take_location();
        let origins = self.origins();
        let (Some(url), Some(local)) = (url, local) else {
            return Err(invalid(format!(
                "{origins}: `url` and `local_dir` must be set (the database's object-store URL and \
                 its local directory)"
            )));
        };
        let mut opts = Options::new(url, local);
        rest.apply_to(&mut opts)?;
        opts.validate().map_err(|e| {
            invalid(format!(
                "{origins}: {}",
                e.to_string().trim_start_matches("invalid argument: ")
            ))
        })?;
        Ok(opts)
    }

    fn origins(&self) -> String {
        if self.sources.is_empty() {
            "config".to_string()
        } else {
            self.sources.join(", ")
        }
    }

    fn push(&mut self, key: &'static Key, lit: Lit, origin: String) -> Result<()> {
        let mut scratch = Options::new("", "");
        key.set(&mut scratch, &lit)
            .map_err(|problem| invalid(bad_value(&origin, key, &lit, &problem)))?;
        self.entries.push(Entry { key, lit, origin });
        Ok(())
    }

    fn walk(
        &mut self,
        table: &dyn toml_edit::TableLike,
        table_name: &str,
        text: &str,
        source: &str,
    ) -> Result<()> {
        for (name, item) in table.iter() {
            let at = |span: Option<std::ops::Range<usize>>| match span {
                Some(s) => format!("{source} {}", position(text, s.start)),
                None => source.to_string(),
            };
            let key_at = at(table.key(name).and_then(|k| k.span()));
            if table_name.is_empty() && is_table(name) {
                match item.as_table_like() {
                    Some(inner) => self.walk(inner, name, text, source)?,
                    None => {
                        return Err(invalid(format!(
                            "{key_at}: `{name}` must be a table ([{name}]), not a value"
                        )))
                    }
                }
                continue;
            }
            let Some(key) = KEYS
                .iter()
                .find(|k| k.table == table_name && k.name == name)
            else {
                return Err(invalid(format!(
                    "{key_at}: {}",
                    unknown_key(table_name, name, item)
                )));
            };
            let value = match item {
                toml_edit::Item::None => continue,
                toml_edit::Item::Value(v) => v,
                toml_edit::Item::Table(_) | toml_edit::Item::ArrayOfTables(_) => {
                    return Err(invalid(format!(
                        "{key_at}: {} is a table; expected {}",
                        key.path(),
                        key.expected()
                    )))
                }
            };
            let origin = at(value.span().or(table.key(name).and_then(|k| k.span())));
            let lit = match value {
                toml_edit::Value::String(s) => Lit::Str(s.value().clone()),
                toml_edit::Value::Integer(n) => Lit::Int(*n.value()),
                toml_edit::Value::Boolean(b) => Lit::Bool(*b.value()),
                toml_edit::Value::Float(x) => Lit::Float(*x.value()),
                other => {
                    let what = match other {
                        toml_edit::Value::Datetime(_) => "a date",
                        toml_edit::Value::Array(_) => "an array",
                        _ => "a table",
                    };
                    return Err(invalid(format!(
                        "{origin}: {} is {what}; expected {}",
                        key.path(),
                        key.expected()
                    )));
                }
            };
            self.push(key, lit, origin)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    /// Each setting as `origin: key = value`, credentials redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| format!("{}: {} = {}", e.origin, e.key.path(), shown(e.key, &e.lit))),
            )
            .finish()
    }
}

impl Options {
    /// Options from a TOML configuration (see [`config`](crate::config) for
    /// the keys and value forms): `url` and `local_dir` must be set, every
    /// other option defaults. Errors name the key, and the line of the
    /// value. `FIRN_*` variables are not read: merge
    /// [`Config::from_env`] for that.
    pub fn from_toml(text: &str) -> Result<Options> {
        Config::from_toml(text, "config")?.to_options()
    }

    /// [`Options::from_toml`] of the file at `path`, naming it in errors.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Options> {
        Config::from_toml_file(path)?.to_options()
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument(message)
}

/// `line L, column C` of byte `offset` in `text` (both from 1).
fn position(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// The tables of the file: `compaction`, `s3`, `store`, ...
fn tables() -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = Vec::new();
    for key in KEYS {
        if !key.table.is_empty() && !tables.contains(&key.table) {
            tables.push(key.table);
        }
    }
    tables
}

fn is_table(name: &str) -> bool {
    tables().contains(&name)
}

fn is_reserved(env_name: &str) -> bool {
    RESERVED_ENV.iter().any(|r| {
        if r.ends_with('_') {
            env_name.starts_with(r)
        } else {
            env_name == *r
        }
    })
}

fn where_(table: &str) -> String {
    if table.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in [{table}]")
    }
}

fn unknown_key(table: &str, name: &str, item: &toml_edit::Item) -> String {
    let here = where_(table);
    if table.is_empty() && item.is_table_like() {
        let tables = tables();
        let hint = match values::nearest(name, tables.iter().copied()) {
            Some(t) => format!("did you mean [{t}]?"),
            None => format!("the tables are [{}]", tables.join("], [")),
        };
        return format!("unknown table [{name}]; {hint}");
    }
    // The same table's keys first, then every key by its full name (so
    // `s3_region` at the top level finds `region` in [s3]).
    let local = KEYS.iter().filter(|k| k.table == table).map(|k| k.name);
    if let Some(near) = values::nearest(name, local) {
        return format!("unknown key \"{name}\" {here}; did you mean \"{near}\"?");
    }
    let full = if table.is_empty() {
        name.to_string()
    } else {
        format!("{table}_{name}")
    };
    let elsewhere: Vec<(String, &Key)> = KEYS
        .iter()
        .filter(|k| k.table != table)
        .map(|k| (k.env_name()[5..].to_ascii_lowercase(), k))
        .collect();
    let by_name = KEYS
        .iter()
        .filter(|k| k.table != table)
        .find(|k| k.name == name);
    let near = by_name.or_else(|| {
        let found = values::nearest(&full, elsewhere.iter().map(|(n, _)| n.as_str()))?;
        elsewhere.iter().find(|(n, _)| n == found).map(|(_, k)| *k)
    });
    if let Some(k) = near {
        return format!(
            "unknown key \"{name}\" {here}; did you mean \"{}\" {}?",
            k.name,
            where_(k.table)
        );
    }
    let valid: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.table == table)
        .map(|k| k.name)
        .collect();
    let mut list = format!("the keys {here} are: {}", valid.join(", "));
    if table.is_empty() {
        list.push_str(&format!("; and the tables [{}]", tables().join("], [")));
    }
    format!("unknown key \"{name}\" {here}; {list}")
}

fn unknown_env(name: &str) -> String {
    let options: Vec<String> = KEYS
        .iter()
        .map(|k| k.env_name().to_ascii_lowercase())
        .collect();
    let hint = match values::nearest(name, options.iter().map(String::as_str)) {
        Some(near) => format!("did you mean {}? ", near.to_ascii_uppercase()),
        None => String::new(),
    };
    format!(
        "environment variable {name} names no Firn option; {hint}(FIRN_<KEY> sets a top-level \
         key, FIRN_<TABLE>_<KEY> a key of [table]: e.g. FIRN_MEMTABLE_SIZE, FIRN_S3_REGION)"
    )
}

/// The value as written, or `<redacted>` for a credential.
fn shown(key: &Key, lit: &Lit) -> String {
    if key.is_secret() {
        return "<redacted>".to_string();
    }
    match lit {
        Lit::Str(s) => format!("{s:?}"),
        Lit::Int(n) => n.to_string(),
        Lit::Float(x) => x.to_string(),
        Lit::Bool(b) => b.to_string(),
    }
}

fn bad_value(origin: &str, key: &Key, lit: &Lit, problem: &str) -> String {
    let path = key.path();
    let problem = problem
        .strip_prefix("is ")
        .map_or_else(|| format!("is invalid ({problem})"), |p| format!("is {p}"));
    if origin.starts_with("FIRN_") {
        format!(
            "{origin} = {} {problem}; expected {}",
            shown(key, lit),
            key.expected()
        )
    } else {
        format!(
            "{origin}: {path} = {} {problem}; expected {}",
            shown(key, lit),
            key.expected()
        )
    }
}

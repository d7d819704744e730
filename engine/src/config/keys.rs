//! The table of configuration keys: one line per option, naming its TOML
//! table, its key, the form of its value and the field it sets. Adding an
//! option to [`Options`] or [`firn_store::StoreOptions`] means adding its line
//! here (and to `firn.example.toml`; tests check both).

use std::path::PathBuf;
use std::time::Duration;

use super::values::{parse_duration, parse_size};
use crate::options::Options;

/// One option of the configuration file.
pub(crate) struct Key {
    /// The TOML table holding it: `""` for the top level, else `s3`,
    /// `store`, `compaction`, ...
    pub table: &'static str,
    /// The key within the table.
    pub name: &'static str,
    /// The form of its value and the field it sets.
    pub kind: Kind,
}

type Field<T> = fn(&mut Options) -> &mut T;

/// The form of a key's value, with the field it sets.
pub(crate) enum Kind {
    /// A string.
    Str(Field<String>),
    /// A path (a string).
    Path(Field<PathBuf>),
    /// A string; `""` unsets it.
    OptStr(Field<Option<String>>),
    /// A credential: a string never shown in errors or `Debug`; `""` unsets it.
    Secret(Field<Option<String>>),
    /// `true` or `false`.
    Bool(Field<bool>),
    /// `true`, `false` or `"auto"` (unset).
    AutoBool(Field<Option<bool>>),
    /// A duration in human units.
    Time(Field<Duration>),
    /// A duration, or `"none"`.
    OptTime(Field<Option<Duration>>),
    /// A byte size in human units.
    Size(Field<u64>),
    /// A byte size in human units.
    SizeUsize(Field<usize>),
    /// A non-negative integer.
    Count(Field<usize>),
    /// A non-negative integer.
    CountU64(Field<u64>),
    /// A non-negative integer.
    CountU32(Field<u32>),
    /// An integer (may be negative: zstd's fast levels).
    Int(Field<i32>),
    /// A [`Durability`](crate::Durability) name.
    DurabilityMode(Field<crate::Durability>),
    /// A compaction [`Policy`](firn_compaction::Policy) name.
    CompactionPolicy(Field<firn_compaction::Policy>),
    /// A non-negative amount of US dollars (an integer, a float or a string).
    Dollars(Field<f64>),
}

use Kind::*;

const fn key(table: &'static str, name: &'static str, kind: Kind) -> Key {
    Key { table, name, kind }
}

/// Every key. The top level holds the fields of [`Options`]; `[compaction]`
/// those of [`firn_compaction::CompactionConfig`]; `[s3]` the `s3_*` fields of
/// [`firn_store::StoreOptions`] without their prefix; `[store]` its other
/// fields; `[azblob]` its `azblob_*` fields without their prefix;
/// `[request_prices]` those of [`crate::RequestPrices`].
/// `Options::object_store` (a live object) has no key.
#[rustfmt::skip]
pub(crate) static KEYS: &[Key] = &[
    key("", "url", Str(|o| &mut o.url)),
    key("", "local_dir", Path(|o| &mut o.local_dir)),
    key("", "read_only", Bool(|o| &mut o.read_only)),
    key("", "reader_local_state", Bool(|o| &mut o.reader_local_state)),
    key("", "follow", Bool(|o| &mut o.follow)),
    key("", "follow_interval", Time(|o| &mut o.follow_interval)),
    key("", "refresh_interval", Time(|o| &mut o.refresh_interval)),
    key("", "durability", DurabilityMode(|o| &mut o.durability)),
    key("", "wal_sync_interval", Time(|o| &mut o.wal_sync_interval)),
    key("", "wal_shipping", Bool(|o| &mut o.wal_shipping)),
    key("", "wal_ship_interval", Time(|o| &mut o.wal_ship_interval)),
    key("", "wal_ship_bytes", Size(|o| &mut o.wal_ship_bytes)),
    key("", "wal_retention", Time(|o| &mut o.wal_retention)),
    key("", "max_unflushed_wal_objects", CountU64(|o| &mut o.max_unflushed_wal_objects)),
    key("", "memtable_size", SizeUsize(|o| &mut o.memtable_size)),
    key("", "default_ttl", OptTime(|o| &mut o.default_ttl)),
    key("", "change_buffer_bytes", SizeUsize(|o| &mut o.change_buffer_bytes)),
    key("", "read_history", Time(|o| &mut o.read_history)),
    key("", "max_frozen_memtables", Count(|o| &mut o.max_frozen_memtables)),
    key("", "block_size", SizeUsize(|o| &mut o.block_size)),
    key("", "compression_level", Int(|o| &mut o.compression_level)),
    key("", "bloom_bits_per_key", CountU32(|o| &mut o.bloom_bits_per_key)),
    key("", "block_cache_bytes", SizeUsize(|o| &mut o.block_cache_bytes)),
    key("", "disk_cache_bytes", Size(|o| &mut o.disk_cache_bytes)),
    key("", "cache_flushed_blocks", Bool(|o| &mut o.cache_flushed_blocks)),
    key("", "preload_indexes", Bool(|o| &mut o.preload_indexes)),
    key("", "scan_readahead", Size(|o| &mut o.scan_readahead)),
    key("", "max_key_size", SizeUsize(|o| &mut o.max_key_size)),
    key("", "max_value_size", SizeUsize(|o| &mut o.max_value_size)),
    key("", "flush_on_close", Bool(|o| &mut o.flush_on_close)),
    key("", "close_timeout", Time(|o| &mut o.close_timeout)),
    key("", "retry_delay", Time(|o| &mut o.retry_delay)),
    key("", "max_retry_delay", Time(|o| &mut o.max_retry_delay)),
    key("", "max_concurrent_compactions", Count(|o| &mut o.max_concurrent_compactions)),
    key("", "l0_stop_writes", Count(|o| &mut o.l0_stop_writes)),
    key("", "gc_grace", Time(|o| &mut o.gc_grace)),
    key("", "gc_interval", Time(|o| &mut o.gc_interval)),
    key("", "checkpoint", OptStr(|o| &mut o.checkpoint)),

    key("compaction", "policy", CompactionPolicy(|o| &mut o.compaction.policy)),
    key("compaction", "l0_trigger", Count(|o| &mut o.compaction.l0_trigger)),
    key("compaction", "size_ratio", CountU64(|o| &mut o.compaction.size_ratio)),
    key("compaction", "max_runs", Count(|o| &mut o.compaction.max_runs)),
    key("compaction", "target_chunk_size", Size(|o| &mut o.compaction.target_chunk_size)),
    key("compaction", "level_base_bytes", Size(|o| &mut o.compaction.level_base_bytes)),
    key("compaction", "auto_compaction", Bool(|o| &mut o.compaction.auto_compaction)),

    key("s3", "endpoint", OptStr(|o| &mut o.store.s3_endpoint)),
    key("s3", "region", OptStr(|o| &mut o.store.s3_region)),
    key("s3", "access_key_id", OptStr(|o| &mut o.store.s3_access_key_id)),
    key("s3", "secret_access_key", Secret(|o| &mut o.store.s3_secret_access_key)),
    key("s3", "session_token", Secret(|o| &mut o.store.s3_session_token)),
    key("s3", "virtual_host_style", AutoBool(|o| &mut o.store.s3_virtual_host_style)),
    key("s3", "default_credential_chain", Bool(|o| &mut o.store.s3_default_credential_chain)),

    key("store", "allow_unconditional_writes", Bool(|o| &mut o.store.allow_unconditional_writes)),
    key("store", "request_timeout", Time(|o| &mut o.store.request_timeout)),
    key("store", "io_timeout", Time(|o| &mut o.store.io_timeout)),
    key("store", "max_retries", Count(|o| &mut o.store.max_retries)),
    key("store", "retry_min_delay", Time(|o| &mut o.store.retry_min_delay)),
    key("store", "retry_max_delay", Time(|o| &mut o.store.retry_max_delay)),
    key("store", "multipart_threshold", SizeUsize(|o| &mut o.store.multipart_threshold)),
    key("store", "multipart_part_size", SizeUsize(|o| &mut o.store.multipart_part_size)),
    key("store", "multipart_concurrency", Count(|o| &mut o.store.multipart_concurrency)),

    key("azblob", "connection_string", Secret(|o| &mut o.store.azblob_connection_string)),
    key("azblob", "endpoint", OptStr(|o| &mut o.store.azblob_endpoint)),
    key("azblob", "account_name", OptStr(|o| &mut o.store.azblob_account_name)),
    key("azblob", "account_key", Secret(|o| &mut o.store.azblob_account_key)),
    key("azblob", "sas_token", Secret(|o| &mut o.store.azblob_sas_token)),
    key("azblob", "default_credential_chain", Bool(|o| &mut o.store.azblob_default_credential_chain)),

    key("request_prices", "get_per_1000", Dollars(|o| &mut o.request_prices.get_per_1000)),
    key("request_prices", "put_per_1000", Dollars(|o| &mut o.request_prices.put_per_1000)),
    key("request_prices", "list_per_1000", Dollars(|o| &mut o.request_prices.list_per_1000)),
    key("request_prices", "delete_per_1000", Dollars(|o| &mut o.request_prices.delete_per_1000)),
    key("request_prices", "head_per_1000", Dollars(|o| &mut o.request_prices.head_per_1000)),
];

/// A value as written: a TOML string, integer or boolean, or the text of an
/// environment variable (always a string).
#[derive(Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Key {
    /// `name` at the top level, `table.name` in a table (the dotted form
    /// TOML also accepts).
    pub fn path(&self) -> String {
        if self.table.is_empty() {
            self.name.to_string()
        } else {
            format!("{}.{}", self.table, self.name)
        }
    }

    /// The environment variable that overrides it: `FIRN_` + `TABLE_` (if
    /// in a table) + `NAME`, upper-cased.
    pub fn env_name(&self) -> String {
        let mut name = String::from("FIRN_");
        if !self.table.is_empty() {
            name.push_str(self.table);
            name.push('_');
        }
        name.push_str(self.name);
        name.to_ascii_uppercase()
    }

    /// Whether its value is a credential, never shown.
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, Secret(_))
    }

    /// The accepted form, for error messages.
    pub fn expected(&self) -> &'static str {
        match self.kind {
            Str(_) | Path(_) => "a string",
            OptStr(_) | Secret(_) => "a string (\"\" unsets it)",
            Bool(_) => "true or false",
            AutoBool(_) => "true, false or \"auto\"",
            Time(_) => "a duration such as \"250ms\", \"10s\", \"10m\", \"2h\" or \"7d\"",
            OptTime(_) => "a duration such as \"10m\", \"2h\" or \"7d\", or \"none\"",
            Size(_) | SizeUsize(_) => {
                "a size: a number of bytes or a string such as \"512KiB\", \"64MiB\" or \"1GiB\""
            }
            Count(_) | CountU64(_) | CountU32(_) => "a non-negative integer",
            Int(_) => "an integer",
            DurabilityMode(_) => "\"buffered\", \"sync\", \"remote\" or \"deferred\"",
            CompactionPolicy(_) => "\"tiered\" or \"leveled\"",
            Dollars(_) => "a non-negative number of US dollars, such as 0.0004",
        }
    }

    /// Sets the field to `lit`, or says what is wrong with it.
    pub fn set(&self, opts: &mut Options, lit: &Lit) -> Result<(), String> {
        match self.kind {
            Str(f) => *f(opts) = string(lit)?,
            Path(f) => *f(opts) = PathBuf::from(string(lit)?),
            OptStr(f) | Secret(f) => *f(opts) = Some(string(lit)?).filter(|s| !s.is_empty()),
            Bool(f) => *f(opts) = boolean(lit)?,
            AutoBool(f) => {
                *f(opts) = match lit {
                    Lit::Str(s) if s.trim().eq_ignore_ascii_case("auto") => None,
                    _ => Some(boolean(lit)?),
                }
            }
            Time(f) => *f(opts) = duration(lit)?,
            OptTime(f) => {
                *f(opts) = match lit {
                    Lit::Str(s) if s.trim().eq_ignore_ascii_case("none") => None,
                    _ => Some(duration(lit)?),
                }
            }
            Size(f) => *f(opts) = size(lit)?,
            SizeUsize(f) => *f(opts) = usize::try_from(size(lit)?).map_err(|_| "too large")?,
            Count(f) => *f(opts) = usize::try_from(count(lit)?).map_err(|_| "too large")?,
            CountU64(f) => *f(opts) = count(lit)?,
            CountU32(f) => *f(opts) = u32::try_from(count(lit)?).map_err(|_| "too large")?,
            Int(f) => *f(opts) = i32::try_from(integer(lit)?).map_err(|_| "out of range")?,
            DurabilityMode(f) => {
                *f(opts) = string(lit)?
                    .trim()
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|_| "unknown durability")?
            }
            CompactionPolicy(f) => {
                *f(opts) = firn_compaction::Policy::from_name(string(lit)?.trim())
                    .ok_or("unknown compaction policy")?
            }
            Dollars(f) => *f(opts) = dollars(lit)?,
        }
        Ok(())
    }
}

fn string(lit: &Lit) -> Result<String, String> {
    match lit {
        Lit::Str(s) => Ok(s.clone()),
        Lit::Int(_) => Err("is an integer, not a string".into()),
        Lit::Float(_) => Err("is a float, not a string".into()),
        Lit::Bool(_) => Err("is a boolean, not a string".into()),
    }
}

fn boolean(lit: &Lit) -> Result<bool, String> {
    match lit {
        Lit::Bool(b) => Ok(*b),
        Lit::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("is not a boolean".into()),
        },
        Lit::Int(_) => Err("is an integer, not a boolean".into()),
        Lit::Float(_) => Err("is a float, not a boolean".into()),
    }
}

fn integer(lit: &Lit) -> Result<i64, String> {
    match lit {
        Lit::Int(n) => Ok(*n),
        Lit::Str(s) => s.trim().parse().map_err(|_| "is not an integer".into()),
        Lit::Bool(_) => Err("is a boolean, not an integer".into()),
        Lit::Float(_) => Err("is a float, not an integer".into()),
    }
}

fn dollars(lit: &Lit) -> Result<f64, String> {
    let amount = match lit {
        Lit::Float(x) => *x,
        Lit::Int(n) => *n as f64,
        Lit::Str(s) => s.trim().parse().map_err(|_| "is not a number")?,
        Lit::Bool(_) => return Err("is a boolean, not a number".into()),
    };
    if !amount.is_finite() || amount < 0.0 {
        return Err("is not a non-negative number".into());
    }
    Ok(amount)
}

fn count(lit: &Lit) -> Result<u64, String> {
    u64::try_from(integer(lit)?).map_err(|_| "is negative".into())
}

fn size(lit: &Lit) -> Result<u64, String> {
    match lit {
        Lit::Int(n) => u64::try_from(*n).map_err(|_| "is negative".into()),
        Lit::Str(s) => parse_size(s).map_err(|e| format!("is not a size ({e})")),
        Lit::Bool(_) => Err("is a boolean, not a size".into()),
        Lit::Float(_) => Err("is a float: write a size as bytes or with a unit, e.g. \"1.5MiB\" is not accepted, \"1536KiB\" is".into()),
    }
}

fn duration(lit: &Lit) -> Result<Duration, String> {
    match lit {
        Lit::Int(0) => Ok(Duration::ZERO),
        Lit::Int(n) => Err(format!(
            "is a bare number: a duration needs a unit, e.g. \"{n}s\" or \"{n}ms\""
        )),
        Lit::Str(s) => parse_duration(s).map_err(|e| format!("is not a duration ({e})")),
        Lit::Bool(_) => Err("is a boolean, not a duration".into()),
        Lit::Float(_) => Err("is a bare number: a duration needs a unit, e.g. \"1.5s\"".into()),
    }
}

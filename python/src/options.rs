//! Keyword options of `firn.open` mapped onto [`firn::Options`].
//!
//! Names are the fields of `firn::Options` (and of its `store` and
//! `compaction` settings, flattened); durations are seconds (int or float),
//! sizes bytes. An unknown name or a value of the wrong type raises
//! `InvalidArgumentError` naming it; ranges are checked by the engine at open.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::invalid;

/// Every option `firn.open` accepts, for the error that lists them.
pub(crate) const NAMES: &[&str] = &[
    "allow_unconditional_writes",
    "auto_compaction",
    "azblob_account_key",
    "azblob_account_name",
    "azblob_connection_string",
    "azblob_default_credential_chain",
    "azblob_endpoint",
    "azblob_sas_token",
    "block_cache_bytes",
    "block_size",
    "bloom_bits_per_key",
    "cache_flushed_blocks",
    "change_buffer_bytes",
    "checkpoint",
    "close_timeout",
    "compaction_policy",
    "compression_level",
    "default_ttl",
    "disk_cache_bytes",
    "durability",
    "flush_on_close",
    "follow",
    "follow_interval",
    "gc_grace",
    "gc_interval",
    "io_timeout",
    "l0_stop_writes",
    "l0_trigger",
    "level_base_bytes",
    "max_concurrent_compactions",
    "max_frozen_memtables",
    "max_key_size",
    "max_retries",
    "max_retry_delay",
    "max_runs",
    "max_unflushed_wal_objects",
    "max_value_size",
    "memtable_size",
    "multipart_concurrency",
    "multipart_part_size",
    "multipart_threshold",
    "preload_indexes",
    "read_history",
    "read_only",
    "reader_local_state",
    "refresh_interval",
    "request_price_delete_per_1000",
    "request_price_get_per_1000",
    "request_price_head_per_1000",
    "request_price_list_per_1000",
    "request_price_put_per_1000",
    "request_timeout",
    "retry_delay",
    "retry_max_delay",
    "retry_min_delay",
    "s3_access_key_id",
    "s3_default_credential_chain",
    "s3_endpoint",
    "s3_region",
    "s3_secret_access_key",
    "s3_session_token",
    "s3_virtual_host_style",
    "scan_readahead",
    "size_ratio",
    "target_chunk_size",
    "wal_retention",
    "wal_ship_bytes",
    "wal_ship_interval",
    "wal_shipping",
    "wal_sync_interval",
];

/// Applies the keyword options `kwargs` to `opts`.
pub(crate) fn apply(opts: &mut firn::Options, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let Some(kwargs) = kwargs else {
        return Ok(());
    };
    for (name, value) in kwargs.iter() {
        let name: String = name.extract()?;
        apply_one(opts, &name, &value)?;
    }
    Ok(())
}

fn apply_one(o: &mut firn::Options, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    let s = &mut o.store;
    let c = &mut o.compaction;
    match name {
        "read_only" => o.read_only = boolean(name, v)?,
        "reader_local_state" => o.reader_local_state = boolean(name, v)?,
        "follow" => o.follow = boolean(name, v)?,
        "follow_interval" => o.follow_interval = seconds(name, v)?,
        "refresh_interval" => o.refresh_interval = seconds(name, v)?,
        "durability" => o.durability = durability(name, v)?,
        "wal_sync_interval" => o.wal_sync_interval = seconds(name, v)?,
        "wal_shipping" => o.wal_shipping = boolean(name, v)?,
        "wal_ship_interval" => o.wal_ship_interval = seconds(name, v)?,
        "wal_ship_bytes" => o.wal_ship_bytes = int(name, v)?,
        "wal_retention" => o.wal_retention = seconds(name, v)?,
        "max_unflushed_wal_objects" => o.max_unflushed_wal_objects = int(name, v)?,
        "memtable_size" => o.memtable_size = int(name, v)?,
        "default_ttl" => {
            o.default_ttl = if v.is_none() {
                None
            } else {
                Some(seconds(name, v)?)
            }
        }
        "change_buffer_bytes" => o.change_buffer_bytes = int(name, v)?,
        "read_history" => o.read_history = seconds(name, v)?,
        "max_frozen_memtables" => o.max_frozen_memtables = int(name, v)?,
        "block_size" => o.block_size = int(name, v)?,
        "compression_level" => o.compression_level = int(name, v)?,
        "bloom_bits_per_key" => o.bloom_bits_per_key = int(name, v)?,
        "block_cache_bytes" => o.block_cache_bytes = int(name, v)?,
        "disk_cache_bytes" => o.disk_cache_bytes = int(name, v)?,
        "cache_flushed_blocks" => o.cache_flushed_blocks = boolean(name, v)?,
        "preload_indexes" => o.preload_indexes = boolean(name, v)?,
        "scan_readahead" => o.scan_readahead = int(name, v)?,
        "max_key_size" => o.max_key_size = int(name, v)?,
        "max_value_size" => o.max_value_size = int(name, v)?,
        "flush_on_close" => o.flush_on_close = boolean(name, v)?,
        "close_timeout" => o.close_timeout = seconds(name, v)?,
        "retry_delay" => o.retry_delay = seconds(name, v)?,
        "max_retry_delay" => o.max_retry_delay = seconds(name, v)?,
        "max_concurrent_compactions" => o.max_concurrent_compactions = int(name, v)?,
        "l0_stop_writes" => o.l0_stop_writes = int(name, v)?,
        "gc_grace" => o.gc_grace = seconds(name, v)?,
        "gc_interval" => o.gc_interval = seconds(name, v)?,
        "checkpoint" => o.checkpoint = optional_string(name, v)?,
        // Compaction settings.
        "compaction_policy" => {
            c.policy = match string(name, v)?.as_str() {
                "tiered" => firn::CompactionPolicy::Tiered,
                "leveled" => firn::CompactionPolicy::Leveled,
                other => {
                    return Err(invalid(format!(
                        "option compaction_policy: unknown policy {other:?}: expected \"tiered\" \
                         or \"leveled\""
                    )))
                }
            }
        }
        "auto_compaction" => c.auto_compaction = boolean(name, v)?,
        "l0_trigger" => c.l0_trigger = int(name, v)?,
        "size_ratio" => c.size_ratio = int(name, v)?,
        "max_runs" => c.max_runs = int(name, v)?,
        "target_chunk_size" => c.target_chunk_size = int(name, v)?,
        "level_base_bytes" => c.level_base_bytes = int(name, v)?,
        // Object-store settings.
        "s3_endpoint" => s.s3_endpoint = optional_string(name, v)?,
        "s3_region" => s.s3_region = optional_string(name, v)?,
        "s3_access_key_id" => s.s3_access_key_id = optional_string(name, v)?,
        "s3_secret_access_key" => s.s3_secret_access_key = optional_string(name, v)?,
        "s3_session_token" => s.s3_session_token = optional_string(name, v)?,
        "s3_virtual_host_style" => {
            s.s3_virtual_host_style = if v.is_none() {
                None
            } else {
                Some(boolean(name, v)?)
            }
        }
        "s3_default_credential_chain" => s.s3_default_credential_chain = boolean(name, v)?,
        "azblob_connection_string" => s.azblob_connection_string = optional_string(name, v)?,
        "azblob_endpoint" => s.azblob_endpoint = optional_string(name, v)?,
        "azblob_account_name" => s.azblob_account_name = optional_string(name, v)?,
        "azblob_account_key" => s.azblob_account_key = optional_string(name, v)?,
        "azblob_sas_token" => s.azblob_sas_token = optional_string(name, v)?,
        "azblob_default_credential_chain" => s.azblob_default_credential_chain = boolean(name, v)?,
        "allow_unconditional_writes" => s.allow_unconditional_writes = boolean(name, v)?,
        "request_timeout" => s.request_timeout = seconds(name, v)?,
        "io_timeout" => s.io_timeout = seconds(name, v)?,
        "max_retries" => s.max_retries = int(name, v)?,
        "retry_min_delay" => s.retry_min_delay = seconds(name, v)?,
        "retry_max_delay" => s.retry_max_delay = seconds(name, v)?,
        "multipart_threshold" => s.multipart_threshold = int(name, v)?,
        "multipart_part_size" => s.multipart_part_size = int(name, v)?,
        "multipart_concurrency" => s.multipart_concurrency = int(name, v)?,
        // The request price table (US dollars per 1,000 requests).
        "request_price_get_per_1000" => o.request_prices.get_per_1000 = dollars(name, v)?,
        "request_price_put_per_1000" => o.request_prices.put_per_1000 = dollars(name, v)?,
        "request_price_list_per_1000" => o.request_prices.list_per_1000 = dollars(name, v)?,
        "request_price_delete_per_1000" => o.request_prices.delete_per_1000 = dollars(name, v)?,
        "request_price_head_per_1000" => o.request_prices.head_per_1000 = dollars(name, v)?,
        _ => {
            return Err(invalid(format!(
                "unknown option {name:?}; firn.open accepts: {}",
                NAMES.join(", ")
            )))
        }
    }
    Ok(())
}

/// `repr(v)` for messages.
fn show(v: &Bound<'_, PyAny>) -> String {
    v.repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<value>".into())
}

fn dollars(name: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    match v.extract::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 && !v.is_instance_of::<pyo3::types::PyBool>() => Ok(x),
        _ => Err(invalid(format!(
            "option {name}: expected a non-negative number of US dollars, got {}",
            show(v)
        ))),
    }
}

fn boolean(name: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.extract::<bool>().map_err(|_| {
        invalid(format!(
            "option {name}: expected True or False, got {}",
            show(v)
        ))
    })
}

/// An integer option; `bool` is refused (it is an int to Python, but never
/// what a caller meant for a size).
fn int<'a, 'py, T>(name: &str, v: &'a Bound<'py, PyAny>) -> PyResult<T>
where
    T: FromPyObject<'a, 'py>,
{
    let err = || {
        invalid(format!(
            "option {name}: expected a non-negative integer in range, got {}",
            show(v)
        ))
    };
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(err());
    }
    v.extract::<T>().map_err(|_| err())
}

/// A duration in seconds (int or float, not negative).
pub(crate) fn seconds(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let err = || {
        invalid(format!(
            "option {name}: expected seconds (int or float, at least 0), got {}",
            show(v)
        ))
    };
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(err());
    }
    let secs: f64 = v.extract().map_err(|_| err())?;
    Duration::try_from_secs_f64(secs).map_err(|_| err())
}

fn string(name: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.extract::<String>()
        .map_err(|_| invalid(format!("option {name}: expected a string, got {}", show(v))))
}

fn optional_string(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if v.is_none() {
        Ok(None)
    } else {
        string(name, v).map(Some)
    }
}

/// A durability name: "buffered", "sync", "remote" or "deferred".
pub(crate) fn durability(name: &str, v: &Bound<'_, PyAny>) -> PyResult<firn::Durability> {
    let s = string(name, v)?;
    s.parse::<firn::Durability>().map_err(|e| match e {
        firn::Error::InvalidArgument(msg) => invalid(format!("{name}: {msg}")),
        other => invalid(format!("{name}: {other}")),
    })
}

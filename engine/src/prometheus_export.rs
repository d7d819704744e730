//! [`Metrics`] in the Prometheus text format, and as a collector a service registers.
//!
//! One table ([`SERIES`]) names every exported series, its type, its help text and the field
//! of [`Metrics`] it reads; a test checks that every numeric field of [`Metrics`] is in it, so
//! a new counter cannot be left out of the export by accident.
//!
//! The engine keeps its counters as relaxed atomics and reads them all at once into a
//! [`Metrics`] snapshot. A [`PrometheusCollector`] does exactly that when it is scraped (the
//! `prometheus` crate's pull model), so exporting costs nothing on the read and write paths.
//! The counters start at zero when the database is opened, as Prometheus expects of a process.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, GaugeVec, Opts};

use crate::db::DbCore;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Counter or gauge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Gauge,
}

/// One exported series: a metric name, with at most one label, read from one field.
struct Series {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    /// `(label name, label value)` for a family split by a label.
    label: Option<(&'static str, &'static str)>,
    /// The [`Metrics`] field it reads, as serialized (`requests.get`, `cache.disk_hits`).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "read by the test that every field is exported")
    )]
    field: &'static str,
    value: fn(&Metrics) -> f64,
}

macro_rules! series {
    ($name:literal, $kind:ident, $help:literal, $label:expr, $($field:ident).+) => {
        Series {
            name: $name,
            kind: Kind::$kind,
            help: $help,
            label: $label,
            field: stringify!($($field).+),
            value: |m: &Metrics| m.$($field).+ as f64,
        }
    };
}

const MICROS: f64 = 1e-6;

/// Every exported series. Counter names end in `_total`; durations are in seconds and
/// sizes in bytes, as Prometheus' naming conventions ask.
#[rustfmt::skip]
const SERIES: &[Series] = &[
    // Object-store requests, bytes and their estimated price.
    series!("firn_object_store_requests_total", Counter, "Object-store requests, by kind.", Some(("kind", "get")), requests.get),
    series!("firn_object_store_requests_total", Counter, "Object-store requests, by kind.", Some(("kind", "put")), requests.put),
    series!("firn_object_store_requests_total", Counter, "Object-store requests, by kind.", Some(("kind", "list")), requests.list),
    series!("firn_object_store_requests_total", Counter, "Object-store requests, by kind.", Some(("kind", "delete")), requests.delete),
    series!("firn_object_store_requests_total", Counter, "Object-store requests, by kind.", Some(("kind", "head")), requests.head),
    series!("firn_object_store_bytes_total", Counter, "Payload bytes moved by object-store requests.", Some(("direction", "read")), requests.bytes_read),
    series!("firn_object_store_bytes_total", Counter, "Payload bytes moved by object-store requests.", Some(("direction", "written")), requests.bytes_written),
    series!("firn_object_store_request_cost_usd_total", Counter, "Estimated price of the object-store requests in US dollars (Options::request_prices; S3 Standard list prices by default).", None, request_cost_usd),
    // Writes and the WAL.
    series!("firn_write_batches_total", Counter, "Write batches committed.", None, batches),
    series!("firn_wal_bytes_total", Counter, "Bytes appended to the local WAL.", None, wal_bytes),
    series!("firn_wal_syncs_total", Counter, "WAL fdatasync calls that acknowledged writes (commit groups with a Sync write).", None, wal_syncs),
    series!("firn_wal_synced_batches_total", Counter, "Write batches acknowledged by a WAL sync.", None, wal_synced_batches),
    Series { name: "firn_wal_sync_seconds_total", kind: Kind::Counter, help: "Time spent in WAL syncs that acknowledged writes.", label: None, field: "wal_sync_micros", value: |m| m.wal_sync_micros as f64 * MICROS },
    series!("firn_wal_background_syncs_total", Counter, "Periodic and close-time WAL syncs of Buffered writes.", None, wal_background_syncs),
    series!("firn_write_stalls_total", Counter, "Times a writer waited for flushes or compaction to catch up (backpressure).", None, write_stalls),
    Series { name: "firn_write_stall_seconds_total", kind: Kind::Counter, help: "Time writers spent stalled.", label: None, field: "write_stall_micros", value: |m| m.write_stall_micros as f64 * MICROS },
    series!("firn_gets_total", Counter, "Point reads served.", None, gets),
    // Flushes, ingests, uploads.
    series!("firn_flushes_total", Counter, "Memtables flushed to chunks.", None, flushes),
    series!("firn_flush_bytes_total", Counter, "Bytes of chunks written by flushes.", None, flush_bytes),
    series!("firn_flush_entries_total", Counter, "Entries written by flushes.", None, flush_entries),
    series!("firn_flush_entries_coalesced_total", Counter, "Overwritten versions flushes left out.", None, flush_entries_coalesced),
    series!("firn_ingests_total", Counter, "Bulk ingests published.", None, ingests),
    series!("firn_ingest_entries_total", Counter, "Entries published by bulk ingests.", None, ingest_entries),
    series!("firn_ingest_bytes_total", Counter, "Bytes of chunks written by bulk ingests.", None, ingest_bytes),
    series!("firn_upload_retries_total", Counter, "Failed uploads or publishes that were retried.", None, upload_retries),
    // Compaction and garbage collection.
    series!("firn_compactions_total", Counter, "Compactions completed.", None, compactions),
    series!("firn_compaction_failures_total", Counter, "Compactions that failed (retried later).", None, compaction_failures),
    series!("firn_compaction_expired_total", Counter, "Expired values compactions turned into tombstones or dropped.", None, compaction_expired),
    series!("firn_compaction_bytes_read_total", Counter, "Bytes of input chunks merged by compactions.", None, compaction_bytes_read),
    series!("firn_compaction_bytes_written_total", Counter, "Bytes of chunks written by compactions.", None, compaction_bytes_written),
    series!("firn_compaction_pending_bytes", Gauge, "Compaction debt: bytes of the chunks the planner would merge next (0 when settled).", None, compaction_pending_bytes),
    series!("firn_gc_passes_total", Counter, "Garbage-collection passes run.", None, gc_passes),
    series!("firn_gc_chunks_deleted_total", Counter, "Chunk objects deleted by garbage collection.", None, gc_chunks_deleted),
    series!("firn_gc_bytes_reclaimed_total", Counter, "Bytes reclaimed by garbage collection.", None, gc_bytes_reclaimed),
    series!("firn_gc_manifests_deleted_total", Counter, "Superseded manifest versions deleted by garbage collection.", None, gc_manifests_deleted),
    // WAL shipping.
    series!("firn_wal_objects_shipped_total", Counter, "WAL objects shipped to the bucket.", None, wal_objects_shipped),
    series!("firn_wal_shipped_bytes_total", Counter, "Bytes of shipped WAL objects (compressed, as stored).", None, wal_bytes_shipped),
    series!("firn_wal_objects_replayed_total", Counter, "Shipped WAL objects read back (takeover, reader).", None, wal_objects_replayed),
    // The read path, tier by tier.
    series!("firn_cache_hits_total", Counter, "Blocks found in a cache tier.", Some(("tier", "memory")), cache.memory_hits),
    series!("firn_cache_hits_total", Counter, "Blocks found in a cache tier.", Some(("tier", "disk")), cache.disk_hits),
    series!("firn_cache_misses_total", Counter, "Blocks a cache tier did not hold.", Some(("tier", "memory")), cache.memory_misses),
    series!("firn_cache_misses_total", Counter, "Blocks a cache tier did not hold.", Some(("tier", "disk")), cache.disk_misses),
    series!("firn_cache_bytes", Gauge, "Bytes a cache tier holds.", Some(("tier", "memory")), cache.memory_bytes),
    series!("firn_cache_bytes", Gauge, "Bytes a cache tier holds.", Some(("tier", "disk")), cache.disk_bytes),
    series!("firn_block_gets_total", Counter, "Ranged GETs of data blocks.", None, cache.block_gets),
    series!("firn_block_get_bytes_total", Counter, "Bytes returned by data-block GETs.", None, cache.block_get_bytes),
    series!("firn_chunk_index_loads_total", Counter, "Chunk indexes loaded, by source.", Some(("source", "local")), cache.index_local),
    series!("firn_chunk_index_loads_total", Counter, "Chunk indexes loaded, by source.", Some(("source", "object_store")), cache.index_gets),
    series!("firn_chunk_index_get_bytes_total", Counter, "Bytes returned by chunk-index GETs.", None, cache.index_get_bytes),
    series!("firn_cache_discarded_total", Counter, "Local index files and disk-cache entries found damaged or stale and fetched again.", None, cache.discarded),
    // The shape of the database now.
    series!("firn_memtable_bytes", Gauge, "Bytes held by memtables (active and frozen).", None, memtable_bytes),
    series!("firn_frozen_memtables", Gauge, "Frozen memtables awaiting flush.", None, frozen_memtables),
    series!("firn_l0_chunks", Gauge, "Chunks in level 0.", None, l0_chunks),
    series!("firn_run_chunks", Gauge, "Chunks in all sorted runs.", None, run_chunks),
    series!("firn_sorted_runs", Gauge, "Sorted runs a read may consult (each level-0 chunk counts as one).", None, sorted_runs),
    series!("firn_manifest_version", Gauge, "The manifest version this handle reads from.", None, manifest_version),
    series!("firn_chunks", Gauge, "Chunks the manifest references.", None, chunks),
    series!("firn_chunk_bytes", Gauge, "Bytes of the chunks the manifest references.", None, chunk_bytes),
    series!("firn_visible_seq", Gauge, "Highest sequence number visible to reads.", None, visible_seq),
];

/// [`Metrics`] fields that are not exported because another series carries the same
/// figure (the decoded-block cache is the memory tier).
#[cfg(test)]
const NOT_EXPORTED: &[&str] = &[
    "block_cache_hits",
    "block_cache_misses",
    "block_cache_bytes",
];

/// One family: a counter vector or a gauge vector.
enum Family {
    Counter(CounterVec),
    Gauge(GaugeVec),
}

/// The families of [`SERIES`], in table order, built with the given constant labels.
struct Families(Vec<(&'static str, Family)>);

impl Families {
    fn new(const_labels: &HashMap<String, String>) -> Result<Families> {
        let mut families: Vec<(&'static str, Family)> = Vec::new();
        for series in SERIES {
            if families.iter().any(|(name, _)| *name == series.name) {
                continue;
            }
            let opts = Opts::new(series.name, series.help).const_labels(const_labels.clone());
            let labels: Vec<&str> = series.label.iter().map(|(name, _)| *name).collect();
            let bad = |e: prometheus::Error| {
                Error::InvalidArgument(format!("cannot export {}: {e}", series.name))
            };
            let family = match series.kind {
                Kind::Counter => Family::Counter(CounterVec::new(opts, &labels).map_err(bad)?),
                Kind::Gauge => Family::Gauge(GaugeVec::new(opts, &labels).map_err(bad)?),
            };
            families.push((series.name, family));
        }
        Ok(Families(families))
    }

    /// Sets every series to its value in `m`.
    fn set(&self, m: &Metrics) {
        for series in SERIES {
            let Some((_, family)) = self.0.iter().find(|(name, _)| *name == series.name) else {
                continue;
            };
            let labels: Vec<&str> = series.label.iter().map(|(_, value)| *value).collect();
            let value = (series.value)(m);
            match family {
                Family::Counter(vec) => {
                    let counter = vec.with_label_values(&labels);
                    counter.reset();
                    counter.inc_by(value.max(0.0));
                }
                Family::Gauge(vec) => vec.with_label_values(&labels).set(value),
            }
        }
    }

    fn descs(&self) -> Vec<&Desc> {
        self.0
            .iter()
            .flat_map(|(_, family)| match family {
                Family::Counter(vec) => vec.desc(),
                Family::Gauge(vec) => vec.desc(),
            })
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0
            .iter()
            .flat_map(|(_, family)| match family {
                Family::Counter(vec) => vec.collect(),
                Family::Gauge(vec) => vec.collect(),
            })
            .collect()
    }
}

impl Metrics {
    /// These metrics in the Prometheus text exposition format (version 0.0.4), one
    /// `# HELP`/`# TYPE` pair per family: what `firn stats --prometheus` prints.
    pub fn to_prometheus_text(&self) -> String {
        // Building the families cannot fail without constant labels: every name in
        // SERIES is a valid metric name (checked by a test).
        let Ok(families) = Families::new(&HashMap::new()) else {
            return String::new();
        };
        families.set(self);
        let mut text = String::new();
        match prometheus::TextEncoder::new().encode_utf8(&families.collect(), &mut text) {
            Ok(()) => text,
            Err(_) => String::new(),
        }
    }
}

/// A [`prometheus::core::Collector`] of one database's [`Metrics`]: register it with the
/// registry your service exposes, and each scrape reads the database's counters at that
/// moment.
///
/// ```no_run
/// # async fn example(db: firn::Db) -> Result<(), Box<dyn std::error::Error>> {
/// let registry = prometheus::Registry::new();
/// registry.register(Box::new(db.prometheus_collector(&[])?))?;
/// // Two databases in one registry: tell them apart with a constant label, e.g.
/// // registry.register(Box::new(other.prometheus_collector(&[("db", "orders")])?))?;
/// let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather())?;
/// # Ok(()) }
/// ```
///
/// The collector holds the database weakly: it does not keep a closed or dropped database
/// alive, and once the database is gone it reports nothing.
pub struct PrometheusCollector {
    db: Weak<DbCore>,
    /// The families, updated under the lock at each scrape so concurrent scrapes do not
    /// interleave their values.
    families: Mutex<Families>,
    descs: Vec<Desc>,
}

impl PrometheusCollector {
    pub(crate) fn new(db: Weak<DbCore>, const_labels: &[(&str, &str)]) -> Result<Self> {
        let labels = const_labels
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let families = Families::new(&labels)?;
        let descs = families.descs().into_iter().cloned().collect();
        Ok(PrometheusCollector {
            db,
            families: Mutex::new(families),
            descs,
        })
    }
}

impl std::fmt::Debug for PrometheusCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusCollector")
            .field("families", &self.descs.len())
            .finish()
    }
}

impl Collector for PrometheusCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(db) = self.db.upgrade() else {
            return Vec::new();
        };
        let metrics = db.metrics();
        let families = match self.families.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        families.set(&metrics);
        families.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every numeric leaf of `Metrics` as serialized (`requests.get`, `cache.disk_hits`).
    fn numeric_fields(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(fields) = value {
            for (name, field) in fields {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                match field {
                    serde_json::Value::Number(_) => out.push(path),
                    other => numeric_fields(other, &path, out),
                }
            }
        }
    }

    #[test]
    fn every_metrics_field_is_exported_or_listed_as_a_duplicate() {
        let json = serde_json::to_value(Metrics::default()).unwrap();
        let mut fields = Vec::new();
        numeric_fields(&json, "", &mut fields);
        assert!(fields.len() > 40, "{fields:?}");
        for field in fields {
            let exported = SERIES.iter().any(|s| s.field == field);
            let skipped = NOT_EXPORTED.contains(&field.as_str());
            assert!(
                exported != skipped,
                "Metrics field {field}: exported {exported}, listed as not exported {skipped}"
            );
        }
    }

    #[test]
    fn series_follow_prometheus_naming_and_each_family_has_one_type_and_label() {
        for s in SERIES {
            assert!(s.name.starts_with("firn_"), "{}", s.name);
            assert_eq!(
                s.kind == Kind::Counter,
                s.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                s.name
            );
            for other in SERIES.iter().filter(|o| o.name == s.name) {
                assert_eq!(other.kind, s.kind, "{}", s.name);
                assert_eq!(other.help, s.help, "{}", s.name);
                assert_eq!(other.label.map(|l| l.0), s.label.map(|l| l.0), "{}", s.name);
                if !std::ptr::eq(other, s) {
                    assert_ne!(other.label, s.label, "{}: a series twice", s.name);
                }
            }
        }
    }

    #[test]
    fn the_text_shows_each_value_once_with_its_labels() {
        let mut m = Metrics::default();
        m.requests.get = 2_000_000;
        m.requests.put = 3;
        m.cache.disk_hits = 7;
        m.wal_sync_micros = 1_500_000;
        m.compaction_pending_bytes = 12345;
        m.request_cost_usd = crate::RequestPrices::default().cost(&m.requests);
        let text = m.to_prometheus_text();
        for line in [
            "# TYPE firn_object_store_requests_total counter",
            "firn_object_store_requests_total{kind=\"get\"} 2000000",
            "firn_object_store_requests_total{kind=\"put\"} 3",
            "firn_cache_hits_total{tier=\"disk\"} 7",
            "firn_wal_sync_seconds_total 1.5",
            "# TYPE firn_compaction_pending_bytes gauge",
            "firn_compaction_pending_bytes 12345",
            "firn_object_store_request_cost_usd_total 0.800015",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, SERIES.len(), "{text}");
    }

    #[test]
    fn a_bad_constant_label_is_an_invalid_argument() {
        let err = PrometheusCollector::new(Weak::new(), &[("not a label", "x")]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let ok = PrometheusCollector::new(Weak::new(), &[("db", "orders")]).unwrap();
        assert!(
            ok.collect().is_empty(),
            "a dropped database reports nothing"
        );
        let mut names: Vec<&str> = SERIES.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(ok.desc().len(), names.len(), "one descriptor per family");
    }
}

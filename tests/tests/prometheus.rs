//! Metrics export: `Db::prometheus_collector` registered in a service's
//! `prometheus::Registry`, scraped as the Prometheus text format.
//!
//! * Each scrape reads the database's counters at that moment: request counts
//!   by kind equal `Db::metrics()`, cache hits per tier, WAL syncs, write
//!   batches, the estimated request cost from a custom price table.
//! * Two databases share one registry, told apart by a constant label.
//! * The collector holds the database weakly: once the database is closed
//!   and dropped it reports nothing, and a bad label name is refused.
//!
//! Runs on `memory://`, `file://` and the S3 server.

use std::collections::HashMap;

use firn::prometheus::{Registry, TextEncoder};
use firn::{Db, Durability, Error, RequestPrices};
use firn_tests::{StoreKind, TestDb};

firn_tests::on_every_store!(a_registered_collector_reports_the_live_counters,);

/// `name{labels} value` samples of the text format, keyed by `name{labels}`.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse::<f64>().expect("a number"))
        })
        .collect()
}

fn scrape(registry: &Registry) -> HashMap<String, f64> {
    let text = TextEncoder::new()
        .encode_to_string(&registry.gather())
        .expect("encode");
    samples(&text)
}

async fn a_registered_collector_reports_the_live_counters(kind: StoreKind) {
    let env = TestDb::new(kind, "prometheus");
    let mut opts = env.small_options();
    opts.durability = Durability::Sync;
    opts.request_prices = RequestPrices {
        get_per_1000: 1.0,
        put_per_1000: 10.0,
        list_per_1000: 100.0,
        delete_per_1000: 0.0,
        head_per_1000: 1.0,
    };
    let db = Db::open(opts).await.expect("open");
    let registry = Registry::new();
    registry
        .register(Box::new(
            db.prometheus_collector(&[("db", "a")]).expect("collector"),
        ))
        .expect("register");

    for i in 0..200u32 {
        db.put(format!("k{i:04}"), vec![b'v'; 100])
            .await
            .expect("put");
    }
    db.flush().await.expect("flush");
    for i in 0..200u32 {
        assert!(db.get(format!("k{i:04}")).await.expect("get").is_some());
    }

    let got = scrape(&registry);
    let m = db.metrics();
    let series = |name: &str, labels: &str| {
        let key = if labels.is_empty() {
            format!("{name}{{db=\"a\"}}")
        } else {
            format!("{name}{{db=\"a\",{labels}}}")
        };
        *got.get(&key)
            .unwrap_or_else(|| panic!("no {key} in {got:?}"))
    };
    // Counters that did not move between the scrape and `metrics()`.
    assert_eq!(series("firn_write_batches_total", ""), 200.0);
    assert_eq!(series("firn_wal_syncs_total", ""), m.wal_syncs as f64);
    assert!(m.wal_syncs >= 1, "Sync writes sync the WAL");
    assert_eq!(series("firn_gets_total", ""), 200.0);
    assert!(series("firn_flushes_total", "") >= 1.0);
    assert!(series("firn_chunks", "") >= 1.0);
    assert_eq!(series("firn_l0_chunks", ""), m.l0_chunks as f64);
    assert_eq!(
        series("firn_cache_hits_total", "tier=\"memory\"")
            + series("firn_cache_misses_total", "tier=\"memory\""),
        (m.cache.memory_hits + m.cache.memory_misses) as f64
    );
    let puts = series("firn_object_store_requests_total", "kind=\"put\"");
    let gets = series("firn_object_store_requests_total", "kind=\"get\"");
    let lists = series("firn_object_store_requests_total", "kind=\"list\"");
    let heads = series("firn_object_store_requests_total", "kind=\"head\"");
    assert!(
        puts >= 1.0,
        "the flush PUT its chunk and a manifest version"
    );
    // The scrape happened before `metrics()`; nothing ran in between but the
    // background shipper and collector, which add requests: at most.
    assert!(puts <= m.requests.put as f64 && gets <= m.requests.get as f64);
    let cost = series("firn_object_store_request_cost_usd_total", "");
    let expected = (gets + heads) * 0.001 + puts * 0.01 + lists * 0.1;
    assert!(
        (cost - expected).abs() < 1e-9,
        "cost {cost} from the custom price table, expected {expected}"
    );

    // A second database in the same registry, told apart by its label.
    let env_b = TestDb::new(kind, "prometheus-b");
    let db_b = Db::open(env_b.options()).await.expect("open b");
    registry
        .register(Box::new(
            db_b.prometheus_collector(&[("db", "b")])
                .expect("collector"),
        ))
        .expect("a second database registers beside the first");
    db_b.put("x", "y").await.expect("put b");
    let got = scrape(&registry);
    assert_eq!(got["firn_write_batches_total{db=\"b\"}"], 1.0);
    assert_eq!(got["firn_write_batches_total{db=\"a\"}"], 200.0);

    // The same label twice is refused by the registry, a bad label name by Firn.
    assert!(registry
        .register(Box::new(
            db_b.prometheus_collector(&[("db", "b")])
                .expect("collector")
        ))
        .is_err());
    assert!(matches!(
        db.prometheus_collector(&[("bad label", "x")]),
        Err(Error::InvalidArgument(_))
    ));

    // Closed and dropped: the collector no longer keeps or reports it.
    db_b.close().await.expect("close b");
    let got = scrape(&registry);
    assert!(!got.keys().any(|k| k.contains("db=\"b\"")), "{got:?}");
    assert!(got.contains_key("firn_write_batches_total{db=\"a\"}"));
    db.close().await.expect("close");
}

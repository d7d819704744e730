"""Metrics in the Prometheus text format: `Db.prometheus_text()` and
`firn stats --prometheus`, each parsed with prometheus_client's parser (the
reference implementation of the format), on every store."""

import os
import subprocess

import pytest

import firn
from prometheus_client.parser import text_string_to_metric_families


def families(text):
    """{family name: family}; prometheus_client names a counter family
    without its `_total` suffix."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in found, f"{family.name} twice"
        found[family.name] = family
    return found


def sample(family, **labels):
    matching = [s for s in family.samples if s.labels == labels and s.name.endswith("_total") == (family.type == "counter")]
    assert len(matching) == 1, (family.name, labels, family.samples)
    return matching[0].value


def test_prometheus_text_parses_and_matches_the_metrics_dict(store):
    with store.open() as db:
        for i in range(100):
            db.put(f"k{i:03}".encode(), b"v" * 50)
        db.flush()
        for i in range(100):
            assert db.get(f"k{i:03}".encode()) == b"v" * 50
        text = db.prometheus_text()
        m = db.metrics()
    got = families(text)
    requests = got["firn_object_store_requests"]
    assert requests.type == "counter"
    assert {s.labels["kind"] for s in requests.samples} == {"get", "put", "list", "delete", "head"}
    # The text was taken before the dict: counters can only have grown since.
    assert 1 <= sample(requests, kind="put") <= m["requests"]["put"]
    assert sample(got["firn_write_batches"]) == 100 == m["batches"]
    assert sample(got["firn_gets"]) == 100
    assert got["firn_cache_hits"].type == "counter"
    assert {s.labels["tier"] for s in got["firn_cache_hits"].samples} == {"memory", "disk"}
    assert got["firn_compaction_pending_bytes"].type == "gauge"
    assert got["firn_write_stalls"].type == "counter"
    assert got["firn_wal_syncs"].type == "counter"
    assert sample(got["firn_chunks"]) >= 1
    assert sample(got["firn_object_store_request_cost_usd"]) > 0
    assert m["request_cost_usd"] >= sample(got["firn_object_store_request_cost_usd"])


def test_firn_stats_prometheus_parses_with_prometheus_client(store):
    cli = os.environ.get("FIRN_CLI")
    if not cli:
        pytest.skip("FIRN_CLI is not set: scripts/python-test.sh builds the firn binary and sets it")
    with store.open() as db:
        db.put(b"a", b"1")
        db.put(b"b", b"2")
        db.flush()
    env = dict(os.environ)
    if store.kind == "s3":
        env["AWS_ENDPOINT_URL"] = store.options["s3_endpoint"]
    run = subprocess.run(
        [cli, "--db", store.url, "--local", str(store.local("cli")), "stats", "--prometheus"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    got = families(run.stdout)
    assert sample(got["firn_chunks"]) == 1
    assert sample(got["firn_l0_chunks"]) == 1
    assert sample(got["firn_object_store_requests"], kind="get") >= 1
    assert sample(got["firn_object_store_requests"], kind="put") == 0, "a read-only open writes nothing"
    assert got["firn_visible_seq"].type == "gauge"
    assert sample(got["firn_visible_seq"]) >= 2


def test_a_custom_price_table_prices_the_requests(store):
    prices = dict(request_price_get_per_1000=1.0, request_price_put_per_1000=10.0,
                  request_price_list_per_1000=100.0, request_price_delete_per_1000=0.0,
                  request_price_head_per_1000=1.0)
    with store.open(**prices) as db:
        db.put(b"k", b"v")
        db.flush()
        assert db.get(b"k") == b"v"
        m = db.metrics()
    r = m["requests"]
    expected = (r["get"] + r["head"]) * 0.001 + r["put"] * 0.01 + r["list"] * 0.1
    assert r["put"] >= 1
    assert abs(m["request_cost_usd"] - expected) < 1e-9
    with pytest.raises(firn.InvalidArgumentError, match="request_price_get_per_1000"):
        store.open("other", request_price_get_per_1000=-1)

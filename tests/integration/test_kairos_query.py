"""The KairosDB query API on real Cassandra: fixtures, the oracle, scale, deletes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from falcon import testing

from service.app import create_app
from service.config import Config
from service.records import PUBLIC_PROJECT, PointBatch, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.index import PEEK
from tests.contract.query import QueryContract
from tests.kairos_fixtures import assert_same, load


@pytest.fixture(scope="module")
def client(cassandra_config: Config) -> Iterator[testing.TestClient]:
    backend = CassandraBackend(cassandra_config)
    yield testing.TestClient(create_app(cassandra_config, backend))
    backend.close()


class TestCassandraQuery(QueryContract):
    """The query contract (hypothesis against an oracle) on real Cassandra."""


@pytest.mark.parametrize(
    "test",
    [
        "test_verifyAddedDataPoints",
        "test_aggregators",
        "test_groupBy",
        "test_emptyQuery",
    ],
)
def test_kairosdb_fixtures_over_http(server: str, unique: str, test: str) -> None:
    metric = "integration_test_" + unique
    datapoints = load(test, "datapoints", metric)
    if datapoints is not None:
        assert (
            requests.post(
                server + "/api/v1/datapoints", json=datapoints, timeout=30
            ).status_code
            == 204
        )
    query = load(test, "query", metric)
    result = requests.post(server + "/api/v1/datapoints/query", json=query, timeout=30)
    assert result.status_code == 200, result.text
    assert_same(load(test, "response", metric), result.json())
    assert (
        requests.post(
            server + "/api/v1/datapoints/delete", json=query, timeout=30
        ).status_code
        == 204
    )
    after = requests.post(
        server + "/api/v1/datapoints/query", json=query, timeout=30
    ).json()
    assert all(r["values"] == [] for q in after["queries"] for r in q["results"])


def test_ten_of_a_hundred_thousand_series_reads_only_those(
    cassandra_config: Config,
    cassandra_backend: CassandraBackend,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KairosDB reads every series of a metric to filter by tag (#535, #487)."""
    store = cassandra_backend.points
    # the app on this backend, so its session's reads are the ones counted
    client = testing.TestClient(create_app(cassandra_config, cassandra_backend))
    batches = [
        PointBatch(
            SeriesKey(unique, canonical_tags({"host": f"h{i}", "dc": "all"})),
            [(1000, "long", i)],
        )
        for i in range(100_000)
    ]
    for i in range(0, len(batches), 10_000):
        store.write_points(PUBLIC_PROJECT, batches[i : i + 10_000], default_ttl=0)
    wanted = [f"h{i}" for i in range(0, 100_000, 10_000)]
    query = {
        "start_absolute": 0,
        "end_absolute": 5000,
        "metrics": [
            {
                "name": unique,
                "tags": {"host": wanted, "dc": "all"},
                "aggregators": [
                    {"name": "sum", "sampling": {"value": 1, "unit": "hours"}}
                ],
            }
        ],
    }
    session = cassandra_backend.session
    rows_read = 0
    fetch_all = session.fetch_all

    def counting(*args: Any, **kw: Any) -> list[list[Any]]:
        nonlocal rows_read
        results = fetch_all(*args, **kw)
        rows_read += sum(len(rows) for rows in results)
        return results

    monkeypatch.setattr(session, "fetch_all", counting)
    # (the background compaction shares the session's counters: paused meanwhile)
    assert cassandra_backend.background is not None
    with cassandra_backend.background.paused():
        before = session.counts["read"]
        started = time.monotonic()
        result = client.simulate_post("/api/v1/datapoints/query", json=query)
        elapsed = time.monotonic() - started
        reads = session.counts["read"] - before
    assert result.status_code == 200
    body = result.json["queries"][0]
    assert body["sample_size"] == 10
    assert body["results"][0]["values"] == [[1000, sum(range(0, 100_000, 10_000))]]
    assert sorted(body["results"][0]["tags"]["host"]) == sorted(wanted)
    # 10 tag-index partitions, one capped peek at the dc=all partition, 10 data reads
    assert 0 < reads <= 25, reads
    # index rows: at most the peek at dc=all and the 10 hosts', never all 100,000
    assert rows_read <= PEEK + 10 + 10, rows_read
    assert elapsed < 5, elapsed


def test_delete_by_range_over_http_is_exact(server: str, unique: str) -> None:
    week = 7 * 86_400_000
    body = [
        {
            "name": unique,
            "tags": {"host": h},
            "datapoints": [[i * week, i] for i in range(10)],
        }
        for h in ("a", "b")
    ]
    assert (
        requests.post(server + "/api/v1/datapoints", json=body, timeout=30).status_code
        == 204
    )
    delete = {
        "start_absolute": 2 * week,
        "end_absolute": 6 * week,
        "metrics": [{"name": unique, "tags": {"host": "a"}}],
    }
    assert (
        requests.post(
            server + "/api/v1/datapoints/delete", json=delete, timeout=30
        ).status_code
        == 204
    )
    query = {
        "start_absolute": 0,
        "metrics": [{"name": unique, "group_by": [{"name": "tag", "tags": ["host"]}]}],
    }
    results = requests.post(
        server + "/api/v1/datapoints/query", json=query, timeout=30
    ).json()["queries"][0]["results"]
    a, b = (r["values"] for r in results)
    assert [v for _, v in a] == [0, 1, 7, 8, 9]
    assert [v for _, v in b] == list(range(10))
    tags = requests.post(
        server + "/api/v1/datapoints/query/tags",
        timeout=30,
        json={
            "start_absolute": 2 * week,
            "end_absolute": 6 * week,
            "metrics": [{"name": unique}],
        },
    ).json()
    assert tags == {
        "queries": [
            {"results": [{"name": unique, "tags": {"host": ["b"]}, "values": []}]}
        ]
    }


def test_delete_metric_and_tag_endpoints_over_http(server: str, unique: str) -> None:
    body = [
        {
            "name": f"{unique}.x",
            "tags": {"host": "a", "only_x": "1"},
            "timestamp": 1,
            "value": 1,
        },
        {"name": f"{unique}.y", "tags": {"host": "b"}, "timestamp": 1, "value": 1},
    ]
    assert (
        requests.post(server + "/api/v1/datapoints", json=body, timeout=30).status_code
        == 204
    )

    def get(path, **params):
        return requests.get(server + path, params=params, timeout=30).json()

    assert get("/api/v1/tagnames", metric=f"{unique}.x") == {
        "results": ["host", "only_x"]
    }
    assert get("/api/v1/tagvalues", metric=f"{unique}.x") == {"results": ["1", "a"]}
    assert "only_x" in get("/api/v1/tagnames")["results"]
    assert (
        requests.delete(f"{server}/api/v1/metric/{unique}.x", timeout=30).status_code
        == 204
    )
    assert get("/api/v1/metricnames", prefix=unique) == {"results": [f"{unique}.y"]}
    assert get("/api/v1/tagnames", metric=f"{unique}.x") == {"results": []}
    # written again right after the delete, through another worker maybe: visible
    assert (
        requests.post(
            server + "/api/v1/datapoints", json=body[:1], timeout=30
        ).status_code
        == 204
    )
    time.sleep(1.2)  # past the workers' index-invalidation poll interval
    assert (
        requests.post(
            server + "/api/v1/datapoints", json=body[:1], timeout=30
        ).status_code
        == 204
    )
    assert get("/api/v1/metricnames", prefix=unique) == {
        "results": [f"{unique}.x", f"{unique}.y"]
    }


def test_reads_stay_within_the_concurrency_bound(
    cassandra_config: Config, unique: str
) -> None:
    """Many series, two pages in flight at most: no deadlock, every point read."""
    config = cassandra_config.replace(read_concurrency=2)
    backend = CassandraBackend(config)
    try:
        store = backend.points
        store.write_points(
            PUBLIC_PROJECT,
            [
                PointBatch(
                    SeriesKey(unique, (("host", f"h{i:02d}"),)),
                    [(t, "long", i) for t in range(6000)],
                )
                for i in range(30)
            ],
            default_ttl=0,
        )
        in_flight, peak = [0], [0]
        gate = store.blocks.read_gate()
        real_acquire, real_release = gate.acquire, gate.release

        def acquire(*args: object, **kw: object) -> bool:
            ok = real_acquire(*args, **kw)  # type: ignore[arg-type]
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            return ok

        def release(*args: object, **kw: object) -> None:
            in_flight[0] -= 1
            real_release(*args, **kw)  # type: ignore[arg-type]

        gate.acquire, gate.release = acquire, release  # type: ignore[method-assign]
        client = testing.TestClient(create_app(config, backend))
        body = {
            "start_absolute": 0,
            "metrics": [
                {
                    "name": unique,
                    "aggregators": [
                        {"name": "count", "sampling": {"value": 1, "unit": "days"}}
                    ],
                }
            ],
        }
        # 5,000-row pages: two per series, 60 in all, never more than two in flight
        result = client.simulate_post("/api/v1/datapoints/query", json=body)
        assert result.json["queries"][0]["results"][0]["values"] == [[0, 30 * 6000]]
        assert peak[0] <= 2
    finally:
        backend.close()

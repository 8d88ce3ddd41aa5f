"""The KairosDB write path over HTTP: gunicorn workers on real Cassandra."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import requests

from service.config import Config
from service.records import PUBLIC_PROJECT, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend
from tests.functional.test_kairos_write import seed_body
from tests.integration.conftest import ROOT, free_port

ALL = (-(2**63), 2**63 - 1)


def points(backend: CassandraBackend, metric: str, **tags: str) -> list[Any]:
    key = SeriesKey(metric, canonical_tags(tags))
    return list(backend.points.read_points(PUBLIC_PROJECT, key, *ALL))


def test_seed_example_over_http(
    server: str, cassandra_backend: CassandraBackend
) -> None:
    result = requests.post(server + "/api/v1/datapoints", json=seed_body(), timeout=30)
    assert result.status_code == 204 and result.content == b""
    assert points(
        cassandra_backend, "archive_file_tracked", host="server1", data_center="DC1"
    ) == [
        (1359788300000, "double", 13.2),
        (1359788400000, "long", 123),
        (1359788410000, "double", 23.1),
    ]
    assert points(cassandra_backend, "impedance", host="server1", data_center="DC1")[
        0
    ] == (1359788300000, "complex-number", (1.1, 5.0))


def test_gzip_and_long_precision_over_http(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    body = [
        {
            "name": unique,
            "tags": {"a": "b"},
            "datapoints": [[1, 2**53 + 1], [2, -(2**63)]],
        }
    ]
    result = requests.post(
        server + "/api/v1/datapoints",
        data=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=30,
    )
    assert result.status_code == 204
    assert points(cassandra_backend, unique, a="b") == [
        (1, "long", 2**53 + 1),
        (2, "long", -(2**63)),
    ]


def test_400_stores_nothing_over_http(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    body = [
        {"name": unique, "tags": {"a": "b"}, "datapoints": [[1, 1]]},
        {"name": unique, "tags": {"a": "b"}, "datapoints": [[2, None]]},
    ]
    result = requests.post(server + "/api/v1/datapoints", json=body, timeout=30)
    assert result.status_code == 400
    assert result.json() == {
        "errors": [f"metric[1](name={unique}).datapoints[0].value may not be empty."]
    }
    assert points(cassandra_backend, unique, a="b") == []


def test_many_series_and_metric_names_over_http(server: str, unique: str) -> None:
    body = [
        {
            "name": f"{unique}.{i % 3}",
            "tags": {"host": f"h{i}"},
            "datapoints": [[t, t * i] for t in range(1000, 1100)],
        }
        for i in range(60)
    ]
    assert (
        requests.post(server + "/api/v1/datapoints", json=body, timeout=30).status_code
        == 204
    )
    names = requests.get(
        server + "/api/v1/metricnames", params={"prefix": unique}, timeout=30
    ).json()
    assert names == {"results": [f"{unique}.0", f"{unique}.1", f"{unique}.2"]}
    assert requests.get(server + "/api/v1/health/check", timeout=30).status_code == 204


def run_cli(store: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={**os.environ, "DATAPOINTS_STORE": store, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_schema_commands_and_serve_without_schema(cassandra: tuple[str, int]) -> None:
    host, port = cassandra
    keyspace = "dp_cli_" + uuid.uuid4().hex[:8]
    store = f"cassandra://{host}:{port}/{keyspace}?consistency=ONE"
    try:
        status = run_cli(store, "schema", "status")
        assert status.returncode == 1 and json.loads(status.stdout)["applied"] == []
        served = run_cli(store, "serve", "--bind", f"127.0.0.1:{free_port()}")
        assert served.returncode == 2
        assert "datapoints schema apply" in served.stderr
        first = run_cli(store, "schema", "apply", DATAPOINTS_DURABLE_WRITES="false")
        again = run_cli(store, "schema", "apply", DATAPOINTS_ROW_WIDTH_MS="3600000")
        assert first.returncode == again.returncode == 0, first.stderr + again.stderr
        state = json.loads(again.stdout)
        assert state["current"]
        assert state["applied"] == list(range(1, state["latest"] + 1))
        assert state["settings"]["row_width_ms"] == "1814400000"  # fixed at creation
        assert json.loads(run_cli(store, "schema", "status").stdout)["current"] is True
        # a replication change is applied by the same command
        changed = run_cli(
            store, "schema", "apply", DATAPOINTS_REPLICATION="SimpleStrategy:2"
        )
        assert changed.returncode == 0, changed.stderr
        backend = CassandraBackend(Config.from_env({"DATAPOINTS_STORE": store}))
        from service.storage.cassandra.session import Role

        row = backend.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
            role=Role.META,
        ).one()
        backend.close()
        assert row.replication["replication_factor"] == "2"
    finally:
        backend = CassandraBackend(Config.from_env({"DATAPOINTS_STORE": store}))
        backend.session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
        backend.close()


def test_an_unreachable_cassandra_is_a_503_not_a_2xx() -> None:
    from falcon import testing

    from service.app import create_app

    config = Config.from_env(
        {
            "DATAPOINTS_STORE": f"cassandra://127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
        }
    )
    backend = CassandraBackend(config)
    client = testing.TestClient(create_app(config, backend))
    result = client.simulate_post(
        "/api/v1/datapoints",
        json=[{"name": "m", "tags": {"a": "b"}, "datapoints": [[1, 1]]}],
    )
    assert result.status_code == 503
    assert "retry" in result.json["errors"][0].lower()
    assert "Traceback" not in result.text and "cassandra" not in result.text.lower()
    assert client.simulate_get("/api/v1/health/check").status_code == 503

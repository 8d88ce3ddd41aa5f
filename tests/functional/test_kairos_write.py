"""POST /api/v1/datapoints and the small read endpoints, through Falcon's TestClient."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from service import errors
from service.app import create_app
from service.config import Config
from service.records import PUBLIC_PROJECT, SeriesKey, canonical_tags
from service.storage import Backend

SEED = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "seeds"
    / "kairosdb-add-data-points.rst"
)
ALL = (-(2**63), 2**63 - 1)


def seed_body() -> list[dict[str, Any]]:
    """The example body of the seed document, verbatim."""
    text = SEED.read_text() if SEED.exists() else ""
    if text:
        start = text.index("\n  [\n")
        end = text.index("\n  ]\n", start) + 4
        return json.loads(text[start:end])  # type: ignore[no-any-return]
    return SEED_COPY


SEED_COPY: list[dict[str, Any]] = [
    {
        "name": "archive_file_tracked",
        "datapoints": [
            [1359788400000, 123],
            [1359788300000, 13.2],
            [1359788410000, 23.1],
        ],
        "tags": {"host": "server1", "data_center": "DC1"},
        "ttl": 300,
    },
    {
        "name": "impedance",
        "type": "complex-number",
        "datapoints": [
            [1359788400000, {"real": 2.3, "imaginary": 3.4}],
            [1359788300000, {"real": 1.1, "imaginary": 5}],
        ],
        "tags": {"host": "server1", "data_center": "DC1"},
    },
    {
        "name": "archive_file_search",
        "timestamp": 1359786400000,
        "value": 321,
        "tags": {"host": "server2"},
    },
]


def points(backend: Backend, metric: str, **tags: str) -> list[Any]:
    key = SeriesKey(metric, canonical_tags(tags))
    return list(backend.points.read_points(PUBLIC_PROJECT, key, *ALL))


def post(client: testing.TestClient, body: Any, **headers: str) -> testing.Result:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.simulate_post("/api/v1/datapoints", body=data, headers=headers)


def test_the_seed_example_is_stored_exactly(
    client: testing.TestClient, backend: Backend
) -> None:
    result = post(client, seed_body())
    assert result.status_code == 204 and result.text == ""
    assert points(
        backend, "archive_file_tracked", host="server1", data_center="DC1"
    ) == [
        (1359788300000, "double", 13.2),
        (1359788400000, "long", 123),
        (1359788410000, "double", 23.1),
    ]
    assert points(backend, "impedance", host="server1", data_center="DC1") == [
        (1359788300000, "complex-number", (1.1, 5.0)),
        (1359788400000, "complex-number", (2.3, 3.4)),
    ]
    assert points(backend, "archive_file_search", host="server2") == [
        (1359786400000, "long", 321)
    ]


def test_a_single_object_and_the_time_alias(
    client: testing.TestClient, backend: Backend
) -> None:
    body = {"name": "single", "time": 5, "value": "12.5", "tags": {"a": "b"}}
    assert post(client, body).status_code == 204
    assert points(backend, "single", a="b") == [(5, "double", 12.5)]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Encoding": "gzip", "Content-Type": "application/json"},
        {"Content-Type": "application/gzip"},
    ],
)
def test_gzip_bodies(
    client: testing.TestClient, backend: Backend, headers: dict[str, str]
) -> None:
    body = gzip.compress(
        json.dumps(
            [{"name": "gz", "tags": {"a": "b"}, "datapoints": [[1, 2]]}]
        ).encode()
    )
    assert post(client, body, **headers).status_code == 204
    assert points(backend, "gz", a="b") == [(1, "long", 2)]


def test_a_400_lists_every_problem_and_stores_nothing(
    client: testing.TestClient, backend: Backend
) -> None:
    body = [
        {"name": "good", "tags": {"a": "b"}, "datapoints": [[1, 1]]},
        {"name": "", "tags": {"a": "b"}, "datapoints": [[1, 1]]},
        {"name": "x", "tags": {}, "datapoints": [[1, 1]]},
    ]
    result = post(client, body)
    assert result.status_code == 400
    assert result.json == {
        "errors": [
            "metric[1].name may not be empty.",
            "metric[2](name=x).tags count must be greater than or equal to 1.",
        ]
    }
    assert points(backend, "good", a="b") == []
    assert backend.points.metric_names(PUBLIC_PROJECT) == []


def test_unknown_type(client: testing.TestClient) -> None:
    result = post(
        client,
        {"name": "m", "type": "quaternion", "tags": {"a": "b"}, "datapoints": [[1, 1]]},
    )
    assert (result.status_code, result.json) == (
        400,
        {"errors": ["Unregistered data point type 'quaternion'"]},
    )


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b"", {}, 400, "No content"),
        (b"[{", {}, 400, "Invalid json."),
        (b'"text"', {}, 400, "Invalid start of json."),
        (b"not gzip", {"Content-Encoding": "gzip"}, 400, "Invalid gzip body"),
        (b"[]", {"Content-Encoding": "compress"}, 415, "Content-Encoding"),
    ],
)
def test_bad_bodies_get_a_clear_4xx(
    client: testing.TestClient,
    body: bytes,
    headers: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    result = post(client, body, **headers)
    assert result.status_code == status
    assert fragment in result.json["errors"][0]


def limited(config: Config, backend: Backend, **limits: int) -> testing.TestClient:
    from dataclasses import replace

    return testing.TestClient(
        create_app(config.replace(limits=replace(config.limits, **limits)), backend)
    )


def test_limits_are_413s(config: Config, backend: Backend) -> None:
    client = limited(
        config,
        backend,
        max_body_bytes=2048,
        max_decompressed_bytes=100_000,
        max_points_per_request=50,
    )
    big = [
        {"name": "m", "tags": {"a": "b"}, "datapoints": [[i, i] for i in range(500)]}
    ]
    assert post(client, big).status_code == 413
    bomb = gzip.compress(b"[" + b" " * 2_000_000 + b"]")
    result = post(client, bomb, **{"Content-Encoding": "gzip"})
    assert result.status_code == 413 and "Decompressed" in result.json["errors"][0]
    many = gzip.compress(
        json.dumps([{**big[0], "datapoints": big[0]["datapoints"][:60]}]).encode()
    )
    result = post(client, many, **{"Content-Encoding": "gzip"})
    assert (
        result.status_code == 413
        and "More than 50 data points" in result.json["errors"][0]
    )
    assert backend.points.metric_names(PUBLIC_PROJECT) == []


def test_resending_overwrites(client: testing.TestClient, backend: Backend) -> None:
    body = [{"name": "again", "tags": {"a": "b"}, "datapoints": [[1, 1], [2, 2]]}]
    assert post(client, body).status_code == 204
    assert post(client, body).status_code == 204
    body[0]["datapoints"] = [[2, 20], [2, 21]]  # a repeat inside one request: last wins
    assert post(client, body).status_code == 204
    assert points(backend, "again", a="b") == [(1, "long", 1), (2, "long", 21)]


class FailingPoints:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def write_points(self, *args: Any, **kwargs: Any) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "status", "fragment"),
    [
        (
            errors.Unavailable(
                "The data store did not acknowledge the write in time; retry."
            ),
            503,
            "retry",
        ),
        (
            RuntimeError("secret internal detail at service/storage"),
            500,
            "Internal server error",
        ),
    ],
)
def test_store_failures_are_never_a_2xx_and_leak_nothing(
    config: Config,
    backend: Backend,
    exc: Exception,
    status: int,
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A store double stands in here only to check the HTTP mapping; the integration
    # tier checks the same against a real Cassandra that is down.
    monkeypatch.setattr(backend, "points", FailingPoints(exc))
    client = testing.TestClient(create_app(config, backend))
    result = post(client, [{"name": "m", "tags": {"a": "b"}, "datapoints": [[1, 1]]}])
    assert result.status_code == status
    assert fragment in result.json["errors"][0]
    assert "secret" not in result.text and "Traceback" not in result.text


def test_version_health_and_metric_names(client: testing.TestClient) -> None:
    assert (
        client.simulate_get("/api/v1/version").json["version"].startswith("KairosDB ")
    )
    assert client.simulate_get("/api/v1/health/status").json == ["Datastore-Query: OK"]
    assert client.simulate_get("/api/v1/health/check").status_code == 204
    for name in ["cpu.user", "cpu.system", "mem.free"]:
        post(client, {"name": name, "tags": {"h": "a"}, "timestamp": 1, "value": 1})
    assert client.simulate_get("/api/v1/metricnames").json == {
        "results": ["cpu.system", "cpu.user", "mem.free"]
    }
    assert client.simulate_get(
        "/api/v1/metricnames", params={"prefix": "cpu."}
    ).json == {"results": ["cpu.system", "cpu.user"]}


def test_health_reports_a_broken_store(
    config: Config, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> None:
        raise errors.Unavailable("The embedded store does not answer.")

    monkeypatch.setattr(backend, "check", down)
    client = testing.TestClient(create_app(config, backend))
    assert client.simulate_get("/api/v1/health/check").status_code == 503
    assert client.simulate_get("/api/v1/health/status").json == [
        "Datastore-Query: FAIL"
    ]


def test_unknown_routes_and_methods_use_the_envelope(
    client: testing.TestClient,
) -> None:
    assert client.simulate_get("/api/v1/nothing").json == {"errors": ["404 Not Found"]}
    result = client.simulate_put("/api/v1/datapoints")
    assert result.status_code == 405 and "errors" in result.json


def test_cors_for_browser_dashboards(client: testing.TestClient) -> None:
    result = client.simulate_get(
        "/api/v1/version", headers={"Origin": "http://grafana"}
    )
    assert result.headers["Access-Control-Allow-Origin"] == "*"


def test_the_configured_default_ttl_applies_to_points_without_one(
    config: Config, backend: Backend
) -> None:
    import time

    client = testing.TestClient(create_app(config.replace(default_ttl=1), backend))
    body = [
        {"name": "ttl", "tags": {"a": "short"}, "datapoints": [[1, 1]]},
        {"name": "ttl", "tags": {"a": "long"}, "ttl": 3600, "datapoints": [[1, 1]]},
    ]
    assert post(client, body).status_code == 204
    time.sleep(1.5)
    assert points(backend, "ttl", a="short") == []
    assert points(backend, "ttl", a="long") == [(1, "long", 1)]

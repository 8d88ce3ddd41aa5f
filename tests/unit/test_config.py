"""Configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Config, ConfigError, Replication


def test_defaults_are_the_embedded_store_under_var() -> None:
    config = Config.from_env({})
    assert config.store_kind == "sqlite"
    assert config.sqlite_path == Path("var/datapoints.db")
    assert config.default_ttl == 0
    assert config.row_width_ms == 1_814_400_000


def test_cassandra_url_with_every_part() -> None:
    config = Config.from_env(
        {
            "DATAPOINTS_STORE": "cassandra://u:p%40ss@10.0.0.1,10.0.0.2:9142/metrics"
            "?consistency=QUORUM&local_dc=dc1&read_consistency=ONE",
            "DATAPOINTS_META_CONSISTENCY": "local_one",
        }
    )
    c = config.cassandra
    assert (c.hosts, c.port, c.keyspace, c.local_dc) == (
        ("10.0.0.1", "10.0.0.2"),
        9142,
        "metrics",
        "dc1",
    )
    assert (c.username, c.password) == ("u", "p@ss")
    assert (c.write_consistency, c.read_consistency, c.meta_consistency) == (
        "QUORUM",
        "ONE",
        "LOCAL_ONE",
    )


def test_absolute_sqlite_path() -> None:
    assert Config.from_env(
        {"DATAPOINTS_STORE": "sqlite:////tmp/x.db"}
    ).sqlite_path == Path("/tmp/x.db")


@pytest.mark.parametrize(
    "env",
    [
        {"DATAPOINTS_STORE": "mysql://x"},
        {"DATAPOINTS_STORE": "cassandra://h/ks?consistency=SOME"},
        {"DATAPOINTS_STORE": "cassandra://h/bad-keyspace"},
        {"DATAPOINTS_DEFAULT_TTL": "-1"},
        {"DATAPOINTS_DEFAULT_TTL": "forever"},
        {"DATAPOINTS_REPLICATION": "NetworkTopologyStrategy:"},
        {"DATAPOINTS_DURABLE_WRITES": "maybe"},
        {"DATAPOINTS_STORE": "cassandra://h/ks?protocol_version=x"},
        {"DATAPOINTS_STORE": "cassandra://h/ks?request_timeout=abc"},
        {"DATAPOINTS_STORE": "cassandra://h/ks?connect_timeout=-1"},
        {
            "DATAPOINTS_CASSANDRA_REQUEST_TIMEOUT": "0",
            "DATAPOINTS_STORE": "cassandra://h/ks",
        },
        {"DATAPOINTS_HEADER_TIMEOUT": "0"},
        {"DATAPOINTS_HEADER_TIMEOUT": "nan"},
        {"DATAPOINTS_BODY_TIMEOUT": "soon"},
        {"DATAPOINTS_BODY_MIN_RATE": "0"},
        {"DATAPOINTS_HEAVY_CONCURRENCY": "-1"},
        {"DATAPOINTS_HEAVY_WAIT": "-1"},
    ],
)
def test_bad_settings_are_refused_with_their_name(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert (
        next(iter(env)) in info.value.messages[0]
        or "DATAPOINTS_STORE" in info.value.messages[0]
    )


def test_replication_maps() -> None:
    assert Replication.parse("SimpleStrategy:3").as_cql_map() == (
        "{'class': 'SimpleStrategy', 'replication_factor': 3}"
    )
    assert Replication.parse("NetworkTopologyStrategy:dc1=3,dc2=2").as_cql_map() == (
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"
    )


def test_serving_settings() -> None:
    default = Config.from_env({}).serving
    assert (default.header_timeout, default.body_timeout) == (10.0, 30.0)
    assert (default.body_min_rate, default.heavy_wait) == (8192, 5.0)
    # heavy requests get half the threads unless told otherwise: ingest keeps the rest
    assert [default.heavy_slots(t) for t in (1, 2, 4, 9)] == [1, 1, 2, 4]
    serving = Config.from_env(
        {
            "DATAPOINTS_HEADER_TIMEOUT": "2.5",
            "DATAPOINTS_BODY_TIMEOUT": "60",
            "DATAPOINTS_BODY_MIN_RATE": "1024",
            "DATAPOINTS_HEAVY_CONCURRENCY": "3",
            "DATAPOINTS_HEAVY_WAIT": "0",
        }
    ).serving
    assert (serving.header_timeout, serving.body_timeout) == (2.5, 60.0)
    assert (serving.body_min_rate, serving.heavy_wait) == (1024, 0.0)
    assert serving.heavy_slots(4) == 3

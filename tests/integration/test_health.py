"""/api/v1/health/check and /health/status on real Cassandra: healthy only while the
service's keyspace answers a read and holds the current schema. (While the keyspace is
unreachable: tests/integration/test_recovery.py, on a node of its own.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from falcon import testing

from service.app import create_app
from service.config import Config
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.session import Role
from tests.integration.conftest import free_port


@pytest.fixture
def fresh(cassandra_config: Config) -> Iterator[Config]:
    """A config naming a keyspace of this test's own (dropped afterwards)."""
    keyspace = "dp_health_" + uuid.uuid4().hex[:10]
    store = cassandra_config.store_url.replace(
        f"/{cassandra_config.cassandra.keyspace}?", f"/{keyspace}?"
    )
    config = Config.from_env(
        {
            "DATAPOINTS_STORE": store,
            "DATAPOINTS_DURABLE_WRITES": "false",
            "DATAPOINTS_REPLICATION": "SimpleStrategy:1",
            "DATAPOINTS_SECRET_KEY": cassandra_config.secret().decode(),
        }
    )
    assert config.cassandra.keyspace == keyspace
    yield config
    backend = CassandraBackend(config)
    try:
        backend.session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
    finally:
        backend.close()


def health(config: Config, backend: CassandraBackend) -> tuple[int, Any, Any]:
    """(check's status, check's body, status's body)."""
    client = testing.TestClient(create_app(config, backend))
    check = client.simulate_get("/api/v1/health/check")
    status = client.simulate_get("/api/v1/health/status")
    assert status.status_code == 200
    return check.status_code, check.json if check.content else None, status.json


def test_the_test_keyspace_is_healthy(
    cassandra_config: Config, cassandra_backend: CassandraBackend
) -> None:
    assert health(cassandra_config, cassandra_backend) == (
        204,
        None,
        ["Datastore-Query: OK"],
    )


def test_no_keyspace_no_tables_or_an_older_schema_is_unhealthy(fresh: Config) -> None:
    backend = CassandraBackend(fresh)
    try:
        code, body, status = health(fresh, backend)  # no keyspace at all
        assert (code, status) == (503, ["Datastore-Query: FAIL"])
        assert "schema apply" in body["errors"][0]
        ks = fresh.cassandra.keyspace
        backend.session.execute_schema(
            "CREATE KEYSPACE {ks} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        assert health(fresh, backend)[:1] == (503,)  # a keyspace without tables
        backend.apply_schema()
        # a missing schema is never remembered: healthy as soon as it is applied
        assert health(fresh, backend) == (204, None, ["Datastore-Query: OK"])
        backend.session.execute(
            "DELETE FROM {ks}.schema_migrations WHERE version = ?",
            (backend.schema_state().latest,),
            role=Role.META,
        )
    finally:
        backend.close()
    # a new process (no remembered verdict) sees the upgrade pending
    backend = CassandraBackend(fresh)
    try:
        code, body, status = health(fresh, backend)
        assert (code, status) == (503, ["Datastore-Query: FAIL"])
        assert "Traceback" not in str(body) and ks not in str(body)
    finally:
        backend.close()


def test_an_unreachable_store_is_unhealthy_at_once(cassandra_config: Config) -> None:
    """No node answers (nothing listens on the port): 503 at once, every time; a
    worker does not queue its requests behind connect attempts."""
    url = f"cassandra://127.0.0.1:{free_port()}/nowhere?consistency=ONE"
    config = cassandra_config.replace(
        store_url=url,
        cassandra=Config.from_env({"DATAPOINTS_STORE": url}).cassandra,
    )
    backend = CassandraBackend(config)
    try:
        for _ in range(3):
            started = time.monotonic()
            code, body, status = health(config, backend)
            assert (code, status) == (503, ["Datastore-Query: FAIL"])
            assert "cannot be reached" in body["errors"][0]
            assert time.monotonic() - started < 2.0
    finally:
        backend.close()

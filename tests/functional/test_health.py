"""/api/v1/health/check and /health/status on the embedded store: healthy only while
the store answers a read of the service's own tables and its schema is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falcon import testing

from service.app import create_app
from service.config import Config
from service.storage.sqlite import SqliteBackend


def health(client: testing.TestClient) -> tuple[int, Any, Any]:
    """(check's status, check's body, status's body)."""
    check = client.simulate_get("/api/v1/health/check")
    status = client.simulate_get("/api/v1/health/status")
    assert status.status_code == 200  # KairosDB's status always answers 200
    return check.status_code, check.json if check.content else None, status.json


def test_a_current_schema_is_healthy(client: testing.TestClient) -> None:
    assert health(client) == (204, None, ["Datastore-Query: OK"])


def test_a_store_without_schema_is_not(config: Config, tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "empty.db", row_width_ms=config.row_width_ms)
    client = testing.TestClient(create_app(config, backend))
    code, body, status = health(client)
    assert code == 503 and status == ["Datastore-Query: FAIL"]
    assert "schema apply" in body["errors"][0]
    backend.apply_schema()  # a missing schema is never remembered
    assert health(client) == (204, None, ["Datastore-Query: OK"])


def test_an_older_schema_is_not(
    config: Config, backend: SqliteBackend, client: testing.TestClient
) -> None:
    with backend.database.write() as conn:
        conn.execute(
            "DELETE FROM schema_migrations WHERE version = "
            "(SELECT max(version) FROM schema_migrations)"
        )
    code, body, status = health(client)
    assert code == 503 and status == ["Datastore-Query: FAIL"]
    assert body["errors"] and "Traceback" not in str(body)

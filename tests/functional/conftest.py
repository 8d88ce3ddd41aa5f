"""The functional tier: the app through Falcon's TestClient on the embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from falcon import testing

from service.app import create_app
from service.config import Config
from service.storage import Backend
from service.storage.sqlite import SqliteBackend


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.from_env(
        {
            "DATAPOINTS_STORE": f"sqlite:///{tmp_path}/dp.db",
            "DATAPOINTS_SECRET_KEY": "functional-tests-secret-0123456789abcdef",
        }
    )


@pytest.fixture
def backend(config: Config) -> Iterator[Backend]:
    backend = SqliteBackend(config.sqlite_path, row_width_ms=config.row_width_ms)
    backend.apply_schema()
    yield backend
    backend.close()


@pytest.fixture
def client(config: Config, backend: Backend) -> testing.TestClient:
    return testing.TestClient(create_app(config, backend))


@pytest.fixture(scope="module")
def served_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The store of the suites that start ``datapoints serve`` themselves (one per
    module: starting gunicorn takes a second)."""
    path = tmp_path_factory.mktemp("served") / "dp.db"
    return Config.from_env(
        {
            "DATAPOINTS_STORE": f"sqlite:///{path}",
            "DATAPOINTS_SECRET_KEY": "functional-tests-secret-0123456789abcdef",
        }
    )

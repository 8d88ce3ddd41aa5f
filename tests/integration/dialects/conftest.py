"""The functional suites of the dialects, run again with the app on real Cassandra.

The modules here import a functional module's tests and fixtures whole; these three
fixtures replace the embedded store under them with the integration keyspace. Each
test makes its own project (ids are random), so tests sharing the keyspace never see
each other's data.
"""

from __future__ import annotations

import pytest
from falcon import testing

from service.app import create_app
from service.config import Config
from service.records import PUBLIC_PROJECT
from service.storage import Backend
from service.storage.cassandra import CassandraBackend


@pytest.fixture
def config(cassandra_config: Config) -> Config:
    return cassandra_config


@pytest.fixture(scope="module")
def served_config(cassandra_config: Config) -> Config:
    """The store of the suites that start ``datapoints serve`` themselves."""
    return cassandra_config


@pytest.fixture
def backend(cassandra_backend: CassandraBackend) -> Backend:
    return cassandra_backend


@pytest.fixture
def client(config: Config, backend: Backend) -> testing.TestClient:
    return testing.TestClient(create_app(config, backend))


@pytest.fixture
def empty_public_project(backend: Backend) -> None:
    """KairosDB's suites write to the one public project and expect it empty at the
    start: delete what earlier tests left, through the store's own delete."""
    for name in backend.points.metric_names(PUBLIC_PROJECT):
        backend.points.delete_metric(PUBLIC_PROJECT, name)

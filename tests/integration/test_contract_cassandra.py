from __future__ import annotations

import pytest

from service.storage.cassandra import CassandraBackend
from tests.contract.devices import DeviceStoreContract
from tests.contract.events import EventStoreContract
from tests.contract.forms import FormStoreContract
from tests.contract.points import PointStoreContract


class TestCassandraPoints(PointStoreContract):
    """The storage contract on real Cassandra."""

    @pytest.fixture
    def backend(self, cassandra_backend: CassandraBackend) -> CassandraBackend:
        return cassandra_backend


class TestCassandraEvents(EventStoreContract):
    """The events and projects contract on real Cassandra."""

    @pytest.fixture
    def backend(self, cassandra_backend: CassandraBackend) -> CassandraBackend:
        return cassandra_backend


class TestCassandraForms(FormStoreContract):
    """The form sessions contract on real Cassandra."""

    @pytest.fixture
    def backend(self, cassandra_backend: CassandraBackend) -> CassandraBackend:
        return cassandra_backend


class TestCassandraDevices(DeviceStoreContract):
    """The IoT devices contract on real Cassandra."""

    @pytest.fixture
    def backend(self, cassandra_backend: CassandraBackend) -> CassandraBackend:
        return cassandra_backend

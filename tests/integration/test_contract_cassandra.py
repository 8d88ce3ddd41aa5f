from __future__ import annotations

import pytest

from service.records import PointBatch
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.session import Role
from tests.contract.devices import DeviceStoreContract
from tests.contract.events import EventStoreContract
from tests.contract.forms import FormStoreContract
from tests.contract.point_history import PointHistoryContract
from tests.contract.points import series


class TestCassandraPoints(PointHistoryContract):
    """The storage contract on real Cassandra."""

    @pytest.fixture
    def backend(self, cassandra_backend: CassandraBackend) -> CassandraBackend:
        return cassandra_backend

    def test_index_outlives_its_data(
        self, backend: CassandraBackend, unique: str
    ) -> None:
        """Index rows live longer than the points they index (by the margin the
        index cache needs), so no live point is ever unreachable from the index."""
        key = series(unique)
        self.write(backend, PointBatch(key, [(1, "long", 1)], ttl=1000))
        session = backend.session

        def ttl(cql: str) -> int:
            row = session.execute(cql, (self.project, unique), role=Role.READ).one()
            return int(row[0])

        data = ttl(
            "SELECT TTL(data) FROM {ks}.point_blocks WHERE project = ? AND metric = ? "
            "ALLOW FILTERING"
        )
        index = ttl(
            "SELECT TTL(tags) FROM {ks}.series_index WHERE project = ? AND metric = ? "
            "ALLOW FILTERING"
        )
        assert 990 < data <= 1000
        assert index >= data + backend.points.index.margin - 5


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

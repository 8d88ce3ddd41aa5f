"""The row width on real Cassandra: fixed when the keyspace's schema is created, and
what every worker uses afterwards, whatever its own DATAPOINTS_ROW_WIDTH_MS says. The
point store reads it from the keyspace on first use, never at construction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest

from service import errors
from service.config import Config
from service.records import PointBatch, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend

HOUR = 3_600_000
ALL = (-(2**63), 2**63 - 1)
PROJECT = "widths"


@pytest.fixture
def fresh(cassandra_config: Config) -> Iterator[Config]:
    """A config naming a keyspace of this test's own, with one-hour rows (dropped
    afterwards); no schema yet."""
    keyspace = "dp_width_" + uuid.uuid4().hex[:10]
    config = cassandra_config.replace(
        cassandra=dataclasses.replace(cassandra_config.cassandra, keyspace=keyspace),
        row_width_ms=HOUR,
    )
    yield config
    backend = CassandraBackend(config)
    try:
        backend.session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
    finally:
        backend.close()


def test_every_worker_uses_the_width_recorded_at_creation(fresh: Config) -> None:
    creator = CassandraBackend(fresh)  # one-hour rows
    creator.apply_schema()
    # a worker configured with the default (three weeks) on the same keyspace
    other = CassandraBackend(fresh.replace(row_width_ms=Config().row_width_ms))
    try:
        key = SeriesKey("m", canonical_tags({"host": "a"}))
        start, end = 5 * HOUR, 9 * HOUR
        points = [(start + t * HOUR // 2, "long", t) for t in range(8)]
        other.points.write_points(PROJECT, [PointBatch(key, points)], default_ttl=0)
        # a bounded read visits the one-hour rows of its range: had the worker
        # written three-week rows (all in the row starting at 0), it finds nothing
        assert list(creator.points.read_points(PROJECT, key, start, end)) == points
        assert list(other.points.read_points(PROJECT, key, start, end)) == points
        # a delete by range is exact across the rows it spans
        other.points.delete_points(PROJECT, [key], 6 * HOUR, 7 * HOUR)
        left = [p for p in points if not 6 * HOUR <= p[0] <= 7 * HOUR]
        assert list(creator.points.read_points(PROJECT, key, start, end)) == left
        assert list(other.points.read_points(PROJECT, key, *ALL)) == left
    finally:
        creator.close()
        other.close()


def test_no_schema_fails_the_first_write_and_is_not_remembered(fresh: Config) -> None:
    backend = CassandraBackend(fresh)  # builds its stores without connecting
    try:
        key = SeriesKey("m", ())
        batch = PointBatch(key, [(1_000, "long", 1)])
        with pytest.raises(errors.SchemaMissing, match="schema apply"):
            backend.points.write_points(PROJECT, [batch], default_ttl=0)
        backend.apply_schema()
        backend.points.write_points(PROJECT, [batch], default_ttl=0)
        assert list(backend.points.read_points(PROJECT, key, *ALL)) == [
            (1_000, "long", 1)
        ]
    finally:
        backend.close()

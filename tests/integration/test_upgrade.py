"""`datapoints schema apply` on a keyspace of the per-point layout (schema 001-004,
points in data_points) upgrades it to blocks without losing a point: real Cassandra."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from service.config import Config
from service.datatypes import REGISTRY
from service.records import PointBatch, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.session import Role
from service.storage.schema_files import migrations

ALL = (-(2**63), 2**63 - 1)
WEEK = 7 * 86_400_000
_OLD_INSERT = (
    "INSERT INTO {ks}.data_points (project, metric, tag_hash, row_time, ts, type, "
    "value) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
_OLD_INDEX = (
    "INSERT INTO {ks}.series_index (project, metric, row_time, tag_hash, data_ttl, "
    "tags) VALUES (?, ?, ?, ?, ?, ?)"
)
_OLD_ROWS = (
    "INSERT INTO {ks}.metric_rows (project, metric, row_time, data_ttl) "
    "VALUES (?, ?, ?, ?)"
)


@pytest.fixture
def old_keyspace(cassandra_config: Config) -> Iterator[Config]:
    """A keyspace as the previous version's `schema apply` left it."""
    url = cassandra_config.store_url.rsplit("/", 1)[0]
    name = "dp_upgrade_" + uuid.uuid4().hex[:8]
    config = Config.from_env(
        {
            "DATAPOINTS_STORE": f"{url}/{name}?consistency=ONE",
            "DATAPOINTS_DURABLE_WRITES": "false",
        }
    )
    backend = CassandraBackend(config)
    session = backend.session
    backend.schema._ensure_keyspace()
    for migration in migrations("cassandra")[:4]:
        for statement in migration.statements():
            session.execute_schema(statement)
        session.execute(
            "INSERT INTO {ks}.schema_migrations (version, description, applied_at) "
            "VALUES (?, ?, ?)",
            (migration.version, migration.description, dt.datetime.now(dt.UTC)),
            role=Role.META,
        )
    session.execute(
        "INSERT INTO {ks}.settings (name, value) VALUES ('row_width_ms', ?)",
        (str(config.row_width_ms),),
        role=Role.META,
    )
    try:
        yield config
    finally:
        session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
        backend.close()


def old_write(
    backend: CassandraBackend, key: SeriesKey, pts: list[Any], ttl: int = 0
) -> None:
    """What the previous version stored for a write: a cell per point, index rows."""
    session, width = backend.session, backend.config.row_width_ms
    bind, statements, rows = session.bind, [], set()
    for ts, kind, value in pts:
        rt = ts - ts % width
        raw = REGISTRY.get(kind).encode(value)
        statements.append(
            bind(_OLD_INSERT, ("public", key.metric, key.hash, rt, ts, kind, raw, ttl))
        )
        rows.add(rt)
    for rt in rows:
        statements.append(
            bind(_OLD_INDEX, ("public", key.metric, rt, key.hash, ttl, dict(key.tags)))
        )
        statements.append(bind(_OLD_ROWS, ("public", key.metric, rt, ttl)))
    session.execute_all(statements, role=Role.WRITE, concurrency=32)


def test_schema_apply_moves_every_point_into_blocks(old_keyspace: Config) -> None:
    old = CassandraBackend(old_keyspace)
    key = SeriesKey("upgraded", canonical_tags({"host": "a"}))
    other = SeriesKey("upgraded", canonical_tags({"host": "b"}))
    base = 1_700_000_000_000
    # several rows and windows, mixed types, more than a block in one window
    pts = [(base + i * 3_600_000, "long", i) for i in range(-400, 400)]
    pts += [(base + 1 + i, "double", i / 4) for i in range(9000)]
    pts.sort()
    short = [(base - 1, "string", "gone soon")]
    try:
        old_write(old, key, pts)
        old_write(old, other, short, ttl=20)  # (the upgrade may take seconds)
        written = time.monotonic()
        old_write(old, other, [(base, "json", {"a": [1, None]})])
        assert old.schema_state().pending == (5, 6)
    finally:
        old.close()

    backend = CassandraBackend(old_keyspace)
    try:
        state = backend.apply_schema()
        assert state.current
        left = backend.session.execute(
            "SELECT ts FROM {ks}.data_points LIMIT 1", role=Role.READ
        ).one()
        assert left is None  # all moved
        store = backend.points
        assert list(store.read_points("public", key, *ALL)) == pts
        got = list(store.read_points("public", other, *ALL))
        assert got == [*short, (base, "json", {"a": [1, None]})]
        # the series index is the previous one, unchanged: queries find the series
        found = store.find_series("public", "upgraded", {}, *ALL)
        assert set(found) == {key, other}
        # a later write wins over a moved point; each moved point keeps its TTL
        store.write_points(
            "public", [PointBatch(key, [(pts[0][0], "long", -7)])], default_ttl=0
        )
        assert next(iter(store.read_points("public", key, *ALL))) == (
            pts[0][0],
            "long",
            -7,
        )
        time.sleep(max(0.0, written + 21 - time.monotonic()))
        assert list(store.read_points("public", other, *ALL)) == [
            (base, "json", {"a": [1, None]})
        ]
        # a second apply changes nothing
        backend.apply_schema()
        assert len(list(store.read_points("public", key, *ALL))) == len(pts)
    finally:
        backend.close()

"""The cells of data points on Cassandra: one cell per point in ``data_points``.

A series is cut into rows (partitions) of a fixed width in time; a cell holds one
point's type name and encoded value, clustered by timestamp. This class is all that
knows that layout: which rows a series has is the series index's to say (index.py),
and putting the two together is the point store's (points.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from service.datatypes import REGISTRY, TypeRegistry
from service.records import LONG_MIN, Point, Points, SeriesKey
from service.storage.base import Order
from service.storage.cassandra.coalesce import Row
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.session import PagedQuery, Role, Statement
from service.storage.pages import decode_cells

_INSERT = (
    "INSERT INTO {ks}.data_points (project, metric, tag_hash, row_time, ts, type, "
    "value) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
_RANGE = (
    "SELECT ts, type, value FROM {ks}.data_points WHERE project = ? AND metric = ? "
    "AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ? "
)
# One statement text per order and limit: each is prepared once.
_READ = {
    (order, limited): _RANGE + "ORDER BY ts " + order + limit
    for order in ("asc", "desc")
    for limited, limit in ((False, ""), (True, " LIMIT ?"))
}
_ANY = (
    "SELECT ts FROM {ks}.data_points WHERE project = ? AND metric = ? "
    "AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ? LIMIT 1"
)
_DELETE_ROW = (
    "DELETE FROM {ks}.data_points WHERE project = ? AND metric = ? "
    "AND tag_hash = ? AND row_time = ?"
)
_DELETE_RANGE = _DELETE_ROW + " AND ts >= ? AND ts <= ?"

# Rows per unlogged single-partition batch, and a cap on its encoded bytes: one batch
# is one mutation, which Cassandra refuses above half a commit-log segment (16 MiB).
BATCH_ROWS = 500
BATCH_BYTES = 1024 * 1024
# Rows per page when streaming one series; smaller when many series stream at once.
FETCH_SIZE = 5000

# A point as stored: timestamp, type name, encoded value.
Cell = tuple[int, str, bytes]
# The cells of one series' write, by row time.
Rows = dict[int, list[Cell]]
# What one write puts in one series: metric, tag hash, its cells by row, TTL.
SeriesCells = tuple[str, int, Rows, int]


class CellTable:
    def __init__(
        self, context: CassandraContext, *, registry: TypeRegistry = REGISTRY
    ) -> None:
        self.session = context.session
        self.read_concurrency = context.read_concurrency
        self.registry = registry
        self._local = threading.local()

    # -- writes ---------------------------------------------------------------------

    def rows(self, points: Sequence[Point], width: int) -> Rows:
        """The points encoded and cut into rows of ``width`` ms."""
        out: Rows = {}
        encoders: dict[str, Any] = {}
        get = self.registry.get
        for ts, type_name, value in points:
            encode = encoders.get(type_name)
            if encode is None:
                encode = encoders[type_name] = get(type_name).encode
            rt = ts - ts % width
            if rt < LONG_MIN:  # the lowest row (see records.row_time)
                rt = LONG_MIN
            bucket = out.get(rt)
            if bucket is None:
                bucket = out[rt] = []
            bucket.append((ts, type_name, encode(value)))
        return out

    def statements(self, project: str, cells: Sequence[SeriesCells]) -> list[Statement]:
        """The inserts, the rows of one partition in unlogged batches (one mutation
        each)."""
        out: list[Statement] = []
        batch = self.session.batches(_INSERT, role=Role.WRITE)
        for metric, h, rows, ttl in cells:
            for rt, row in rows.items():
                key = (project, metric, h, rt)
                stmt = batch()
                size = 0
                for ts, type_name, raw in row:
                    if len(stmt) >= BATCH_ROWS or size + len(raw) > BATCH_BYTES:
                        out.append(stmt)
                        stmt = batch()
                        size = 0
                    stmt.add((*key, ts, type_name, raw, ttl))
                    size += len(raw) + 64
                out.append(stmt)
        return out

    def coalesced(self, project: str, cells: Sequence[SeriesCells]) -> list[Row]:
        """The inserts as rows for the write coalescer."""
        return [
            (_INSERT, (project, metric, h, rt, ts, type_name, raw, ttl), 64 + len(raw))
            for metric, h, rows, ttl in cells
            for rt, row in rows.items()
            for ts, type_name, raw in row
        ]

    # -- reads ----------------------------------------------------------------------

    def read_gate(self) -> threading.Semaphore:
        """The bound on pages in flight for the request this thread serves (a
        gunicorn thread serves one request at a time)."""
        gate: threading.Semaphore | None = getattr(self._local, "gate", None)
        if gate is None:
            gate = self._local.gate = threading.Semaphore(self.read_concurrency)
        return gate

    def read_chunks(
        self,
        project: str,
        series: SeriesKey,
        rows: Sequence[int],
        start: int,
        end: int,
        *,
        order: Order,
        limit: int | None,
        fetch_size: int,
    ) -> Iterator[Points]:
        """Pages of decoded points of the series' ``rows``, in ``order``. Not a
        generator itself: the first row's query is sent when this is called, so a
        caller opening many series gets their first pages concurrently."""
        cql = _READ[(order, bool(limit))]
        rows = list(reversed(rows)) if order == "desc" else list(rows)
        gate = self.read_gate()

        def send(rt: int, left: int | None) -> PagedQuery:
            params: tuple[Any, ...] = (project, series.metric, series.hash, rt)
            params += (start, end, left) if left else (start, end)
            return self.session.pages(
                cql, params, role=Role.READ, fetch_size=fetch_size, gate=gate
            )

        first = send(rows[0], limit) if rows else None
        return self._pages(rows, first, send, limit)

    def _pages(
        self,
        rows: list[int],
        first: PagedQuery | None,
        send: Callable[[int, int | None], PagedQuery],
        limit: int | None,
    ) -> Iterator[Points]:
        left = limit
        pending = first
        for i in range(len(rows)):
            query, pending = pending, None
            assert query is not None
            for page, last in query.pages():
                if last and i + 1 < len(rows) and (left is None or left > len(page)):
                    # this row is done: ask for the next one while we decode
                    pending = send(
                        rows[i + 1], None if left is None else left - len(page)
                    )
                if page:
                    yield decode_cells(page, self.registry)
                if left is not None:
                    left -= len(page)
                    if left <= 0:
                        return
            if pending is None:
                return

    def with_points(
        self,
        project: str,
        series: Sequence[SeriesKey],
        rows_of: dict[str, list[int]],
        start: int,
        end: int,
    ) -> list[SeriesKey]:
        """Those of ``series`` with a live cell in the range, in their order;
        ``rows_of`` names the rows to look at, per metric."""
        params, owners = [], []
        for key in series:
            for rt in rows_of[key.metric]:
                params.append((project, key.metric, key.hash, rt, start, end))
                owners.append(key)
        results = self.session.fetch_all(
            _ANY, params, role=Role.READ, concurrency=self.read_concurrency
        )
        live = {owner for owner, rows in zip(owners, results, strict=True) if rows}
        return [key for key in series if key in live]

    # -- deletes --------------------------------------------------------------------

    def range_deletes(
        self,
        project: str,
        series: Sequence[SeriesKey],
        rows_of: dict[str, list[int]],
        start: int,
        end: int,
        *,
        width: int,
    ) -> list[Statement]:
        """Deletes of exactly the cells with ``start <= ts <= end``: a partition
        tombstone for a row wholly inside the range, a range tombstone on ``ts`` for
        a row it only overlaps (KairosDB deleted whole rows, other series' included:
        its issue #446)."""
        bind = self.session.bind
        out = []
        for key in series:
            for rt in rows_of[key.metric]:
                pk = (project, key.metric, key.hash, rt)
                if start <= rt and rt + width - 1 <= end:
                    out.append(bind(_DELETE_ROW, pk))
                else:
                    out.append(bind(_DELETE_RANGE, (*pk, start, end)))
        return out

    def row_deletes(
        self, project: str, metric: str, partitions: Sequence[tuple[int, int]]
    ) -> list[Statement]:
        """Partition tombstones for the (tag hash, row time) rows of ``metric``."""
        bind = self.session.bind
        return [bind(_DELETE_ROW, (project, metric, h, rt)) for h, rt in partitions]

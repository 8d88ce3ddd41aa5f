"""The blocks of data points on Cassandra: ``point_blocks`` (schema 005).

A series is cut into rows (partitions) of a fixed width in time, as before; inside a
row, blocks are clustered by window and write id (service/storage/windows.py has the
rules that put a window back together). This class is all that knows that layout:
which rows a series has is the series index's to say (index.py), and putting the two
together is the point store's (points.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from service.columnar import Points
from service.datatypes import REGISTRY, TypeRegistry
from service.records import SeriesKey
from service.storage import blocks
from service.storage.base import Order
from service.storage.cassandra.coalesce import Row, replica_batches
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.paging import PagedQuery
from service.storage.cassandra.session import Role, Statement
from service.storage.windows import (
    BLOCK_POINTS,
    WINDOW_MS,
    Marker,
    resolve_blocks,
    window_of,
)

_COLUMNS = "project, metric, tag_hash, row_time, window_start, write_id, seq"
_INSERT = (
    "INSERT INTO {ks}.point_blocks (" + _COLUMNS + ", data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
_MARK = (
    "INSERT INTO {ks}.point_blocks (" + _COLUMNS + ", del_from, del_to) "
    "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)"
)
_PARTITION = "project = ? AND metric = ? AND tag_hash = ? AND row_time = ?"
_RANGE = (
    "SELECT window_start, write_id, data, del_from, del_to FROM {ks}.point_blocks "
    "WHERE " + _PARTITION + " AND window_start >= ? AND window_start <= ? "
)
# One statement text per order: each is prepared once.
_READ = {
    "asc": _RANGE,
    "desc": _RANGE + "ORDER BY window_start DESC, write_id DESC, seq DESC",
}
_DELETE_ROW = "DELETE FROM {ks}.point_blocks WHERE " + _PARTITION
_DELETE_WINDOWS = _DELETE_ROW + " AND window_start >= ? AND window_start <= ?"

# Block rows per page. A block holds up to BLOCK_POINTS (8,192) points (a compacted
# 1 Hz window 7,200), a small write's block a few: the first page of a series assumes
# full blocks, and each later page is sized from the points its predecessor's rows
# held, so a page holds about PAGE_POINTS_PER_CHUNK chunks' worth of points whatever
# the blocks. (A fixed row count cost a round trip per 4 blocks of a small-write
# window read with a thousand others, and ~30,000 points a row read in full ones.)
# Many series read together ask small chunks, so their pages stay small too.
PAGE_POINTS_PER_CHUNK = 16
PAGE_ROWS = (1, 100)
# Points per chunk handed to the query when the caller does not say.
FETCH_SIZE = 5000

# A block row to insert: (row time, window start, seq, block bytes).
BlockRow = tuple[int, int, int, bytes]
# What one write puts in one series: metric, tag hash, its block rows, TTL.
SeriesBlocks = tuple[str, int, list[BlockRow], int]


class BlockTable:
    def __init__(
        self, context: CassandraContext, *, registry: TypeRegistry = REGISTRY
    ) -> None:
        self.session = context.session
        self.read_concurrency = context.read_concurrency
        self.registry = registry
        self._local = threading.local()

    # -- writes ---------------------------------------------------------------------

    def encode(self, points: Points) -> bytes:
        return blocks.encode(points, registry=self.registry)

    def statements(
        self, project: str, write_id: int, series: Sequence[SeriesBlocks]
    ) -> list[Statement]:
        """The inserts of a write's blocks: small blocks of one replica together in
        unlogged batches of a few KiB (coalesce.replica_batches), larger ones one
        insert each (a batch of them would pass Cassandra's batch size warning)."""
        return replica_batches(self.session, self.coalesced(project, write_id, series))

    def coalesced(
        self, project: str, write_id: int, series: Sequence[SeriesBlocks]
    ) -> list[Row]:
        """The inserts as rows for the write coalescer (small writes)."""
        return [
            (
                _INSERT,
                (project, metric, h, rt, ws, write_id, seq, data, ttl),
                64 + len(project) + len(metric) + len(data),
            )
            for metric, h, rows, ttl in series
            for rt, ws, seq, data in rows
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
        """Chunks of the series' live points in ``rows`` and the range, in
        ``order``. Not a generator itself: the first row's query is sent when this
        is called, so a caller opening many series gets their first pages
        concurrently. Memory holds a page of blocks and the window being resolved."""
        cql = _READ[order]
        rows = list(reversed(rows)) if order == "desc" else list(rows)
        gate = self.read_gate()
        page_points = PAGE_POINTS_PER_CHUNK * fetch_size
        page_rows = _page_rows(page_points, BLOCK_POINTS)
        first_window, last_window = window_of(start), window_of(end)

        def send(rt: int) -> PagedQuery:
            params = (
                project,
                series.metric,
                series.hash,
                rt,
                first_window,
                last_window,
            )
            return self.session.pages(
                cql,
                params,
                role=Role.READ,
                fetch_size=page_rows,
                gate=gate,
                resize=resize,
            )

        def resize(page: list[Any]) -> int:
            held = [blocks.count(r[2]) for r in page if r[2] is not None]
            return _page_rows(page_points, sum(held) / len(held) if held else 1.0)

        first = send(rows[0]) if rows else None
        windows = _windows(_pages(rows, first, send))
        return self._chunks(windows, start, end, order, limit, fetch_size)

    def _chunks(
        self,
        windows: Iterator[list[Any]],
        start: int,
        end: int,
        order: Order,
        limit: int | None,
        fetch_size: int,
    ) -> Iterator[Points]:
        left = limit
        held: list[Points] = []
        count = 0
        now = int(time.time() * 1000)
        for rows in windows:
            if order == "desc":
                rows.reverse()  # back to write order
            points = self._resolve(rows, now)
            if len(points) and (points.ts[0] < start or points.ts[-1] > end):
                points = points.take((points.ts >= start) & (points.ts <= end))
            if not len(points):
                continue
            if order == "desc":
                points = points.take(slice(None, None, -1))
            if left is not None:
                if len(points) >= left:
                    held.append(points.take(slice(0, left)))
                    yield Points.concat(held)
                    return
                left -= len(points)
            held.append(points)
            count += len(points)
            if count >= fetch_size:
                yield Points.concat(held)
                held, count = [], 0
        if held:
            yield Points.concat(held)

    def _resolve(self, rows: list[Any], now: int) -> Points:
        markers: list[Marker] = []
        datas: list[bytes] = []
        wids: list[int] = []
        for _ws, wid, data, del_from, del_to in rows:
            if data is None:
                markers.append((wid, del_from, del_to))
            else:
                datas.append(data)
                wids.append(wid)
        if not datas:
            return Points.empty()
        if len(datas) == 1 and not markers:
            points, expire_at = blocks.decode(datas[0], registry=self.registry)
            if expire_at is None:
                return points  # a compacted window: the usual read
            keep = (expire_at == 0) | (expire_at > now)
            return points if keep.all() else points.take(keep)
        # many blocks (small writes not compacted yet): decoded together
        return resolve_blocks(datas, wids, None, markers, now, self.registry).points

    def with_points(
        self,
        project: str,
        series: Sequence[SeriesKey],
        rows_of: dict[str, list[int]],
        start: int,
        end: int,
    ) -> list[SeriesKey]:
        """Those of ``series`` with a live point in the range, in their order;
        ``rows_of`` names the rows to look at, per metric. A block may hold only
        deleted or replaced points, so each series' blocks are resolved (every
        series' first query is sent before any is read)."""
        opened = [
            self.read_chunks(
                project,
                key,
                rows_of[key.metric],
                start,
                end,
                order="asc",
                limit=1,
                fetch_size=1,
            )
            for key in series
        ]
        return [
            key
            for key, chunks in zip(series, opened, strict=True)
            if any(len(c) for c in chunks)
        ]

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
        write_id: int,
    ) -> list[Statement]:
        """Deletes of exactly the points with ``start <= ts <= end`` written before
        now: a partition tombstone for a row wholly inside the range, a range
        tombstone for the windows wholly inside it, and a marker in a window it only
        overlaps. (Cassandra's tombstones spare cells written after them, as the
        markers spare blocks of later write ids.)"""
        bind = self.session.bind
        out = []
        for key in series:
            for rt in rows_of[key.metric]:
                pk = (project, key.metric, key.hash, rt)
                row_end = rt + width - 1
                lo, hi = max(start, rt), min(end, row_end)
                if lo > hi:
                    continue
                if lo == rt and hi == row_end:
                    out.append(bind(_DELETE_ROW, pk))
                    continue
                first, last = window_of(lo), window_of(hi)
                whole_first, whole_last = first, last
                for ws in sorted({first, last}):
                    span = (max(ws, rt), min(ws + WINDOW_MS - 1, row_end))
                    if not (lo <= span[0] and span[1] <= hi):
                        out.append(bind(_MARK, (*pk, ws, write_id, lo, hi)))
                        if ws == first:
                            whole_first = ws + WINDOW_MS
                        if ws == last:
                            whole_last = ws - WINDOW_MS
                if whole_first <= whole_last:
                    out.append(bind(_DELETE_WINDOWS, (*pk, whole_first, whole_last)))
        return out

    def row_deletes(
        self, project: str, metric: str, partitions: Sequence[tuple[int, int]]
    ) -> list[Statement]:
        """Partition tombstones for the (tag hash, row time) rows of ``metric``."""
        bind = self.session.bind
        return [bind(_DELETE_ROW, (project, metric, h, rt)) for h, rt in partitions]


def _page_rows(page_points: int, points_per_row: float) -> int:
    """Rows a page may hold to carry about ``page_points`` points."""
    low, high = PAGE_ROWS
    return min(high, max(low, int(page_points // max(points_per_row, 1.0))))


def _pages(
    rows: list[int],
    first: PagedQuery | None,
    send: Callable[[int], PagedQuery],
) -> Iterator[list[Any]]:
    """The pages of each row in turn; the next row's query is sent as soon as the
    last page of the row before it has arrived."""
    pending = first
    for i in range(len(rows)):
        query, pending = pending, None
        assert query is not None
        for page, last in query.pages():
            if last and i + 1 < len(rows):
                pending = send(rows[i + 1])
            yield page


def _windows(pages: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """The block rows of each window together (a window may span pages)."""
    current: list[Any] = []
    ws = None
    for page in pages:
        for row in page:
            if row[0] != ws:
                if current:
                    yield current
                current, ws = [], row[0]
            current.append(row)
    if current:
        yield current

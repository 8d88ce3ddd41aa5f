"""Data points on Cassandra: the store object and its write path.

Reads live in reads.py and deletes in deletes.py; this class holds the shared state
(session, keyspace, row width, index cache) and implements the storage contract.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from service.config import MAX_TTL_SECONDS
from service.datatypes import REGISTRY, TypeRegistry
from service.records import LONG_MIN, Point, PointBatch, SeriesKey, TagFilter, Tags
from service.storage.base import Order
from service.storage.cassandra import deletes, reads
from service.storage.cassandra.coalesce import Coalescer
from service.storage.cassandra.index_cache import IndexCache, Key
from service.storage.cassandra.session import CassandraSession, Params, Role, Statement
from service.storage.pages import PagedReads

_INDEX_CQL = {
    "series": "INSERT INTO {ks}.series_index (project, metric, row_time, tag_hash, "
    "data_ttl, tags) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?",
    "by_tag": "INSERT INTO {ks}.series_by_tag (project, metric, row_time, tag_name, "
    "tag_value, tag_hash, data_ttl, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
    "rows": "INSERT INTO {ks}.metric_rows (project, metric, row_time, data_ttl) "
    "VALUES (?, ?, ?, ?) USING TTL ?",
    "name": "INSERT INTO {ks}.metric_names (project, metric, data_ttl) "
    "VALUES (?, ?, ?) USING TTL ?",
    "tagname": "INSERT INTO {ks}.tag_names (project, metric, tag_name, data_ttl) "
    "VALUES (?, ?, ?, ?) USING TTL ?",
    "tagvalue": "INSERT INTO {ks}.tag_values (project, metric, tag_name, tag_value, "
    "data_ttl) VALUES (?, ?, ?, ?, ?) USING TTL ?",
}

# Rows per unlogged single-partition batch, and a cap on its encoded bytes: one batch
# is one mutation, which Cassandra refuses above half a commit-log segment (16 MiB).
BATCH_ROWS = 500
BATCH_BYTES = 1024 * 1024
# Writes of at most this many points go through the coalescer.
SMALL_WRITE = 16
# Index rows per batch (they carry tag maps, so they are larger than points).
INDEX_BATCH_ROWS = 200


def _index_row_bytes(params: tuple[Any, ...]) -> int:
    """About what an index row weighs in a batch: its names and its tag map count
    (a series with large tags makes rows of tens of KiB, and the coalescer keeps
    multi-partition batches below Cassandra's batch size threshold by this)."""
    size = 64
    for value in params:
        if isinstance(value, str):
            size += len(value.encode())
        elif isinstance(value, dict):
            size += sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
        else:
            size += 8
    return size


class CassandraPointStore(PagedReads):
    def __init__(
        self,
        session: CassandraSession,
        *,
        keyspace: str,
        row_width_ms: int,
        write_concurrency: int,
        read_concurrency: int = 16,
        coalescer: Coalescer,
        index_cache_size: int,
        index_cache_seconds: int,
        registry: TypeRegistry = REGISTRY,
    ) -> None:
        self.session = session
        self.ks = keyspace
        self.row_width = row_width_ms
        self.write_concurrency = write_concurrency
        self.read_concurrency = read_concurrency
        self.coalescer = coalescer
        self._local = threading.local()
        self.registry = registry
        # Index rows outlive their data by more than the cache remembers them, plus an
        # hour for clocks that disagree (see index_cache.py).
        self.index_margin = 2 * index_cache_seconds + 3600
        self.cache = IndexCache(
            max_entries=index_cache_size,
            max_age=index_cache_seconds,
            poll=self._invalidations,
        )

    # -- writes ---------------------------------------------------------------------

    def write_points(
        self, project: str, batches: Sequence[PointBatch], *, default_ttl: int
    ) -> None:
        insert = self.session.prepare(
            f"INSERT INTO {self.ks}.data_points "
            "(project, metric, tag_hash, row_time, ts, type, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
        )
        items: list[tuple[Statement, Params]] = []
        # Every index row these points need, keyed as in the IndexCache; the value is
        # the series' tags for "series" keys. Each key is written unless this process
        # wrote it recently (see index_cache.py).
        index: dict[Key, Tags] = {}
        width = self.row_width
        count = sum(len(b.points) for b in batches)
        small: list[tuple[tuple[str, str, int, int], Any, int]] | None = (
            [] if count <= SMALL_WRITE else None
        )
        types = self.registry
        for batch in batches:
            ttl = batch.ttl or default_ttl
            metric, tags = batch.series.metric, batch.series.tags
            h = batch.series.hash
            rows: dict[int, list[tuple[int, str, bytes]]] = {}
            encoders: dict[str, Any] = {}
            for ts, type_name, value in batch.points:
                encode = encoders.get(type_name)
                if encode is None:
                    encode = encoders[type_name] = types.get(type_name).encode
                rt = ts - ts % width
                if rt < LONG_MIN:  # the lowest row (see records.row_time)
                    rt = LONG_MIN
                bucket = rows.get(rt)
                if bucket is None:
                    bucket = rows[rt] = []
                bucket.append((ts, type_name, encode(value)))
            for rt, cells in rows.items():
                if small is not None:
                    small.append(((project, metric, h, rt), cells, ttl))
                else:
                    self._batch_rows(
                        items, insert, (project, metric, h, rt), cells, ttl
                    )
                index[("series", project, metric, h, rt, ttl)] = tags
                index[("rows", project, metric, rt, ttl)] = ()
            index[("name", project, metric, ttl)] = ()
            for name, value in tags:
                for scope in (metric, ""):
                    index[("tagname", project, scope, name, ttl)] = ()
                    index[("tagvalue", project, scope, name, value, ttl)] = ()
        stale = self.cache.missing(index)
        if small:
            # A few points (IoT firmware's upload): coalesced with the small writes of
            # the process's other requests (see coalesce.py), acknowledged all the same.
            pending: list[tuple[Any, tuple[Any, ...], int]] = [
                (stmt, params, _index_row_bytes(params))
                for partition in self._index_rows(stale, index).values()
                for stmt, params in partition
            ]
            pending += [
                (insert, (*key, ts, type_name, raw, ttl), 64 + len(raw))
                for key, cells, ttl in small
                for ts, type_name, raw in cells
            ]
            self.coalescer.write(pending)
        else:
            self.session.execute_all(
                self._index_statements(stale, index) + items,
                role=Role.WRITE,
                concurrency=self.write_concurrency,
            )
        self.cache.remember(stale)

    def _batch_rows(
        self,
        items: list[tuple[Statement, Params]],
        insert: Any,
        key: tuple[str, str, int, int],
        cells: list[tuple[int, str, bytes]],
        ttl: int,
    ) -> None:
        batch = self.session.batch(Role.WRITE)
        size = 0
        for ts, type_name, raw in cells:
            if len(batch) >= BATCH_ROWS or size + len(raw) > BATCH_BYTES:
                items.append((batch, None))
                batch = self.session.batch(Role.WRITE)
                size = 0
            batch.add(insert, (*key, ts, type_name, raw, ttl))
            size += len(raw) + 64
        items.append((batch, None))

    def _index_ttl(self, data_ttl: int) -> int:
        if data_ttl == 0:
            return 0
        return min(data_ttl + self.index_margin, MAX_TTL_SECONDS)

    def _index_rows(
        self, stale: list[Key], tags_of: dict[Key, Tags]
    ) -> dict[tuple[Any, ...], list[Any]]:
        """Inserts for the index rows in ``stale`` (all idempotent), rows of one
        partition gathered into unlogged batches: a request bringing thousands of new
        series writes a few batches per index table, not thousands of statements."""
        by_partition: dict[tuple[Any, ...], list[Any]] = {}

        def add(kind: str, partition: tuple[Any, ...], params: tuple[Any, ...]) -> None:
            by_partition.setdefault((kind, *partition), []).append(
                (self._stmt(kind), params)
            )

        for key in stale:
            kind, project, metric, *rest = key
            ttl = rest[-1]
            ittl = self._index_ttl(ttl)
            if kind == "series":
                h, rt = rest[0], rest[1]
                tags = tags_of[key]
                tag_map = dict(tags)
                add(
                    "series",
                    (project, metric, rt),
                    (project, metric, rt, h, ttl, tag_map, ittl),
                )
                for name, value in tags:
                    add(
                        "by_tag",
                        (project, metric, rt, name, value),
                        (project, metric, rt, name, value, h, ttl, tag_map, ittl),
                    )
            else:
                # partition: metric_rows (project, metric), metric_names (project),
                # tag_names (project, metric), tag_values (project, metric, name)
                width = {"rows": 2, "name": 1, "tagname": 2, "tagvalue": 3}[kind]
                add(
                    kind,
                    (project, metric, *rest)[:width],
                    (project, metric, *rest, ittl),
                )
        return by_partition

    def _index_statements(
        self, stale: list[Key], tags_of: dict[Key, Tags]
    ) -> list[tuple[Statement, Params]]:
        """Inserts for the index rows in ``stale`` (all idempotent), rows of one
        partition gathered into unlogged batches: a request bringing thousands of new
        series writes a few batches per index table, not thousands of statements."""
        by_partition = self._index_rows(stale, tags_of)
        out: list[tuple[Statement, Params]] = []
        for rows in by_partition.values():
            if len(rows) == 1:
                stmt, params = rows[0]
                out.append((stmt.bind(params), None))
                continue
            for i in range(0, len(rows), INDEX_BATCH_ROWS):
                batch = self.session.batch(Role.WRITE)
                for stmt, params in rows[i : i + INDEX_BATCH_ROWS]:
                    batch.add(stmt, params)
                out.append((batch, None))
        return out

    def _stmt(self, kind: str) -> Any:
        return self.session.prepare(_INDEX_CQL[kind])

    # -- reads and deletes (reads.py, deletes.py) ----------------------------------

    def read_gate(self) -> threading.Semaphore:
        """The bound on pages in flight for the request this thread serves (a
        gunicorn thread serves one request at a time)."""
        gate: threading.Semaphore | None = getattr(self._local, "gate", None)
        if gate is None:
            gate = self._local.gate = threading.Semaphore(self.read_concurrency)
        return gate

    def read_pages(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
        fetch_size: int = reads.FETCH_SIZE,
    ) -> Iterator[list[Point]]:
        return reads.read_pages(
            self,
            project,
            series,
            start,
            end,
            order=order,
            limit=limit,
            fetch_size=fetch_size,
        )

    def find_series(
        self, project: str, metric: str, tags: TagFilter, start: int, end: int
    ) -> list[SeriesKey]:
        return reads.find_series(self, project, metric, tags, start, end)

    def series_with_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> list[SeriesKey]:
        return reads.series_with_points(self, project, series, start, end)

    def metric_names(self, project: str, prefix: str | None = None) -> list[str]:
        return reads.metric_names(self, project, prefix)

    def tag_names(self, project: str, metric: str | None = None) -> list[str]:
        return reads.tag_names(self, project, metric)

    def tag_values(
        self, project: str, metric: str | None = None, tag: str | None = None
    ) -> list[str]:
        return reads.tag_values(self, project, metric, tag)

    def delete_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> None:
        deletes.delete_points(self, project, series, start, end)

    def delete_metric(self, project: str, metric: str) -> None:
        deletes.delete_metric(self, project, metric)

    def _invalidations(self) -> list[tuple[str, str, object]]:
        rows = self.session.execute(
            self.session.prepare(
                "SELECT project, metric, deleted_at FROM "
                f"{self.ks}.index_invalidations WHERE bucket = 0"
            ),
            (),
            role=Role.META,
        )
        return [(r.project, r.metric, r.deleted_at) for r in rows]

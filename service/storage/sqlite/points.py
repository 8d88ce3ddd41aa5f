"""Data points in the embedded store."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat

import numpy as np
import ujson

from service.columnar import dtype_of
from service.datatypes import REGISTRY, TypeRegistry
from service.datatypes.builtin import DOUBLE, LONG
from service.records import (
    PointBatch,
    Points,
    SeriesKey,
    TagFilter,
    canonical_tags,
    row_times_of,
    tags_match,
)
from service.storage.base import Order
from service.storage.pages import ChunkedReads, decode_cells
from service.storage.sqlite.database import SqliteDatabase
from service.storage.sqlite.schema import SqliteSchema

# Rows per page when reading.
PAGE_ROWS = 5000
# Expired points are deleted at most this often (reads already ignore them).
PURGE_INTERVAL_S = 60.0
# The built-in numbers' cells: 8 bytes, big-endian (what their ``encode`` packs).
_BIG_ENDIAN = {"long": np.dtype(">i8"), "double": np.dtype(">f8")}
_BUILTIN = {"long": LONG, "double": DOUBLE}
_CELL = np.dtype("V8")  # (tolist() of a void array gives bytes, NULs kept)


class SqlitePointStore(ChunkedReads):
    def __init__(
        self,
        database: SqliteDatabase,
        *,
        schema: SqliteSchema,
        registry: TypeRegistry = REGISTRY,
    ) -> None:
        self.database = database
        self.schema = schema  # the row width's
        self.registry = registry
        self._last_purge = 0.0

    def write_points(
        self, project: str, batches: Sequence[PointBatch], *, default_ttl: int
    ) -> None:
        now = time.time()
        width = self.schema.row_width_ms
        rows: list[Iterable[tuple[object, ...]]] = []
        series: list[tuple[object, ...]] = []
        tag_rows: list[tuple[object, ...]] = []
        for batch in batches:
            ttl = batch.ttl or default_ttl
            expires = now + ttl if ttl else None
            metric, h = batch.series.metric, batch.series.hash
            for type_name, stamps, values in batch.points.sections():
                # (columns zipped in C: no Python frame per point)
                rows.append(
                    zip(
                        repeat(project),
                        repeat(metric),
                        repeat(h),
                        row_times_of(stamps, width).tolist(),
                        stamps.tolist(),
                        repeat(type_name),
                        self._encoded(type_name, values),
                        repeat(expires),
                    )
                )
            series.append(
                (project, metric, h, ujson.dumps(dict(batch.series.tags)), expires)
            )
            tag_rows.extend((project, metric, k, v, h) for k, v in batch.series.tags)
        with self.database.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO data_points VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                chain.from_iterable(rows),
            )
            # A series lives as long as its longest-lived point (NULL = forever).
            conn.executemany(
                "INSERT INTO series VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET expires_at = CASE "
                "WHEN series.expires_at IS NULL OR excluded.expires_at IS NULL "
                "THEN NULL "
                "ELSE max(series.expires_at, excluded.expires_at) END",
                series,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO series_tags VALUES (?, ?, ?, ?, ?)", tag_rows
            )
            if now - self._last_purge > PURGE_INTERVAL_S:
                self._last_purge = now
                conn.execute("DELETE FROM data_points WHERE expires_at <= ?", (now,))

    def read_chunks(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
        fetch_size: int = PAGE_ROWS,
    ) -> Iterator[Points]:
        direction = "DESC" if order == "desc" else "ASC"
        cursor = self.database.conn.execute(
            "SELECT ts, type, value FROM data_points WHERE project = ? AND metric = ? "
            "AND tag_hash = ? AND ts BETWEEN ? AND ? "
            "AND (expires_at IS NULL OR expires_at > ?) "
            f"ORDER BY ts {direction} LIMIT ?",
            (project, series.metric, series.hash, start, end, time.time(), limit or -1),
        )
        while page := cursor.fetchmany(fetch_size):
            yield self._decoded(page)

    def _encoded(self, type_name: str, values: np.ndarray) -> list[bytes]:
        """Each value's cell, as the type's ``encode`` makes it; the built-in
        numbers' (big-endian 8 bytes) in one numpy conversion."""
        big_endian = _BIG_ENDIAN.get(type_name)
        if (
            big_endian is not None
            and self.registry.get(type_name) is _BUILTIN[type_name]
        ):
            cells: list[bytes] = values.astype(big_endian).view(_CELL).tolist()
            return cells
        encode = self.registry.get(type_name).encode
        return [encode(v) for v in values.tolist()]

    def _decoded(self, page: list[tuple[int, str, bytes]]) -> Points:
        ts, types, cells = zip(*page, strict=True)
        first = types[0]
        big_endian = _BIG_ENDIAN.get(first)
        if (
            big_endian is not None
            and types.count(first) == len(types)
            and self.registry.get(first) is _BUILTIN[first]
        ):
            values = np.frombuffer(b"".join(cells), dtype=big_endian)
            return Points.of(first, ts, values.astype(dtype_of(first)))
        return decode_cells(page, self.registry)

    def metric_names(self, project: str, prefix: str | None = None) -> list[str]:
        sql = (
            "SELECT DISTINCT metric FROM series WHERE project = ? "
            "AND (expires_at IS NULL OR expires_at > ?)"
        )
        params: list[object] = [project, time.time()]
        if prefix:
            sql += " AND substr(metric, 1, ?) = ?"
            params += [len(prefix), prefix]
        return [
            row[0]
            for row in self.database.conn.execute(sql + " ORDER BY metric", params)
        ]

    # -- finding series, tags, deletes ------------------------------------------------

    def find_series(
        self, project: str, metric: str, tags: TagFilter, start: int, end: int
    ) -> list[SeriesKey]:
        sql = (
            "SELECT s.tags FROM series s WHERE s.project = ? AND s.metric = ? "
            "AND (s.expires_at IS NULL OR s.expires_at > ?)"
        )
        params: list[object] = [project, metric, time.time()]
        for name, match in tags.items():
            if match.exact:  # the index narrows; patterns are checked below
                marks = ", ".join("?" * len(match.values))
                sql += (
                    " AND EXISTS (SELECT 1 FROM series_tags t WHERE t.project = s.project"
                    " AND t.metric = s.metric AND t.tag_hash = s.tag_hash"
                    f" AND t.tag_name = ? AND t.tag_value IN ({marks}))"
                )
                params += [name, *sorted(match.values)]
        keys = []
        for (text,) in self.database.conn.execute(sql, params):
            tag_map = ujson.loads(text)
            if tags_match(tag_map, tags):
                keys.append(SeriesKey(metric, canonical_tags(tag_map)))
        keys.sort(key=lambda k: k.tags)
        return keys

    def series_with_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> list[SeriesKey]:
        conn, now = self.database.conn, time.time()
        return [
            key
            for key in series
            if conn.execute(
                "SELECT 1 FROM data_points WHERE project = ? AND metric = ? "
                "AND tag_hash = ? AND ts BETWEEN ? AND ? "
                "AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
                (project, key.metric, key.hash, start, end, now),
            ).fetchone()
        ]

    def delete_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> None:
        with self.database.write() as conn:
            for key in series:
                conn.execute(
                    "DELETE FROM data_points WHERE project = ? AND metric = ? "
                    "AND tag_hash = ? AND ts BETWEEN ? AND ?",
                    (project, key.metric, key.hash, start, end),
                )
                # A series with no point left is gone from the indexes too.
                left = conn.execute(
                    "SELECT 1 FROM data_points WHERE project = ? AND metric = ? "
                    "AND tag_hash = ? LIMIT 1",
                    (project, key.metric, key.hash),
                ).fetchone()
                if not left:
                    for table in ("series", "series_tags"):
                        conn.execute(
                            f"DELETE FROM {table} WHERE project = ? AND metric = ? "
                            "AND tag_hash = ?",
                            (project, key.metric, key.hash),
                        )

    def delete_metric(self, project: str, metric: str) -> None:
        with self.database.write() as conn:
            for table in ("data_points", "series", "series_tags"):
                conn.execute(
                    f"DELETE FROM {table} WHERE project = ? AND metric = ?",
                    (project, metric),
                )

    def tag_names(self, project: str, metric: str | None = None) -> list[str]:
        return self._tag_column("t.tag_name", project, metric, None)

    def tag_values(
        self, project: str, metric: str | None = None, tag: str | None = None
    ) -> list[str]:
        return self._tag_column("t.tag_value", project, metric, tag)

    def _tag_column(
        self, column: str, project: str, metric: str | None, tag: str | None
    ) -> list[str]:
        sql = (
            f"SELECT DISTINCT {column} FROM series_tags t JOIN series s "
            "ON s.project = t.project AND s.metric = t.metric AND s.tag_hash = t.tag_hash "
            "WHERE t.project = ? AND (s.expires_at IS NULL OR s.expires_at > ?)"
        )
        params: list[object] = [project, time.time()]
        if metric:
            sql += " AND t.metric = ?"
            params.append(metric)
        if tag:
            sql += " AND t.tag_name = ?"
            params.append(tag)
        return [
            row[0] for row in self.database.conn.execute(sql + " ORDER BY 1", params)
        ]

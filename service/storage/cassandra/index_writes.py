"""The index rows one write of points adds (see index.py)."""

from __future__ import annotations

from typing import Any

from service.config import MAX_TTL_SECONDS
from service.records import Tags
from service.storage.cassandra.coalesce import Row
from service.storage.cassandra.index_cache import IndexCache, Key
from service.storage.cassandra.session import CassandraSession, Role, Statement

# Every index row carries the TTL of the data it points to (``data_ttl``, a
# clustering column) and lives longer by the index margin.
_INSERT = {
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
# How many leading values of a key (after its kind) make its row's partition key:
# metric_rows (project, metric), metric_names (project), tag_names (project,
# metric), tag_values (project, metric, name).
_PARTITION = {"rows": 2, "name": 1, "tagname": 2, "tagvalue": 3}
# Index rows per batch (they carry tag maps, so they are larger than points).
BATCH_ROWS = 200


class IndexWrite:
    """The index rows a write of points needs and this process has not written
    lately (all idempotent). Send them with the points, as ``statements()`` or as
    coalescer ``rows()``; once Cassandra has acknowledged them, ``written()`` lets
    the cache skip them for a while."""

    def __init__(
        self,
        session: CassandraSession,
        cache: IndexCache,
        stale: list[Key],
        tags_of: dict[Key, Tags],
        margin: int,
    ) -> None:
        self.session = session
        self.cache = cache
        self.stale = stale
        self._tags_of = tags_of
        self._margin = margin

    def statements(self) -> list[Statement]:
        """The inserts, rows of one partition gathered into unlogged batches: a
        request bringing thousands of new series writes a few batches per index
        table, not thousands of statements."""
        out: list[Statement] = []
        for (kind, *_), rows in self._by_partition().items():
            if len(rows) == 1:
                out.append(self.session.bind(_INSERT[kind], rows[0]))
                continue
            for i in range(0, len(rows), BATCH_ROWS):
                batch = self.session.batch(_INSERT[kind], role=Role.WRITE)
                for params in rows[i : i + BATCH_ROWS]:
                    batch.add(params)
                out.append(batch)
        return out

    def rows(self) -> list[Row]:
        """The inserts as rows for the write coalescer."""
        return [
            (_INSERT[kind], params, _row_bytes(params))
            for (kind, *_), rows in self._by_partition().items()
            for params in rows
        ]

    def written(self) -> None:
        self.cache.remember(self.stale)

    def _by_partition(self) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The values of each row to insert, by (kind, *partition key)."""
        out: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for key in self.stale:
            kind, project, metric, *rest = key
            ttl = rest[-1]
            ittl = self._ttl(ttl)
            if kind == "series":
                h, rt = rest[0], rest[1]
                tags = self._tags_of[key]
                tag_map = dict(tags)
                out.setdefault(("series", project, metric, rt), []).append(
                    (project, metric, rt, h, ttl, tag_map, ittl)
                )
                for name, value in tags:
                    out.setdefault(
                        ("by_tag", project, metric, rt, name, value), []
                    ).append((project, metric, rt, name, value, h, ttl, tag_map, ittl))
            else:
                partition = (project, metric, *rest)[: _PARTITION[kind]]
                out.setdefault((kind, *partition), []).append(
                    (project, metric, *rest, ittl)
                )
        return out

    def _ttl(self, data_ttl: int) -> int:
        if data_ttl == 0:
            return 0
        return min(data_ttl + self._margin, MAX_TTL_SECONDS)


def _row_bytes(params: tuple[Any, ...]) -> int:
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

"""Data points on Cassandra: the storage contract's ``PointStore``.

Two collaborators do the work: the blocks of ``point_blocks`` (block_table.py) and the
series index that finds them (index.py). This class puts them together: a write sends
the blocks and the index rows they need in one go, a read asks the index which rows to
visit and the blocks for their points.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from service.datatypes import REGISTRY, TypeRegistry
from service.records import PointBatch, Points, SeriesKey, TagFilter, Tags
from service.storage.base import Order
from service.storage.cassandra.block_table import (
    FETCH_SIZE,
    BlockRow,
    BlockTable,
    SeriesBlocks,
)
from service.storage.cassandra.compaction import (
    ENQUEUE,
    Background,
    CompactionQueue,
    queue_batches,
)
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.index import SeriesIndex
from service.storage.cassandra.index_cache import Key
from service.storage.cassandra.schema import RowWidth
from service.storage.cassandra.session import Role
from service.storage.pages import ChunkedReads
from service.storage.windows import WriteIds, pieces

# Writes of at most this many points go through the coalescer.
SMALL_WRITE = 16


class CassandraPointStore(ChunkedReads):
    def __init__(
        self,
        context: CassandraContext,
        *,
        row_width: RowWidth,
        index_cache_size: int,
        index_cache_seconds: int,
        queue: CompactionQueue,
        background: Background | None = None,
        registry: TypeRegistry = REGISTRY,
    ) -> None:
        self.queue = queue
        self.background = background
        self.context = context
        self.row_width = row_width
        self.blocks = BlockTable(context, registry=registry)
        self.write_ids = WriteIds()
        self.index = SeriesIndex(
            context,
            row_width=row_width,
            cache_size=index_cache_size,
            cache_seconds=index_cache_seconds,
        )

    # -- writes ---------------------------------------------------------------------

    def write_points(
        self, project: str, batches: Sequence[PointBatch], *, default_ttl: int
    ) -> None:
        width = self.row_width.ms
        series_blocks: list[SeriesBlocks] = []
        needed: dict[Key, Tags] = {}
        note = self.index.note
        encode = self.blocks.encode
        # A series may come in several batches (several TTLs): its blocks in one
        # window are numbered on, so none replaces another under the same write id.
        seqs: dict[tuple[str, int, int, int], int] = {}
        queue, now_ms = self.queue, int(time.time() * 1000)
        queued = []
        for batch in batches:
            ttl = batch.ttl or default_ttl
            series, h = batch.series, batch.series.hash  # (hashed on each access)
            rows: list[BlockRow] = []
            for piece in pieces(batch.points.last_per_timestamp(), row_width=width):
                rt, ws = piece.row_time, piece.window_start
                at = (series.metric, h, rt, ws)
                seq = seqs[at] = seqs.get(at, -1) + 1
                rows.append((rt, ws, seq, encode(piece.points)))
                entry = queue.needed(
                    (project, series.metric, h, rt, ws), len(piece.points), now_ms
                )
                if entry is not None:
                    queued.append(entry)
            series_blocks.append((series.metric, h, rows, ttl))
            note(needed, project, series, {r[0] for r in rows}, tag_hash=h, ttl=ttl)
        index = self.index.write(needed)
        context = self.context
        write_id = self.write_ids.next()
        enqueue = [queue.params(entry) for entry in queued]
        if sum(len(b.points) for b in batches) <= SMALL_WRITE:
            # A few points (IoT firmware's upload): coalesced with the small writes of
            # the process's other requests (see coalesce.py), acknowledged all the same.
            context.coalescer.write(
                index.rows()
                + self.blocks.coalesced(project, write_id, series_blocks)
                + [(ENQUEUE, params, 64) for params in enqueue]
            )
        else:
            context.session.execute_all(
                index.statements()
                + self.blocks.statements(project, write_id, series_blocks)
                + queue_batches(context.session, enqueue),
                role=Role.WRITE,
                concurrency=context.write_concurrency,
            )
        index.written()
        queue.written(queued)
        if self.background is not None:
            self.background.start()  # (in the worker, after gunicorn's fork)

    # -- reads ----------------------------------------------------------------------

    def read_chunks(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
        fetch_size: int = FETCH_SIZE,
    ) -> Iterator[Points]:
        rows = self.index.row_times(project, series.metric, start, end)
        return self.blocks.read_chunks(
            project,
            series,
            rows,
            start,
            end,
            order=order,
            limit=limit,
            fetch_size=fetch_size,
        )

    def find_series(
        self, project: str, metric: str, tags: TagFilter, start: int, end: int
    ) -> list[SeriesKey]:
        return self.index.find_series(project, metric, tags, start, end)

    def series_with_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> list[SeriesKey]:
        rows = self.index.rows_per_metric(project, series, start, end)
        return self.blocks.with_points(project, series, rows, start, end)

    def metric_names(self, project: str, prefix: str | None = None) -> list[str]:
        return self.index.metric_names(project, prefix)

    def tag_names(self, project: str, metric: str | None = None) -> list[str]:
        return self.index.tag_names(project, metric)

    def tag_values(
        self, project: str, metric: str | None = None, tag: str | None = None
    ) -> list[str]:
        return self.index.tag_values(project, metric, tag)

    # -- deletes --------------------------------------------------------------------

    def delete_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> None:
        rows = self.index.rows_per_metric(project, series, start, end)
        deletes = self.blocks.range_deletes(
            project,
            series,
            rows,
            start,
            end,
            width=self.row_width.ms,
            write_id=self.write_ids.next(),
        )
        self.context.session.execute_all(
            deletes, role=Role.WRITE, concurrency=self.context.write_concurrency
        )

    def delete_metric(self, project: str, metric: str) -> None:
        found = self.index.metric_delete(project, metric)
        self.context.session.execute_all(
            self.blocks.row_deletes(project, metric, found.partitions)
            + found.statements,
            role=Role.WRITE,
            concurrency=self.context.write_concurrency,
        )
        self.index.forget(project, metric)

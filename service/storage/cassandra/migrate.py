"""The upgrade of a keyspace of the per-point layout (``data_points``, schema 001-004)
to blocks, run by ``datapoints schema apply`` after the schema files.

Every cell of ``data_points`` is moved into ``point_blocks``: the cells of one
partition, a window at a time, become blocks that record each point's own expiry (the
cell's TTL left) and write id (from the cell's write time, so a point written later
through the new layout still wins). Once a partition's blocks are acknowledged, the
partition is deleted ``USING TIMESTAMP`` the newest write time read from it, so a cell
that a host still running the previous version writes meanwhile survives there, and
the next ``schema apply`` moves it too. Nothing is deleted before its blocks are
stored, so an interrupted run loses nothing and is simply run again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.datatypes import REGISTRY, TypeRegistry
from service.storage import blocks
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.session import Role
from service.storage.pages import decode_cells
from service.storage.windows import BLOCK_POINTS, window_of

log = logging.getLogger(__name__)

_SCAN = (
    "SELECT project, metric, tag_hash, row_time, ts, type, value, TTL(value), "
    "WRITETIME(value) FROM {ks}.data_points"
)
_WRITE = (
    "INSERT INTO {ks}.point_blocks (project, metric, tag_hash, row_time, "
    "window_start, write_id, seq, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
_DELETE = (
    "DELETE FROM {ks}.data_points USING TIMESTAMP ? WHERE project = ? AND metric = ? "
    "AND tag_hash = ? AND row_time = ?"
)
# The write id of a cell: its write time in ms above 20 zero bits (windows.WriteIds).
_LOW_BITS = 20
FETCH = 5000


@dataclass
class Migrated:
    partitions: int = 0
    points: int = 0
    blocks: int = 0


def migrate_cells(
    context: CassandraContext, *, registry: TypeRegistry = REGISTRY
) -> Migrated:
    """Move every cell of ``data_points`` into blocks (see the module's doc)."""
    move = _Move(context, registry)
    for row in context.session.stream(_SCAN, (), role=Role.READ, fetch_size=FETCH):
        move.add(row)
    move.finish_partition()
    done = move.done
    if done.partitions:
        log.info(
            "moved %d points of %d data_points partitions into %d blocks",
            done.points,
            done.partitions,
            done.blocks,
        )
    return done


# A cell as scanned: ts, type, value, TTL left (None: none), write time (us).
Cell = tuple[int, str, bytes, int | None, int]
Key = tuple[str, str, int, int]


class _Move:
    """A scan's rows (a partition's rows come together, in ts order) into blocks of
    one window each, and each partition deleted once its blocks are stored."""

    def __init__(self, context: CassandraContext, registry: TypeRegistry) -> None:
        self.context = context
        self.registry = registry
        self.done = Migrated()
        self.key: Key | None = None
        self.window: list[Cell] = []
        self.window_start: int | None = None
        self.seq = 0
        self.newest = 0
        self.pending: list[Any] = []

    def add(self, row: Any) -> None:
        key = (row[0], row[1], row[2], row[3])
        ts = row[4]
        ws = window_of(ts)
        if key != self.key:
            self.finish_partition()
            self.key = key
        if ws != self.window_start:
            self.flush_window()
            self.window_start, self.seq = ws, 0
        elif len(self.window) >= BLOCK_POINTS:
            self.flush_window()
            self.seq += 1
        self.window.append((ts, row[5], row[6], row[7], row[8]))
        self.newest = max(self.newest, row[8])

    def flush_window(self) -> None:
        window, key, ws = self.window, self.key, self.window_start
        if not window or key is None or ws is None:
            return
        now = int(time.time() * 1000)
        registry = self.registry
        points = decode_cells([(c[0], c[1], c[2]) for c in window], registry)
        ttls = np.array([c[3] or 0 for c in window], dtype=np.int64)
        expire_at = np.where(ttls > 0, now + ttls * 1000, 0)
        write_ids = np.array([c[4] // 1000 << _LOW_BITS for c in window], np.int64)
        data = blocks.encode(
            points,
            expire_at=expire_at if expire_at.any() else None,
            write_ids=write_ids,
            registry=registry,
        )
        ttl = 0 if (ttls == 0).any() else int(ttls.max()) + 1
        params = (*key, ws, int(write_ids.max()), self.seq, data, ttl)
        self.pending.append(self.context.session.bind(_WRITE, params))
        self.done.points += len(window)
        self.done.blocks += 1
        self.window = []
        if len(self.pending) >= 64:
            self.send()

    def send(self) -> None:
        context = self.context
        context.session.execute_all(
            self.pending, role=Role.WRITE, concurrency=context.write_concurrency
        )
        self.pending = []

    def finish_partition(self) -> None:
        if self.key is None:
            return
        self.flush_window()
        self.send()  # the blocks first: nothing is deleted before it is stored
        self.context.session.execute(_DELETE, (self.newest, *self.key), role=Role.WRITE)
        self.done.partitions += 1
        self.key, self.window_start, self.newest = None, None, 0

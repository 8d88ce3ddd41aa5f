"""Points cut into block windows, and a window's blocks resolved into its points.

The block layout on Cassandra (schema/cassandra/005_point_blocks.cql) never rewrites
a stored block on a write: a write adds blocks, a range delete adds a marker, and a
read puts a window back together here. These are the rules, kept free of I/O so they
can be checked against a plain oracle (tests/unit/test_windows.py):

* the later write wins at the same timestamp, whatever order its blocks arrived in:
  every write has a ``write_id`` that orders writes (time first, see ``WriteIds``);
* a delete marker ``(write_id, first, last)`` removes the points with
  ``first <= ts <= last`` of writes before it, never those of a later write;
* a point whose block records an expiry (a compacted block) is gone from then on.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from service.columnar import Points
from service.datatypes import TypeRegistry
from service.records import row_times_of
from service.storage import blocks

# The width of a block window, in ms. Part of the stored format: reads look for a
# range's blocks by the start of its windows, so this must never change for a keyspace
# that holds blocks. Two hours, as Gorilla's and Prometheus's blocks: 7,200 points of
# a 1 Hz series, well compressed, well under Cassandra's recommended 1 MB a cell.
WINDOW_MS = 7_200_000
# At most this many points go in one block (a fast series' window is cut into several
# blocks of one write), so no cell grows past a few hundred KB.
BLOCK_POINTS = 8192

# A write id: ms since the epoch above 20 random low bits (63 bits, until year 2248).
_LOW_BITS = 20
_LOW_MASK = (1 << _LOW_BITS) - 1


class WriteIds:
    """Write ids of this process: ordered by the clock across hosts (like Cassandra's
    client timestamps), strictly increasing within the process, and random in their
    low bits so two hosts writing in the same ms almost never pick the same id."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        # random's generator, not secrets': the bits need not be unpredictable, only
        # differ between processes, and CPython reseeds random's generator from
        # os.urandom in every forked child (so gunicorn's workers never share a
        # sequence); secrets pays a getrandom system call a write.
        fresh = (time.time_ns() // 1_000_000) << _LOW_BITS | random.getrandbits(
            _LOW_BITS
        )
        with self._lock:
            wid = self._last = max(fresh, self._last + 1)
        return wid


def write_time_ms(write_id: int) -> int:
    """When a write id was made (ms since the epoch)."""
    return write_id >> _LOW_BITS


def window_of(ts: int) -> int:
    """The start of the window holding ``ts`` (floor division, as rows)."""
    return max(ts - ts % WINDOW_MS, -(2**63))


def _floor(ts: int, width: int) -> int:
    return max(ts - ts % width, -(2**63))


@dataclass(frozen=True, slots=True)
class Piece:
    """Points of one row and window, at most BLOCK_POINTS, for one block."""

    row_time: int
    window_start: int
    seq: int
    points: Points


def pieces(points: Points, *, row_width: int) -> Iterator[Piece]:
    """``points`` (in time order, one per timestamp) cut by row and window, and in
    blocks of at most BLOCK_POINTS; ``seq`` numbers the blocks of one window."""
    ts = points.ts
    n = len(ts)
    if not n:
        return
    first, last = int(ts[0]), int(ts[-1])
    rt, ws = _floor(first, row_width), _floor(first, WINDOW_MS)
    if n <= BLOCK_POINTS and _floor(last, row_width) == rt and last < ws + WINDOW_MS:
        yield Piece(rt, ws, 0, points)  # the usual write: one block, no arrays made
        return
    rows = row_times_of(ts, row_width)
    windows = row_times_of(ts, WINDOW_MS)
    cut = np.flatnonzero((rows[1:] != rows[:-1]) | (windows[1:] != windows[:-1])) + 1
    bounds = [0, *cut.tolist(), len(ts)]
    for lo, hi in pairwise(bounds):
        rt, ws = int(rows[lo]), int(windows[lo])
        whole = lo == 0 and hi == len(ts)
        for seq, at in enumerate(range(lo, hi, BLOCK_POINTS)):
            stop = min(at + BLOCK_POINTS, hi)
            part = points if whole and stop - at == hi else points.take(slice(at, stop))
            yield Piece(rt, ws, seq, part)


@dataclass(frozen=True, slots=True)
class Stored:
    """One block as read back: its write id, points, and per point the expiry and
    write id when it records them (a compacted block); else the block's own id."""

    write_id: int
    points: Points
    expire_at: np.ndarray | None = None
    write_ids: np.ndarray | None = None


# A delete marker: (write_id, first ts, last ts), both ends included.
Marker = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A window's live points, each with its write id and expiry (0 = never)."""

    points: Points
    write_ids: np.ndarray
    expire_at: np.ndarray


def resolve(blocks: Sequence[Stored], markers: Sequence[Marker], now_ms: int) -> Points:
    """The live points of a window: markers applied to the writes before them,
    expired points dropped, and at each timestamp the point of the latest write; in
    time order."""
    if len(blocks) == 1 and not markers and blocks[0].expire_at is None:
        return blocks[0].points  # a block is in time order, one point per timestamp
    return resolve_all(blocks, markers, now_ms).points


def resolve_all(
    blocks: Sequence[Stored], markers: Sequence[Marker], now_ms: int
) -> Resolved:
    """``resolve``, keeping each point's write id and expiry (what compaction
    writes into the merged block)."""
    if not blocks:
        none = np.empty(0, dtype=np.int64)
        return Resolved(Points.empty(), none, none)
    ids, expiries = [], []
    for block in blocks:
        n = len(block.points)
        wids = block.write_ids
        ids.append(np.full(n, block.write_id, np.int64) if wids is None else wids)
        exp = block.expire_at
        expiries.append(np.zeros(n, np.int64) if exp is None else exp)
    return resolve_columns(
        Points.concat([b.points for b in blocks]),
        np.concatenate(ids),
        np.concatenate(expiries),
        markers,
        now_ms,
    )


def resolve_blocks(
    datas: Sequence[bytes],
    write_ids: Sequence[int],
    expire_at: Sequence[int] | None,
    markers: Sequence[Marker],
    now_ms: int,
    registry: TypeRegistry,
) -> Resolved:
    """The live points of a window's blocks (in write order), decoded together: a
    block that records no write ids or expiries has ``write_ids[i]`` and
    ``expire_at[i]`` for its points (``expire_at`` None: those never expire here, as
    on reads, where Cassandra's TTL has removed expired rows)."""
    decoded = blocks.decode_many(datas, registry=registry)
    ids = decoded.per_point(decoded.write_ids, write_ids)
    expiries = None
    if expire_at is not None or any(e is not None for e in decoded.expire_at):
        default = [0] * len(datas) if expire_at is None else expire_at
        expiries = decoded.per_point(decoded.expire_at, default)
    return resolve_columns(decoded.points, ids, expiries, markers, now_ms)


def resolve_columns(
    points: Points,
    write_ids: np.ndarray,
    expire_at: np.ndarray | None,
    markers: Sequence[Marker],
    now_ms: int,
) -> Resolved:
    """``resolve_all`` of blocks given as columns: their points one block after the
    other (blocks in write order: of one write id, the later block wins), each
    point's write id and expiry (None: none expire)."""
    ts = points.ts
    mask = None
    if expire_at is not None:
        mask = (expire_at == 0) | (expire_at > now_ms)
    else:
        expire_at = np.zeros(len(ts), dtype=np.int64)
    for wid, first, last in markers:
        gone = (ts >= first) & (ts <= last) & (write_ids < wid)
        mask = ~gone if mask is None else mask & ~gone
    if mask is not None and not mask.all():
        points, write_ids, expire_at = (
            points.take(mask),
            write_ids[mask],
            expire_at[mask],
        )
        ts = points.ts
    if len(ts) < 2 or bool((ts[1:] > ts[:-1]).all()):
        # blocks in time order that do not overlap (a series written forward): no
        # timestamp twice, nothing to sort
        return Resolved(points, write_ids, expire_at)
    # by timestamp, then write id: the last of each timestamp is the latest write's
    order = np.lexsort((write_ids, ts))
    ts = ts[order]
    newest = np.ones(len(ts), dtype=bool)
    newest[:-1] = ts[1:] != ts[:-1]
    take = order[newest]
    return Resolved(points.take(take), write_ids[take], expire_at[take])

"""Compaction: a window's many small blocks merged into one, by the service itself.

A write that stores a small block (fewer than ``small_points`` points: an IoT reading,
a client that flushes often) queues its window (``compaction_queue``, schema 006),
due ``delay`` seconds later. Every worker runs a ``Compactor`` in the background (and
``datapoints compact run`` runs one by hand). The queue has 16 shards (by the series'
hash); for a shard with due windows a compactor

1. takes the shard's lease (an LWT, so one compactor of all hosts works on the
   windows of a shard at a time; hosts take the shards in different orders),
2. for each due window: reads the window's blocks and markers (a window of one block,
   most of them, ends there), resolves them (windows.resolve_columns) keeping each
   point's write id and expiry,
3. makes sure it still holds the lease (renewing it when half its TTL may have
   passed), then writes the merged block(s) under the key of the newest input block,
   with a write time just after the newest input's (so a range or partition tombstone
   written after an input still removes the merged block),
4. deletes the other inputs by their exact keys (never by range: a block written
   meanwhile is not an input and stays), and markers older than an hour (younger ones
   stay, for writes still in flight that they must delete);

then removes the worked-off queue rows and gives the lease back.

Each point keeps its own write id and expiry inside the merged block, so
last-write-wins against blocks written concurrently, later delete markers and the
per-write TTLs are exactly as before the merge.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.config import CompactionSettings
from service.datatypes import REGISTRY, TypeRegistry
from service.records import LONG_MAX
from service.storage import blocks
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.session import CassandraSession, Params, Role
from service.storage.windows import (
    BLOCK_POINTS,
    Marker,
    Resolved,
    resolve_blocks,
    write_time_ms,
)

log = logging.getLogger(__name__)

SHARDS = 16
# Markers younger than this stay after a merge: a write whose id is older than the
# marker may still be in flight, and the marker must still delete its points.
MARKER_KEEP_MS = 3_600_000
# A window holding more points than this is left as it is (it is not made of small
# writes, and merging it would hold it all in memory).
MAX_WINDOW_POINTS = 1_000_000
# Due windows read per shard and round.
BATCH = 200

_WINDOW_KEY = "project = ? AND metric = ? AND tag_hash = ? AND row_time = ?"
ENQUEUE = (
    "INSERT INTO {ks}.compaction_queue (shard, due_at, project, metric, tag_hash, "
    "row_time, window_start) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_DUE = (
    "SELECT due_at, project, metric, tag_hash, row_time, window_start "
    "FROM {ks}.compaction_queue WHERE shard = ? AND due_at <= ? LIMIT ?"
)
_DEQUEUE = (
    "DELETE FROM {ks}.compaction_queue WHERE shard = ? AND due_at = ? AND project = ? "
    "AND metric = ? AND tag_hash = ? AND row_time = ? AND window_start = ?"
)
_QUEUED = "SELECT due_at FROM {ks}.compaction_queue WHERE shard = ?"
_LEASES = "SELECT COUNT(*) FROM {ks}.compaction_leases"
_LEASE_KEY = _WINDOW_KEY + " AND window_start = ?"
_LEASE = (
    "INSERT INTO {ks}.compaction_leases (project, metric, tag_hash, row_time, "
    "window_start, owner) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?"
)
_RENEW = (
    "UPDATE {ks}.compaction_leases USING TTL ? SET owner = ? WHERE "
    + _LEASE_KEY
    + " IF owner = ?"
)
_RELEASE = "DELETE FROM {ks}.compaction_leases WHERE " + _LEASE_KEY + " IF owner = ?"
_WINDOW = (
    "SELECT write_id, seq, data, del_from, del_to, TTL(data), WRITETIME(data) "
    "FROM {ks}.point_blocks WHERE " + _WINDOW_KEY + " AND window_start = ?"
)
_WRITE = (
    "INSERT INTO {ks}.point_blocks (project, metric, tag_hash, row_time, "
    "window_start, write_id, seq, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "USING TTL ? AND TIMESTAMP ?"
)
_DELETE = (
    "DELETE FROM {ks}.point_blocks WHERE "
    + _WINDOW_KEY
    + " AND window_start = ? AND write_id IN ? AND seq = ?"
)

# A window: project, metric, tag hash, row time, window start.
Window = tuple[str, str, int, int, int]


def shard_of(tag_hash: int) -> int:
    return tag_hash % SHARDS


# Queue rows per unlogged batch (one shard, one partition): about 5 KiB, Cassandra's
# batch size warning.
QUEUE_BATCH = 50


def queue_batches(session: CassandraSession, rows: Sequence[Params]) -> list[Any]:
    """Queue rows as batches of one shard each: a write of 100,000 one-point series
    queues 100,000 windows in 2,000 statements, not 100,000."""
    return shard_batches(session, ENQUEUE, rows, role=Role.WRITE)


def shard_batches(
    session: CassandraSession, cql: str, rows: Sequence[Params], *, role: Role
) -> list[Any]:
    """Rows of a queue statement (its shard first) as unlogged batches of one shard,
    one partition, each: at most QUEUE_BATCH rows."""
    by_shard: dict[int, list[Params]] = {}
    for params in rows:
        by_shard.setdefault(params[0], []).append(params)
    batch = session.batches(cql, role=role)
    out = []
    for shard_rows in by_shard.values():
        for at in range(0, len(shard_rows), QUEUE_BATCH):
            stmt = batch()
            for params in shard_rows[at : at + QUEUE_BATCH]:
                stmt.add(params)
            out.append(stmt)
    return out


class CompactionQueue:
    """What a write adds to the queue: each window of a small block once per worker
    and due time (a bounded memory of what this process queued)."""

    def __init__(self, settings: CompactionSettings, *, size: int = 100_000) -> None:
        self.small_points = settings.small_points
        self.delay_ms = settings.delay_seconds * 1000
        self.size = size
        self._queued: OrderedDict[tuple[int, Window], None] = OrderedDict()
        self._lock = threading.Lock()

    def due_at(self, now_ms: int) -> int:
        # rounded up, so the writes of one period share a queue row
        return (now_ms // self.delay_ms + 1) * self.delay_ms if self.delay_ms else 0

    def needed(
        self, window: Window, points: int, now_ms: int
    ) -> tuple[int, Window] | None:
        """The queue entry a block of ``points`` points in ``window`` needs, or None
        (a block large enough, or this process queued it already)."""
        if points >= self.small_points:
            return None
        entry = (self.due_at(now_ms), window)
        with self._lock:
            if entry in self._queued:
                return None
        return entry

    def params(self, entry: tuple[int, Window]) -> tuple[Any, ...]:
        due, window = entry
        return (shard_of(window[2]), due, *window)

    def written(self, entries: Sequence[tuple[int, Window]]) -> None:
        """Remember entries once the write that carried them is acknowledged."""
        with self._lock:
            queued = self._queued
            for entry in entries:
                queued[entry] = None
                queued.move_to_end(entry)
            while len(queued) > self.size:
                queued.popitem(last=False)


@dataclass
class Outcome:
    """What a compaction run did."""

    windows: int = 0
    blocks_in: int = 0
    blocks_out: int = 0
    points: int = 0
    busy: int = 0  # windows whose lease another compactor held
    skipped: int = 0  # windows too large to merge
    errors: list[str] = field(default_factory=list)


class Compactor:
    def __init__(
        self,
        context: CassandraContext,
        settings: CompactionSettings,
        *,
        registry: TypeRegistry = REGISTRY,
    ) -> None:
        self.session = context.session
        self.context = context
        self.settings = settings
        self.registry = registry
        self.owner = uuid.uuid4().hex

    # -- the queue ------------------------------------------------------------------

    def run(self, *, all_now: bool = False, max_rounds: int = 1000) -> Outcome:
        """Compact every due window (every queued one with ``all_now``)."""
        outcome = Outcome()
        for _ in range(max_rounds):
            handled = 0  # queue entries worked off this round
            now = int(time.time() * 1000)
            horizon = LONG_MAX if all_now else now
            shards = list(range(SHARDS))
            random.shuffle(shards)  # hosts that start together take different shards
            for shard in shards:
                rows = list(
                    self.session.execute(
                        _DUE, (shard, horizon, BATCH), role=Role.META, tuples=True
                    )
                )
                if rows:
                    handled += self._shard(shard, rows, outcome)
            if not handled:
                break  # nothing due left, or only shards other compactors hold
        return outcome

    def _shard(self, shard: int, rows: list[Any], outcome: Outcome) -> int:
        """Work off due queue rows of one shard under its lease; how many."""
        lease = _Lease(self, shard)
        if not lease.take():
            outcome.busy += len(rows)
            return 0
        done = []
        try:
            for row in rows:
                if not self._compact(tuple(row[1:]), outcome, lease):
                    break  # the lease ran out: another compactor may be at it
                done.append((shard, *row))
        finally:
            try:
                # the shard's worked-off entries in a batch or two (one partition),
                # not a statement each; an entry left by a failure here is only
                # worked off again
                self._dequeue(done)
            finally:
                lease.release()
        return len(done)

    def _dequeue(self, entries: Sequence[tuple[Any, ...]]) -> None:
        self.session.execute_all(
            shard_batches(self.session, _DEQUEUE, entries, role=Role.META),
            role=Role.META,
            concurrency=self.context.write_concurrency,
        )

    def status(self) -> dict[str, Any]:
        now = int(time.time() * 1000)
        due = queued = 0
        oldest: int | None = None
        for shard in range(SHARDS):
            for (at,) in self.session.execute(
                _QUEUED, (shard,), role=Role.META, tuples=True
            ):
                queued += 1
                due += at <= now
                oldest = at if oldest is None else min(oldest, at)
        leases = self.session.execute(_LEASES, role=Role.META, tuples=True).one()[0]
        return {
            "queued_windows": queued,
            "due_now": due,
            "oldest_due_ms": oldest,
            "leases_held": int(leases),
            "settings": {
                "enabled": self.settings.enabled,
                "interval_seconds": self.settings.interval_seconds,
                "delay_seconds": self.settings.delay_seconds,
                "small_points": self.settings.small_points,
                "lease_seconds": self.settings.lease_seconds,
            },
        }

    # -- one window -----------------------------------------------------------------

    def compact_window(self, window: Window, outcome: Outcome) -> bool:
        """Merge one window's blocks; False if another compactor holds its shard."""
        lease = _Lease(self, shard_of(window[2]))
        if not lease.take():
            outcome.busy += 1
            return False
        try:
            return self._compact(window, outcome, lease)
        finally:
            lease.release()

    def _compact(self, window: Window, outcome: Outcome, lease: _Lease) -> bool:
        """Merge one window's blocks under its shard's lease; False if the lease
        was lost before anything was written."""
        session = self.session
        now = int(time.time() * 1000)
        rows = list(session.execute(_WINDOW, window, role=Role.READ, tuples=True))
        data_rows = [r for r in rows if r[2] is not None]
        markers: list[Marker] = [(r[0], r[3], r[4]) for r in rows if r[2] is None]
        stale = [m for m in markers if write_time_ms(m[0]) < now - MARKER_KEEP_MS]
        if len(data_rows) <= 1 and not stale:
            return True  # nothing to merge (a window of one block: most of them)
        if sum(blocks.count(r[2]) for r in data_rows) > MAX_WINDOW_POINTS:
            outcome.skipped += 1
            log.warning("compaction: window %s is too large to merge; left", window)
            return True
        merged = _resolved(data_rows, markers, now, self.registry)
        outputs = []
        if data_rows and len(merged.points):
            # The first merged block replaces the newest input in place; more go
            # under negative seqs, which no write uses: a block of that write still
            # in flight (a large write sends its blocks at once) lands beside them.
            key_id, key_seq = max((r[0], r[1]) for r in data_rows)
            # just after the newest input: a tombstone written after any input is
            # later than this too, and removes the merged block as it would have
            # removed the inputs
            stamp = max(r[6] for r in data_rows) + 1
            for k, at in enumerate(range(0, len(merged.points), BLOCK_POINTS)):
                seq = key_seq if k == 0 else -k
                part = slice(at, at + BLOCK_POINTS)
                exp = merged.expire_at[part]
                data = blocks.encode(
                    merged.points.take(part),
                    expire_at=exp if exp.any() else None,
                    write_ids=merged.write_ids[part],
                    registry=self.registry,
                )
                outputs.append((key_id, seq, data, _ttl_of(exp, now), stamp))
        if not lease.held():
            outcome.busy += 1
            return False  # the lease ran out: another compactor may be at it
        project, metric, h, rt, ws = window
        bind = session.bind
        concurrency = self.context.write_concurrency
        session.execute_all(
            [
                bind(_WRITE, (project, metric, h, rt, ws, wid, seq, data, ttl, stamp))
                for wid, seq, data, ttl, stamp in outputs
            ],
            role=Role.WRITE,
            concurrency=concurrency,
        )
        kept = {(wid, seq) for wid, seq, *_ in outputs}
        inputs = [(r[0], r[1]) for r in data_rows] + [(m[0], 0) for m in stale]
        # The inputs' deletes share the window's partition: one statement per seq
        # (almost always only seq 0) names their write ids in a list, each key
        # exactly (never a range, nor a write id with a seq that was not read: a
        # block of that write may still be in flight). A statement per input cost
        # the driver most of a merge's CPU (a window of 100-point writes has 72).
        by_seq: dict[int, list[int]] = {}
        for wid, seq in inputs:
            if (wid, seq) not in kept:
                by_seq.setdefault(seq, []).append(wid)
        deletes = []
        for seq, wids in by_seq.items():
            for at in range(0, len(wids), _DELETES_PER_STATEMENT):
                listed = wids[at : at + _DELETES_PER_STATEMENT]
                deletes.append(bind(_DELETE, (*window, listed, seq)))
        session.execute_all(deletes, role=Role.WRITE, concurrency=concurrency)
        outcome.windows += 1
        outcome.blocks_in += len(data_rows)
        outcome.blocks_out += len(outputs)
        outcome.points += len(merged.points)
        return True


# Write ids per delete statement (Cassandra's IN list takes a few hundred at ease).
_DELETES_PER_STATEMENT = 500


def _resolved(
    data_rows: Sequence[Any],
    markers: Sequence[Marker],
    now: int,
    registry: TypeRegistry,
) -> Resolved:
    """The window's live points, each with its write id and expiry: a block that
    records none has its write's id, and expires with its row's TTL."""
    return resolve_blocks(
        [r[2] for r in data_rows],
        [r[0] for r in data_rows],
        [now + r[5] * 1000 if r[5] else 0 for r in data_rows],
        markers,
        now,
        registry,
    )


def _ttl_of(expire_at: np.ndarray, now_ms: int) -> int:
    """The row TTL of a merged block: until its last point expires (0 = never)."""
    if not len(expire_at) or (expire_at == 0).any():
        return 0
    return max(1, math.ceil((int(expire_at.max()) - now_ms) / 1000) + 1)


class _Lease:
    """A shard's lease: the one compactor of all hosts that holds it works on the
    windows of that shard (a window's shard is fixed by its series' hash). A row of
    ``compaction_leases`` under a key no window has (no project or metric is
    empty), taken with a lightweight transaction and a TTL, so a compactor that
    dies frees it. One lease a round of up to BATCH windows, not one a window: the
    three statements a window it cost were a third of a merge's CPU."""

    def __init__(self, compactor: Compactor, shard: int) -> None:
        self.session = compactor.session
        self.owner = compactor.owner
        self.ttl = compactor.settings.lease_seconds
        self.key = shard_lease_key(shard)
        self.at = 0.0  # (monotonic) when it was last taken or renewed

    def take(self) -> bool:
        at = time.monotonic()  # before it is asked: its TTL runs from later
        taken = self.session.execute(
            _LEASE, (*self.key, self.owner, self.ttl), role=Role.META, tuples=True
        ).one()
        self.at = at
        return bool(taken[0])

    def held(self) -> bool:
        """Whether this compactor still holds the lease, just before it writes: a
        merge reads and resolves a window in a fraction of a second, so the lease
        is renewed only once half its TTL may have passed (a GC pause, a slow
        store), and then by a lightweight transaction that fails if it was lost."""
        at = time.monotonic()
        if at - self.at <= self.ttl / 2:
            return True
        renewed = self.session.execute(
            _RENEW,
            (self.ttl, self.owner, *self.key, self.owner),
            role=Role.META,
            tuples=True,
        ).one()
        self.at = at
        return bool(renewed[0])

    def release(self) -> None:
        self.session.execute(
            _RELEASE, (*self.key, self.owner), role=Role.META, tuples=True
        )


def shard_lease_key(shard: int) -> Window:
    """The key of a shard's lease in ``compaction_leases``."""
    return ("", "", shard, 0, 0)


class Background:
    """The compactor of one worker process, every ``interval`` seconds (jittered so
    the workers of a deployment do not poll together). Started on the first write,
    after gunicorn has forked."""

    def __init__(self, compactor: Compactor, interval: float) -> None:
        self.compactor = compactor
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pass = threading.Lock()  # held for the length of a pass

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="datapoints-compactor", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval * random.uniform(0.5, 1.5)):
            try:
                with self._pass:
                    done = self.compactor.run()
                if done.windows:
                    log.info(
                        "compacted %d windows: %d blocks into %d, %d points",
                        done.windows,
                        done.blocks_in,
                        done.blocks_out,
                        done.points,
                    )
            except Exception:
                # a background pass: the next one retries; reads stay exact meanwhile
                log.exception("compaction pass failed")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No pass runs in this process meanwhile (one under way is waited for): for
        measuring what a request alone sends to Cassandra."""
        with self._pass:
            yield

    def stop(self) -> None:
        self._stop.set()

"""Coalescing small writes from concurrent requests into replica-grouped batches.

An SDK posts one event per request, so each request writes one row. The driver's cost
per statement (~80 µs of Python per request) then dominates the service. Each process
therefore hands its single-row writes to one flusher thread, which sends whatever has
gathered as unlogged batches, one per replica (rows of one batch share their primary
replica, so the coordinator is the node that stores them, as KairosDB groups its
batches). A request waits until the batch holding its rows is acknowledged: a 2xx still
means the data is stored. Nothing waits to fill a batch: the rows that arrived while the
previous batch was in flight make the next one, so an idle service adds no latency.

Batches mix the requests of every project, so a failure must stay with the request that
caused it. A row that cannot be bound (a value Cassandra cannot hold) fails its own
request, in the request's thread, before any row of it is queued. A batch Cassandra
refuses for a reason of its data is sent again split, one batch per request, so only
the culprit's request fails. A failure of the store itself (a timeout, a node down)
fails every member with a 503: retrying is safe, and splitting would not help.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

from service import cooperative, errors
from service.storage.cassandra.session import (
    CassandraSession,
    Params,
    Role,
    is_transient,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Rows and encoded bytes per batch: multi-partition batches count against Cassandra's
# batch_size_fail_threshold (50 KiB by default).
MAX_ROWS = 40
MAX_BYTES = 32 * 1024
# Partitions per batch: Cassandra warns about unlogged batches covering more than
# unlogged_batch_across_partitions_warn_threshold (10 by default) partitions.
MAX_PARTITIONS = 10
# Batches in flight at once, per process.
MAX_IN_FLIGHT = 8


# A larger write's rows grouped into batches (``replica_batches``): at most this many
# bytes a batch, Cassandra's batch_size_warn_threshold (5 KiB by default), so a
# batch of blocks never fills its log with warnings.
GROUPED_BYTES = 5 * 1024

# A row to write: its statement's CQL text, its values and about how many bytes it
# encodes to.
Row = tuple[str, Params, int]
# A row ready to batch: its bound statement, routing key, primary replica and size,
# and the request waiting for it.
_Row = tuple[Any, bytes, Any, int, "_Waiter"]
# The members of one batch: bound statement and waiter, one per row.
_Members = list[tuple[Any, "_Waiter"]]


class _Waiter:
    """One request's rows in flight: an event its thread waits on, or under the loop
    worker (``service.cooperative``) a future its greenlet awaits."""

    __slots__ = ("done", "error", "future", "left", "lock")

    def __init__(self, parts: int, future: asyncio.Future[Any] | None = None) -> None:
        # (a greenlet's waiter is finished on the loop's thread alone: no lock)
        self.future = future
        self.done = threading.Event() if future is None else None
        self.lock = threading.Lock() if future is None else None
        self.left = parts
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None) -> None:
        if self.lock is None:
            self._finish(error)
        else:
            with self.lock:
                self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.left -= 1
        if self.left <= 0:
            if self.done is not None:
                self.done.set()
            elif self.future is not None and not self.future.done():
                self.future.set_result(None)

    def wait(self, timeout: float) -> bool:
        """(a thread's) Whether all rows were answered within ``timeout``."""
        assert self.done is not None
        return self.done.wait(timeout)


class Coalescer:
    def __init__(self, session: CassandraSession) -> None:
        self.session = session
        self._pending: deque[_Row] = deque()
        # batches refused for their data, to send again one request per batch
        self._retry: deque[_Members] = deque()
        self._cond = threading.Condition()
        self._slots = threading.Semaphore(MAX_IN_FLIGHT)
        self._pid: int | None = None
        # Under the loop worker the loop's thread flushes instead of a thread of
        # ours: requests hand their rows over and await them in their greenlets
        # (``service.cooperative``), so a small write switches no thread but the
        # driver's. Only the loop's thread touches these two then.
        self._in_flight = 0
        self._scheduled = False

    def write(self, rows: list[Row]) -> None:
        """Write (CQL, params, approximate bytes) rows; return once Cassandra has
        acknowledged all of them, or raise. A row that cannot be bound fails the
        request here, in its own thread, before any of its rows is queued."""
        if not rows:
            return
        loop = cooperative.loop()
        in_loop = cooperative.active()
        waiter = _Waiter(len(rows), loop.create_future() if in_loop and loop else None)
        routed = self.session.routed([(cql, params) for cql, params, _ in rows])
        ready: list[_Row] = [
            (bound, routing, replica, size, waiter)
            for (bound, routing, replica), (_, _, size) in zip(
                routed, rows, strict=True
            )
        ]
        # A bound on the wait, so a lost callback can never hang a request.
        timeout = self.session.settings.request_timeout * 3
        if loop is None:
            with self._cond:
                self._ensure_flusher()
                self._pending.extend(ready)
                self._cond.notify()
            acknowledged = waiter.wait(timeout)
        else:
            self._pending.extend(ready)
            if in_loop:
                self._schedule()
                assert waiter.future is not None
                acknowledged = cooperative.wait_within(waiter.future, timeout)
            else:  # a pool thread of the loop worker (a large request)
                loop.call_soon_threadsafe(self._schedule)
                acknowledged = waiter.wait(timeout)
        if not acknowledged:
            raise errors.Unavailable(
                "The data store did not acknowledge the write in time; retrying the "
                "request is safe."
            )
        if waiter.error is not None:
            raise waiter.error

    # -- flushing on the serving loop ------------------------------------------------

    def _schedule(self) -> None:
        # Not at once: the requests that arrived with this one are still to run in
        # this turn of the loop, and their rows make the same batch.
        if not self._scheduled:
            self._scheduled = True
            loop = cooperative.loop()
            assert loop is not None
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._in_flight >= MAX_IN_FLIGHT:
            return  # the next acknowledgement flushes what gathers meanwhile
        self._send_all(*self._take())

    def _landed(self, members: _Members, error: BaseException | None) -> None:
        """A batch answered (on the loop's thread)."""
        self._in_flight -= 1
        if error is None or not self._split(members, error):
            for _, waiter in members:
                waiter.finish(error)
        if self._pending or self._retry:
            self._schedule()

    # -- flushing on a thread of ours (no serving loop) -------------------------------

    def _ensure_flusher(self) -> None:
        if self._pid != os.getpid():  # first use, or a fork since: start our own
            self._pid = os.getpid()
            self._pending.clear()
            self._retry.clear()
            threading.Thread(
                target=self._run, name="write-coalescer", daemon=True
            ).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._retry:
                    self._cond.wait()
                alone, taken = self._take()
            self._send_all(alone, taken)

    # -- either way ------------------------------------------------------------------

    def _take(self) -> tuple[list[_Members], list[_Row]]:
        """What waits to be sent: refused batches to send again one request per
        batch, and the rows queued since the last flush."""
        alone = list(self._retry)
        self._retry.clear()
        taken = list(self._pending)
        self._pending.clear()
        return alone, taken

    def _send_all(self, alone: list[_Members], taken: list[_Row]) -> None:
        try:
            for members in alone:
                waiter = members[0][1]
                if waiter.error is None:
                    self._execute(members)
                else:  # another batch of the request failed already
                    for _ in members:
                        waiter.finish(None)
            self._send(taken)
        except BaseException as exc:  # never let a flush fail its requests silently
            log.exception("write coalescer failed")
            for members in alone:
                for _, waiter in members:
                    waiter.finish(exc)
            for _, _, _, _, waiter in taken:
                waiter.finish(exc)

    def _send(self, taken: list[_Row]) -> None:
        for rows in _by_replica(taken, lambda row: row[2]).values():
            for run in _runs([(row[1], row[3]) for row in rows], MAX_BYTES):
                self._execute([(bound, waiter) for bound, _, _, _, waiter in rows[run]])

    def _execute(self, members: _Members) -> None:
        loop = cooperative.loop()
        done: Callable[[], object]
        failed: Callable[[BaseException], object]
        if loop is None:
            self._slots.acquire()
            done = partial(self._done, members)
            failed = partial(self._failed, members)
        else:
            self._in_flight += 1
            done = partial(cooperative.soon, self._landed, members, None)
            failed = partial(cooperative.soon, self._landed, members)
        self.session.send_batch(
            [bound for bound, _ in members], role=Role.WRITE, done=done, failed=failed
        )

    def _done(self, members: _Members) -> None:
        self._slots.release()
        for _, waiter in members:
            waiter.finish(None)

    def _failed(self, members: _Members, error: BaseException) -> None:
        # (on the driver's event loop: nothing here may block)
        self._slots.release()
        if not self._split(members, error):
            for _, waiter in members:
                waiter.finish(error)

    def _split(self, members: _Members, error: BaseException) -> bool:
        """Whether a refused batch of several requests goes again as one batch per
        request (only the culprit's then fails); if not, its members fail."""
        if is_transient(error):
            return False
        requests: dict[int, _Members] = {}
        for member in members:
            requests.setdefault(id(member[1]), []).append(member)
        if len(requests) <= 1:
            return False
        log.info(
            "a batch of %d requests was refused (%s); sending each alone",
            len(requests),
            type(error.__cause__ or error).__name__,
        )
        if cooperative.loop() is None:
            with self._cond:
                self._retry.extend(requests.values())
                self._cond.notify()
        else:  # (called on the loop's thread)
            self._retry.extend(requests.values())
            self._schedule()
        return True


def replica_batches(
    session: CassandraSession, rows: list[Row], *, max_bytes: int = GROUPED_BYTES
) -> list[Any]:
    """The statements that write ``rows`` (a request's own, sent and awaited by the
    caller with ``execute_all``): rows of one primary replica together in unlogged
    batches of at most MAX_PARTITIONS partitions and ``max_bytes``, as the coalescer
    makes them; a row alone, or larger than ``max_bytes``, as a plain statement. The
    driver's cost is per statement (~0.1-0.3 ms of CPU, its event loop's share
    included): a request of 100 series x 100 points sends 10 batches instead of 100
    inserts. A row that cannot be bound raises before anything is sent."""
    routed = session.routed([(cql, params) for cql, params, _ in rows])
    out: list[Any] = []
    small: list[tuple[Any, bytes, Any, int]] = []
    for (bound, routing, replica), (_, _, size) in zip(routed, rows, strict=True):
        if size > max_bytes:
            out.append(bound)
        else:
            small.append((bound, routing, replica, size))
    for members in _by_replica(small, lambda row: row[2]).values():
        for run in _runs([(row[1], row[3]) for row in members], max_bytes):
            taken = [row[0] for row in members[run]]
            out.append(taken[0] if len(taken) == 1 else session.bound_batch(taken))
    return out


def _by_replica(rows: list[_T], replica_of: Callable[[_T], Any]) -> dict[Any, list[_T]]:
    """Rows by their primary replica (a batch's rows share their coordinator)."""
    groups: dict[Any, list[_T]] = {}
    for row in rows:
        groups.setdefault(replica_of(row), []).append(row)
    return groups


def _runs(rows: Sequence[tuple[bytes, int]], max_bytes: int) -> Iterator[slice]:
    """Consecutive runs of rows, given as (routing key, bytes), that one unlogged
    batch may hold: at most MAX_ROWS rows, MAX_PARTITIONS partitions and
    ``max_bytes`` (a larger row alone)."""
    start = 0
    while start < len(rows):
        end = start
        partitions: set[bytes] = set()
        size = 0
        while end < len(rows) and end - start < MAX_ROWS:
            routing, row_size = rows[end]
            if end > start and (
                size + row_size > max_bytes
                or (routing not in partitions and len(partitions) >= MAX_PARTITIONS)
            ):
                break
            partitions.add(routing)
            size += row_size
            end += 1
        yield slice(start, end)
        start = end

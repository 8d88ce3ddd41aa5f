"""Coalescing small writes from concurrent requests into replica-grouped batches.

An SDK posts one event per request, so each request writes one row. The driver's cost
per statement (~80 µs of Python per request) then dominates the service. Each process
therefore hands its single-row writes to one flusher thread, which sends whatever has
gathered as unlogged batches, one per replica (rows of one batch share their primary
replica, so the coordinator is the node that stores them, as KairosDB groups its
batches). A request waits until the batch holding its rows is acknowledged: a 2xx still
means the data is stored. Nothing waits to fill a batch: the rows that arrived while the
previous batch was in flight make the next one, so an idle service adds no latency.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from typing import Any

from service import errors
from service.storage.cassandra.session import CassandraSession, Role, translate

log = logging.getLogger(__name__)

# Rows and encoded bytes per batch: multi-partition batches count against Cassandra's
# batch_size_fail_threshold (50 KiB by default).
MAX_ROWS = 40
MAX_BYTES = 32 * 1024
# Partitions per batch: Cassandra warns about unlogged batches covering more than
# unlogged_batch_across_partitions_warn_threshold (10 by default) partitions.
MAX_PARTITIONS = 10
# Batches in flight at once, per process.
MAX_IN_FLIGHT = 8


class _Waiter:
    __slots__ = ("done", "error", "left", "lock")

    def __init__(self, parts: int) -> None:
        self.done = threading.Event()
        self.left = parts
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def finish(self, error: BaseException | None) -> None:
        with self.lock:
            if error is not None and self.error is None:
                self.error = error
            self.left -= 1
            if self.left <= 0:
                self.done.set()


class Coalescer:
    def __init__(self, session: CassandraSession, *, keyspace: str) -> None:
        self.session = session
        self.keyspace = keyspace
        self._pending: deque[tuple[Any, tuple[Any, ...], int, _Waiter]] = deque()
        self._cond = threading.Condition()
        self._slots = threading.Semaphore(MAX_IN_FLIGHT)
        self._pid: int | None = None

    def write(self, rows: list[tuple[Any, tuple[Any, ...], int]]) -> None:
        """Write (prepared statement, params, approximate bytes) rows; return once
        Cassandra has acknowledged all of them, or raise."""
        if not rows:
            return
        waiter = _Waiter(len(rows))
        with self._cond:
            self._ensure_flusher()
            self._pending.extend(
                (stmt, params, size, waiter) for stmt, params, size in rows
            )
            self._cond.notify()
        # A bound on the wait, so a lost callback can never hang a worker.
        if not waiter.done.wait(self.session.settings.request_timeout * 3):
            raise errors.Unavailable(
                "The data store did not acknowledge the write in time; retrying the "
                "request is safe."
            )
        if waiter.error is not None:
            raise waiter.error

    def _ensure_flusher(self) -> None:
        if self._pid != os.getpid():  # first use, or a fork since: start our own
            self._pid = os.getpid()
            self._pending.clear()
            threading.Thread(
                target=self._run, name="write-coalescer", daemon=True
            ).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                taken = list(self._pending)
                self._pending.clear()
            try:
                self._send(taken)
            except BaseException as exc:  # never let the flusher die silently
                log.exception("write coalescer failed")
                for _, _, _, waiter in taken:
                    waiter.finish(exc)

    def _send(self, taken: list[tuple[Any, tuple[Any, ...], int, _Waiter]]) -> None:
        metadata = self.session.session.cluster.metadata
        groups: dict[Any, list[tuple[Any, int, bytes, _Waiter]]] = {}
        for stmt, params, size, waiter in taken:
            # bound once: for its routing key here and as the batch's member below
            bound = stmt.bind(params)
            routing = bound.routing_key
            replicas = metadata.get_replicas(self.keyspace, routing)
            groups.setdefault(replicas[0] if replicas else None, []).append(
                (bound, size, routing, waiter)
            )
        for rows in groups.values():
            start = 0
            while start < len(rows):
                batch = self.session.batch(Role.WRITE)
                members: list[_Waiter] = []
                partitions: set[bytes] = set()
                size = 0
                while start < len(rows) and len(batch) < MAX_ROWS:
                    bound, row_size, routing, waiter = rows[start]
                    if len(batch) and (
                        size + row_size > MAX_BYTES
                        or (
                            routing not in partitions
                            and len(partitions) >= MAX_PARTITIONS
                        )
                    ):
                        break
                    batch.add(bound)
                    members.append(waiter)
                    partitions.add(routing)
                    size += row_size
                    start += 1
                self._slots.acquire()
                self.session.counts["write"] += 1
                future = self.session.session.execute_async(batch)
                future.add_callbacks(
                    self._done,
                    self._failed,
                    callback_args=(members,),
                    errback_args=(members,),
                )

    def _done(self, _result: Any, members: list[_Waiter]) -> None:
        self._slots.release()
        for waiter in members:
            waiter.finish(None)

    def _failed(self, exc: BaseException, members: list[_Waiter]) -> None:
        self._slots.release()
        error = translate(exc, "acknowledge the write")
        for waiter in members:
            waiter.finish(error)

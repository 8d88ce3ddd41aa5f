"""Which index rows this process has written recently.

Index rows are idempotent, but writing them with every request would cost more
statements than the data itself. So each process remembers, for a bounded time and
count, which index rows it has written, and skips them while that memory is fresh:

* Freshness is bounded by ``max_age`` seconds, and index rows are written with a TTL
  of the data's TTL plus a margin larger than ``max_age``: a skipped index row is
  therefore always still alive when the data written now expires.
* A metric delete, in whatever process, is recorded in ``index_invalidations``; before
  trusting its memory a process re-reads that partition if it has not done so for
  ``poll_interval`` seconds, and forgets the deleted metrics.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

Key = tuple[Any, ...]


class IndexCache:
    def __init__(
        self,
        *,
        max_entries: int,
        max_age: float,
        poll: Callable[[], Iterable[tuple[str, str, object]]],
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._poll = poll
        self.poll_interval = poll_interval
        self._clock = clock
        self._entries: OrderedDict[Key, float] = OrderedDict()
        self._seen_deletes: dict[tuple[str, str], object] = {}
        self._last_poll = -float("inf")
        self._lock = threading.Lock()

    def missing(self, keys: Iterable[Key]) -> list[Key]:
        """The keys not known to be written, in the order given, without repeats."""
        self._refresh_invalidations()
        now = self._clock()
        out: list[Key] = []
        seen: set[Key] = set()
        with self._lock:
            for key in keys:
                if key in seen:
                    continue
                seen.add(key)
                written = self._entries.get(key)
                if written is None or now - written > self.max_age:
                    out.append(key)
        return out

    def remember(self, keys: Iterable[Key]) -> None:
        """Record keys whose index rows the store has just acknowledged."""
        if self.max_entries <= 0:
            return
        now = self._clock()
        with self._lock:
            for key in keys:
                self._entries[key] = now
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_metric(self, project: str, metric: str) -> None:
        with self._lock:
            stale = [k for k in self._entries if k[1:3] == (project, metric)]
            for key in stale:
                del self._entries[key]

    def _refresh_invalidations(self) -> None:
        if self.max_entries <= 0:
            return  # nothing remembered, nothing to forget
        now = self._clock()
        with self._lock:  # one thread polls; the others go on with what is known
            if now - self._last_poll < self.poll_interval:
                return
            self._last_poll = now
        for project, metric, deleted_at in self._poll():
            if self._seen_deletes.get((project, metric)) != deleted_at:
                self._seen_deletes[(project, metric)] = deleted_at
                self.forget_metric(project, metric)

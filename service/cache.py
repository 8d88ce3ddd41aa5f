"""A small per-process cache of what was read from the store, trusted for a while.

Reads take no lock (a dict lookup is atomic); writes do. The cache is bounded: once
full, each new entry drops the oldest one written, so memory stays fixed whatever
keys clients send. An entry is trusted for ``seconds`` from when it was written, so
a change made elsewhere (another worker, another host) is seen within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        *,
        seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("a cache holds at least one entry")
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def fresh(self, key: K) -> bool:
        """True when ``key`` has an entry still trusted."""
        hit = self._entries.get(key)
        return hit is not None and self._clock() - hit[0] < self.seconds

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The value of ``key``: the cached one while it is trusted, else ``load()``'s,
        which is kept (a ``None`` too: an answer that something does not exist is
        worth keeping as much as one that it does)."""
        hit = self._entries.get(key)
        now = self._clock()
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = load()
        self._put(key, value, now)
        return value

    def put(self, key: K, value: V) -> None:
        self._put(key, value, self._clock())

    def forget(self, key: K) -> None:
        """Drop ``key``'s entry: this process changed what it holds."""
        with self._lock:
            self._entries.pop(key, None)

    def _put(self, key: K, value: V, at: float) -> None:
        with self._lock:
            entries = self._entries
            entries.pop(key, None)  # (re-inserted last: it is now the newest)
            while len(entries) >= self.max_entries:
                del entries[next(iter(entries))]
            entries[key] = (at, value)

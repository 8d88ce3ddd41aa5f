"""Admission of heavy requests: a few run at once, the next wait first come, first
served for a short while, the rest are turned away.

Used by the worker's main loop only (one thread), so it needs no lock; what waits is
a connection with its head read, not a thread.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Verdict(enum.Enum):
    RUN = "run"
    WAIT = "wait"
    REJECT = "reject"


class Admission(Generic[T]):
    def __init__(self, *, slots: int, wait: float) -> None:
        self.slots = slots
        self.wait = wait
        self.running = 0
        # (deadline, item) in arrival order, hence in deadline order too
        self.waiting: deque[tuple[float, T]] = deque()

    def enter(self, item: T, now: float) -> Verdict:
        if self.running < self.slots and not self.waiting:
            self.running += 1
            return Verdict.RUN
        if self.wait <= 0:
            return Verdict.REJECT
        self.waiting.append((now + self.wait, item))
        return Verdict.WAIT

    def leave(self) -> T | None:
        """A heavy request finished: the next one waiting, which now runs."""
        self.running -= 1
        if self.waiting and self.running < self.slots:
            self.running += 1
            return self.waiting.popleft()[1]
        return None

    def expired(self, now: float) -> list[T]:
        """Those that waited their time out (they no longer wait)."""
        out = []
        while self.waiting and self.waiting[0][0] <= now:
            out.append(self.waiting.popleft()[1])
        return out

    def next_deadline(self) -> float | None:
        return self.waiting[0][0] if self.waiting else None

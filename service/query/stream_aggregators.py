"""Aggregators that transform the stream point by point (diff, rate, sma, filter...).

They work in the query's order: with ``"order": "desc"`` a rate pairs each point with
the one before it in that order, as KairosDB does.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from service.query.stages import Pt, StageContext
from service.query.timeunits import Duration, add


class Diff:
    """Each value minus the one before it, stamped at the later point."""

    def __init__(self) -> None:
        self.prev: Pt | None = None

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        out: list[Pt] = []
        prev = self.prev
        for point in batch:
            if prev is not None:
                out.append((point[0], point[1] - prev[1]))
            prev = point
        self.prev = prev
        return out

    def finish(self) -> list[Pt]:
        return []


class Map:
    """A function of each value (div, scale)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        fn = self.fn
        return [(ts, fn(v)) for ts, v in batch]

    def finish(self) -> list[Pt]:
        return []


class Rate:
    """Change per ``sampling`` between consecutive points: (v1 - v0) / (t1 - t0) scaled
    to the sampling's length at t0 (a month's length depends on the month). With
    ``sampler`` semantics the later value itself is divided, not the change.

    Two points at the same time have no rate; KairosDB fails the whole query there
    (HTTP 500), this skips the pair.
    """

    def __init__(self, sampling: Duration, ctx: StageContext, *, sampler: bool) -> None:
        self.sampling = sampling
        self.tz = ctx.time_zone
        self.sampler = sampler
        self.prev: Pt | None = None
        fixed = sampling.unit in ("MILLISECONDS", "SECONDS", "MINUTES", "HOURS")
        self.fixed = add(0, sampling.value, sampling.unit) if fixed else 0

    def _length(self, t0: int) -> int:
        return (
            self.fixed or add(t0, self.sampling.value, self.sampling.unit, self.tz) - t0
        )

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        out: list[Pt] = []
        prev = self.prev
        for point in batch:
            if prev is not None and point[0] != prev[0]:
                t0, v0 = prev
                t1, v1 = point
                delta = v1 if self.sampler else v1 - v0
                out.append((t1, delta / (t1 - t0) * self._length(t0)))
            prev = point
        self.prev = prev
        return out

    def finish(self) -> list[Pt]:
        return []


class Sma:
    """Simple moving average of the last ``size`` values; the first output comes with
    the size-th point."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.window: deque[Any] = deque()
        self.total: Any = 0

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        out: list[Pt] = []
        window, size = self.window, self.size
        for ts, v in batch:
            window.append(v)
            self.total += v
            if len(window) > size:
                self.total -= window.popleft()
            if len(window) == size:
                # re-sum now and then would cost more; floats drift only in the
                # last bits over very long streams
                out.append((ts, self.total / size))
        return out

    def finish(self) -> list[Pt]:
        return []


FILTER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "lte": operator.le,
    "lt": operator.lt,
    "gte": operator.ge,
    "gt": operator.gt,
    "equal": operator.eq,
    "ne": operator.ne,
}


class Filter:
    """Drops the points for which ``value <op> threshold`` holds, as KairosDB does.

    A string threshold compares with string values and a number with numbers; points
    of the other kind are dropped too.
    """

    def __init__(self, op: str, threshold: Any) -> None:
        self.op = FILTER_OPS[op]
        self.threshold = threshold
        self.text = isinstance(threshold, str)

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        op, threshold, text = self.op, self.threshold, self.text
        out = []
        for point in batch:
            v = point[1]
            comparable = isinstance(v, str) if text else _is_number(v)
            if comparable and not op(v, threshold):
                out.append(point)
        return out

    def finish(self) -> list[Pt]:
        return []


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Trim:
    """Drops the first point of the stream, the last, or both."""

    def __init__(self, which: str) -> None:
        self.drop_first = which in ("first", "both")
        self.drop_last = which in ("last", "both")
        self.held: Pt | None = None

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        points = list(batch)
        if self.drop_first and points:
            points = points[1:]
            self.drop_first = False
        if not self.drop_last or not points:
            return points
        out = ([self.held] if self.held is not None else []) + points[:-1]
        self.held = points[-1]
        return out

    def finish(self) -> list[Pt]:
        return []


# save_as writes what it has collected whenever it holds this many points.
SAVE_CHUNK = 10_000


class SaveAs:
    """Passes points through and writes them as another metric (in chunks)."""

    def __init__(
        self,
        ctx: StageContext,
        metric: str,
        tags: dict[str, str],
        ttl: int,
        saved_from: bool,
    ) -> None:
        self.ctx = ctx
        self.metric = metric
        self.tags = {**ctx.group_tags, **tags}
        if saved_from:
            self.tags["saved_from"] = ctx.metric
        self.ttl = ttl
        self.points: list[Pt] = []

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        self.points.extend(p for p in batch if p[1] is not None)
        if len(self.points) >= SAVE_CHUNK:
            self._save()
        return list(batch)

    def finish(self) -> list[Pt]:
        self._save()
        return []

    def _save(self) -> None:
        if self.points and self.ctx.save is not None:
            self.ctx.save(self.metric, self.tags, self.ttl, self.points)
        self.points = []

"""Range aggregators: one output per range of ``sampling`` (avg, sum, percentile...).

Ranges are consecutive periods of ``sampling`` from an origin: the aggregator's
``start_time``, else the query's start, moved back to the start of its second, day,
week, month or year when ``align_sampling`` is set (KairosDB's rule). Only ranges that
hold points are emitted (``gaps`` emits the empty ones too). An output is stamped with
the first point the range received, or with the range's start (``align_start_time``)
or end (``align_end_time``).

Integer inputs stay integers where the arithmetic allows (sum, min, max, first, last,
count), so longs stay exact.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from service import errors
from service.query.stages import Pt, StageContext
from service.query.timeunits import Buckets, Duration, align, clamp

# A percentile over more values than this in one range is computed over a uniform
# random sample of this many (KairosDB samples 1028).
PERCENTILE_SAMPLE = 100_000


@dataclass(frozen=True)
class RangeOptions:
    sampling: Duration = field(default_factory=lambda: Duration(1, "MILLISECONDS"))
    align_sampling: bool = True
    align_start_time: bool = False
    align_end_time: bool = False
    start_time: int | None = None

    def buckets(self, ctx: StageContext) -> Buckets:
        origin = ctx.start if self.start_time is None else self.start_time
        if self.align_sampling:
            origin = align(origin, self.sampling.unit, ctx.time_zone)
        return Buckets(origin, self.sampling, ctx.time_zone)


class Accumulator:
    """What one range keeps while its points arrive."""

    def add(self, points: Sequence[Pt]) -> None:
        raise NotImplementedError

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        raise NotImplementedError


class RangeStage:
    def __init__(
        self, opts: RangeOptions, ctx: StageContext, make: Callable[[], Accumulator]
    ) -> None:
        self.opts = opts
        self.buckets = opts.buckets(ctx)
        self.make = make
        self.current: tuple[int, int] | None = None
        self.acc: Accumulator | None = None
        self.first_ts = 0

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        out: list[Pt] = []
        i, n = 0, len(batch)
        while i < n:
            ts = batch[i][0]
            cur = self.current
            if cur is None or not cur[0] <= ts < cur[1]:
                out += self._emit()
                cur = self.current = self.buckets.of(ts)
                self.acc = self.make()
                self.first_ts = ts
            start, end = cur
            j = i + 1
            while j < n and start <= batch[j][0] < end:
                j += 1
            assert self.acc is not None
            self.acc.add(batch[i:j])
            i = j
        return out

    def finish(self) -> list[Pt]:
        return self._emit()

    def _emit(self) -> list[Pt]:
        if self.acc is None or self.current is None:
            return []
        acc, (start, end) = self.acc, self.current
        self.acc = None
        # (a range may begin before, or end after, the 64-bit range of times)
        if self.opts.align_start_time:
            return acc.result(clamp(start), True)
        if self.opts.align_end_time:
            return acc.result(clamp(end), True)
        return acc.result(self.first_ts, False)


# -- accumulators -----------------------------------------------------------------------


def added(total: Any, values: Iterable[Any]) -> Any:
    """``total + v0 + v1 + ...`` left to right (not ``sum``: Python 3.12's compensates
    float rounding), carried across chunks so that no answer depends on where pages
    end."""
    for v in values:
        total = total + v
    return total


class Sum(Accumulator):
    def __init__(self) -> None:
        self.total: Any = 0

    def add(self, points: Sequence[Pt]) -> None:
        self.total = added(self.total, (v for _, v in points))

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, self.total)]


class Count(Accumulator):
    def __init__(self) -> None:
        self.n = 0

    def add(self, points: Sequence[Pt]) -> None:
        self.n += len(points)

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, self.n)]


class Avg(Accumulator):
    def __init__(self) -> None:
        self.total: Any = 0
        self.n = 0

    def add(self, points: Sequence[Pt]) -> None:
        self.total = added(self.total, (v for _, v in points))
        self.n += len(points)

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, self.total / self.n)]


class Min(Accumulator):
    def __init__(self) -> None:
        self.value: Any = None

    def add(self, points: Sequence[Pt]) -> None:
        low = min(v for _, v in points)
        if self.value is None or low < self.value:
            self.value = low

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, self.value)]


class Max(Min):
    def add(self, points: Sequence[Pt]) -> None:
        high = max(v for _, v in points)
        if self.value is None or high > self.value:
            self.value = high


class First(Accumulator):
    def __init__(self) -> None:
        self.point: Pt | None = None

    def add(self, points: Sequence[Pt]) -> None:
        if self.point is None:
            self.point = points[0]

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        assert self.point is not None
        return [(stamp, self.point[1])]


class Last(First):
    def add(self, points: Sequence[Pt]) -> None:
        self.point = points[-1]

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        # KairosDB stamps `last` with the last point's own time unless aligned.
        assert self.point is not None
        return [(stamp if aligned else self.point[0], self.point[1])]


class Dev(Accumulator):
    """Sample standard deviation (n - 1) from the sums of the values' deviations from
    the range's first value, added in order: the same answer however the range's
    points arrive in chunks (the vectorised engine adds the same numbers in the same
    order), and the shift keeps the sums small where values are large and close."""

    def __init__(self) -> None:
        self.n = 0
        self.shift = 0.0
        self.s1 = 0.0
        self.s2 = 0.0

    def add(self, points: Sequence[Pt]) -> None:
        if not self.n:
            self.shift = float(points[0][1])
        shift, s1, s2 = self.shift, self.s1, self.s2
        for _, v in points:
            d = float(v) - shift
            s1 += d
            s2 += d * d
        self.s1, self.s2 = s1, s2
        self.n += len(points)

    @property
    def mean(self) -> float:
        return self.shift + self.s1 / self.n

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        if self.n < 2:
            return [(stamp, 0.0)]
        if self.s2 == math.inf:  # squared deviations past the largest double
            return [(stamp, math.inf)]
        var = (self.s2 - self.s1 * (self.s1 / self.n)) / (self.n - 1)
        return [(stamp, math.sqrt(max(var, 0.0)))]


class LeastSquares(Accumulator):
    """A straight-line fit of value on time: two points, at the range's first and last
    timestamps (one or two points in the range come back as they are)."""

    def __init__(self) -> None:
        self.kept: list[Pt] = []
        self.n = 0
        self.x0 = 0
        self.last_ts = 0
        self.sx = self.sy = self.sxx = self.sxy = 0.0

    def add(self, points: Sequence[Pt]) -> None:
        if not self.n:
            self.x0 = points[0][0]
        if len(self.kept) < 2:
            self.kept.extend(points[: 2 - len(self.kept)])
        x0 = self.x0
        for ts, v in points:
            # x relative to the first timestamp keeps the sums small and exact enough
            x, y = float(ts - x0), float(v)
            self.sx += x
            self.sy += y
            self.sxx += x * x
            self.sxy += x * y
        self.n += len(points)
        self.last_ts = points[-1][0]

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        if self.n < 3:
            return list(self.kept)
        n = self.n
        denom = n * self.sxx - self.sx * self.sx
        slope = (n * self.sxy - self.sx * self.sy) / denom if denom else 0.0
        intercept = (self.sy - slope * self.sx) / n
        return [
            (self.x0, intercept),
            (self.last_ts, intercept + slope * (self.last_ts - self.x0)),
        ]


class Percentile(Accumulator):
    """KairosDB's estimator: sorted values, position q * (n + 1), interpolated."""

    def __init__(self, q: float) -> None:
        self.q = q
        self.values: list[float] = []
        self.seen = 0
        self.rng = random.Random(0)  # a sample that is the same on every run

    def add(self, points: Sequence[Pt]) -> None:
        for _, v in points:
            self.seen += 1
            if len(self.values) < PERCENTILE_SAMPLE:
                self.values.append(float(v))
            else:  # reservoir sampling (algorithm R)
                slot = self.rng.randrange(self.seen)
                if slot < PERCENTILE_SAMPLE:
                    self.values[slot] = float(v)

    def result(self, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, percentile(sorted(self.values), self.q))]


def percentile(ordered: Sequence[float], q: float) -> float:
    n = len(ordered)
    pos = q * (n + 1)
    if pos < 1:
        return ordered[0]
    if pos >= n:
        return ordered[-1]
    lower, upper = ordered[int(pos) - 1], ordered[int(pos)]
    return lower + (pos - math.floor(pos)) * (upper - lower)


# -- gaps: every range, empty ones as null ------------------------------------------


class GapsStage:
    """Passes points through and adds ``[start, null]`` for every range in the query
    that holds none, from the query's start to its end (or now, if later)."""

    def __init__(self, opts: RangeOptions, ctx: StageContext) -> None:
        self.buckets = opts.buckets(ctx)
        self.desc = ctx.descending
        first = self.buckets.index(ctx.start)
        last = self.buckets.index(min(ctx.end, ctx.now))
        if last - first > ctx.max_points:
            raise errors.InvalidInput(
                f"gaps would mark more than {ctx.max_points} ranges; "
                "use a larger sampling or a shorter time range."
            )
        self.first, self.last = first, last
        self.expected = last if self.desc else first

    def _nulls_until(self, k: int) -> list[Pt]:
        out: list[Pt] = []
        step = -1 if self.desc else 1
        while (self.expected > k) if self.desc else (self.expected < k):
            out.append((clamp(self.buckets.start_of(self.expected)), None))
            self.expected += step
        return out

    def push(self, batch: Sequence[Pt]) -> list[Pt]:
        out: list[Pt] = []
        for point in batch:
            k = self.buckets.index(point[0])
            out += self._nulls_until(k)
            out.append(point)
            self.expected = k - 1 if self.desc else k + 1
        return out

    def finish(self) -> list[Pt]:
        return self._nulls_until(self.first - 1 if self.desc else self.last + 1)

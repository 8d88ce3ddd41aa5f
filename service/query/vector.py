"""The query engine's stages on numpy columns: whole chunks at a time.

A vector stage takes a chunk of points as two arrays, timestamps (int64) and values
(int64 for longs, float64 for doubles, objects when a chunk mixes numeric types or
carries nulls) and returns its outputs the same way. Range aggregators find their
ranges with arithmetic on the timestamp column (fixed-length units) or a walk over
range edges with ``np.searchsorted`` (calendar units), and reduce every range of a
chunk at once (``np.add.reduceat``, ``np.minimum.reduceat``...); only the range still
open at the end of a chunk is kept, as a few Python numbers, for the next chunk.

Every stage gives what the point-by-point stages (``range_aggregators``,
``stream_aggregators``) give; those stay as the oracle the property tests compare
against (``QueryEngine(columnar=False)``). Where numpy would compute differently,
the stage does what Python does: integer sums that could pass 64 bits are summed
exactly, an average of integers is divided as Python divides when its sum is
beyond 2**53, object arrays (mixed ints and floats) are reduced with Python's own
arithmetic per range, and floats are summed in Python's order and rounding
(``exact_sums``), never pairwise as ``np.add.reduceat`` would.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from service import errors
from service.query import range_aggregators as ra
from service.query import stream_aggregators as sa
from service.query.exact_sums import lengths_of, sequential_sums
from service.query.stages import AggregatorSpec, Pt, StageContext
from service.query.timeunits import LONG_MAX, LONG_MIN, Buckets, clamp

I64 = np.dtype(np.int64)
F64 = np.dtype(np.float64)
OBJ = np.dtype(object)
_EMPTY_TS = np.empty(0, I64)
# |sum| of this many int64 values each below 2**(63 - k) cannot overflow: checked
# per chunk before summing in int64.
_EXACT_DOUBLE = 2**53

Cols = tuple[np.ndarray, np.ndarray]


def at(values: np.ndarray, i: int) -> Any:
    """The value at ``i`` as a Python number."""
    v = values[i]
    return v.item() if values.dtype != OBJ else v


def empty() -> Cols:
    return _EMPTY_TS, np.empty(0, OBJ)


class VStage(Protocol):
    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        """Take the next points; return the outputs that are final."""

    def finish(self) -> Cols:
        """No more input: the remaining outputs."""


def cols(points: Sequence[Pt]) -> Cols:
    """Python ``(ts, value)`` pairs as columns (values in the narrowest exact one)."""
    ts = np.fromiter((p[0] for p in points), I64, len(points))
    return ts, column([p[1] for p in points])


def column(values: list[Any]) -> np.ndarray:
    """Python numbers as the narrowest exact column: int64 when all are ints that
    fit, float64 when all are floats, objects otherwise."""
    if values and all(type(v) is int for v in values):
        if all(LONG_MIN <= v <= LONG_MAX for v in values):
            return np.array(values, I64)
    elif values and all(type(v) is float for v in values):
        return np.array(values, F64)
    out = np.empty(len(values), OBJ)
    out[:] = values
    return out


def concat(parts: list[Cols]) -> Cols:
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return empty()
    if len(parts) == 1:
        return parts[0]
    ts = np.concatenate([p[0] for p in parts])
    dtypes = {p[1].dtype for p in parts}
    if len(dtypes) == 1:
        return ts, np.concatenate([p[1] for p in parts])
    vals = np.empty(len(ts), OBJ)
    at = 0
    for _, v in parts:
        vals[at : at + len(v)] = v.tolist() if v.dtype != OBJ else v
        at += len(v)
    return ts, vals


def non_null(ts: np.ndarray, vals: np.ndarray) -> Cols:
    if vals.dtype != OBJ:
        return ts, vals
    keep = vals != None  # noqa: E711 (elementwise comparison with None)
    if keep.all():
        return ts, vals
    return ts[keep], vals[keep]


def as_lists(ts: np.ndarray, vals: np.ndarray, finite: bool) -> tuple[list[Any], ...]:
    """Columns as JSON-ready lists; with ``finite``, a float NaN or infinity is
    None (what ``stages.finite`` does to aggregated points)."""
    values = vals.tolist()
    if finite:
        if vals.dtype == F64:
            bad = ~np.isfinite(vals)
            if bad.any():
                for i in np.flatnonzero(bad).tolist():
                    values[i] = None
        elif vals.dtype == OBJ:
            values = [
                None if type(v) is float and not math.isfinite(v) else v for v in values
            ]
    return ts.tolist(), values


# -- ranges ---------------------------------------------------------------------------


def segments(keys: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal keys (the first is 0)."""
    if len(keys) == 0:
        return np.empty(0, np.intp)
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate(([0], change)).astype(np.intp)


def _int64(n: int) -> bool:
    return LONG_MIN <= n <= LONG_MAX


class Ranges:
    """Which range of ``buckets`` each point falls in, as a range number."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets

    def numbers(self, ts: np.ndarray) -> np.ndarray:
        b = self.buckets
        if b.width:
            first, last = int(ts[0]), int(ts[-1])
            low, high = min(first, last) - b.origin, max(first, last) - b.origin
            if low >= LONG_MIN and high <= LONG_MAX and _int64(b.origin):
                out: np.ndarray = (ts - np.int64(b.origin)) // np.int64(b.width)
                return out
            # at the ends of time a difference passes 64 bits: Python's integers
            origin, width = b.origin, b.width
            return column([(t - origin) // width for t in ts.tolist()])
        starts, numbers = self.split(ts)
        return np.repeat(numbers, np.diff(np.append(starts, len(ts))))

    def split(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The runs of points in one range: where each starts, and its number.

        A sorted chunk's ranges are found from their edges (``np.searchsorted``):
        work per range, not per point, unless the ranges are nearly as many as the
        points (then one division per point is cheaper)."""
        n = len(ts)
        desc = n > 1 and ts[0] > ts[-1]
        asc = ts[::-1] if desc else ts
        b = self.buckets
        if b.width:
            found = self._fixed(asc)
            if found is None:
                numbers = self.numbers(ts)
                return segments(numbers), numbers[segments(numbers)]
            starts, numbers = found
        else:
            starts, numbers = self._walk(asc)
        if desc:  # the same runs, from the other end
            ends = np.append(starts[1:], n)
            return (n - ends)[::-1].astype(np.intp), numbers[::-1]
        return starts, numbers

    def _fixed(self, asc: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        b = self.buckets
        origin, width = b.origin, b.width
        k0 = (int(asc[0]) - origin) // width
        k1 = (int(asc[-1]) - origin) // width
        if k1 - k0 > max(16, len(asc) // 8) or not (
            _int64(k0)
            and _int64(k1)
            and _int64(origin + width * k0)
            and _int64(origin + width * (k1 + 1))
        ):
            return None
        edges = np.int64(origin + width * k0) + np.int64(width) * np.arange(
            1, k1 - k0 + 1, dtype=I64
        )
        starts = np.concatenate(([0], np.searchsorted(asc, edges, "left")))
        numbers = np.arange(k0, k1 + 1, dtype=I64)
        if k1 > k0:  # ranges without points have no run
            held = np.diff(np.append(starts, len(asc))) > 0
            starts, numbers = starts[held], numbers[held]
        return starts.astype(np.intp), numbers

    def _walk(self, asc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calendar ranges: a step per range, not per point."""
        n = len(asc)
        numbers: list[int] = []
        starts: list[int] = []
        i = 0
        b = self.buckets
        while i < n:
            k = b.index(int(asc[i]))
            end = b.start_of(k + 1)
            j = n if end > LONG_MAX else int(np.searchsorted(asc, end, "left"))
            numbers.append(k)
            starts.append(i)
            i = j
        return np.array(starts, np.intp), column(numbers)


class Reducer:
    """One range aggregator: partial results per segment (arrays), merged with the
    open range's state (Python numbers), turned into outputs."""

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        """Partials of the segments beginning at ``starts``. ``head`` is the state of
        the open range when the first segment continues it (a reducer whose oracle
        accumulates across chunks carries on from it; the others ignore it)."""
        raise NotImplementedError

    def state(self, parts: Any, i: int) -> Any:
        """Segment ``i``'s partial as Python numbers."""
        raise NotImplementedError

    def merge(self, a: Any, b: Any) -> Any:
        """The open range's state ``a`` and the continuing segment's ``b`` as one
        (``b`` computed with ``a`` as its ``head``)."""
        raise NotImplementedError

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        raise NotImplementedError

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        """Outputs of segments lo..hi-1 (complete ranges, none merged)."""
        out: list[Pt] = []
        for i, stamp in zip(range(lo, hi), stamps.tolist(), strict=True):
            out += self.result(self.state(parts, i), stamp, aligned)
        return cols(out)


class VRangeStage:
    def __init__(self, opts: ra.RangeOptions, ctx: StageContext, red: Reducer) -> None:
        self.opts = opts
        self.buckets = opts.buckets(ctx)
        self.ranges = Ranges(self.buckets)
        self.red = red
        self.open: Any = None  # (range number, first ts, state) of the open range

    def _stamps(self, numbers: list[int], first_ts: list[int]) -> list[int]:
        b = self.buckets
        if self.opts.align_start_time:
            return [clamp(b.start_of(k)) for k in numbers]
        if self.opts.align_end_time:
            return [clamp(b.start_of(k + 1)) for k in numbers]
        return first_ts

    def _stamp_array(self, numbers: np.ndarray, first_ts: np.ndarray) -> np.ndarray:
        b = self.buckets
        if not (self.opts.align_start_time or self.opts.align_end_time):
            return first_ts
        if b.width and numbers.dtype == I64 and len(numbers) and _int64(b.origin):
            k = numbers + (1 if self.opts.align_end_time else 0)
            lo, hi = int(k.min()), int(k.max())
            if _int64(b.origin + lo * b.width) and _int64(b.origin + hi * b.width):
                out: np.ndarray = np.int64(b.origin) + k * np.int64(b.width)
                return out
        return np.array(self._stamps(numbers.tolist(), first_ts.tolist()), I64)

    def _emit(self, opened: Any) -> list[Pt]:
        number, first, st = opened
        (stamp,) = self._stamps([number], [first])
        return self.red.result(
            st, stamp, self.opts.align_start_time or self.opts.align_end_time
        )

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        if not len(ts):
            return empty()
        starts, numbers = self.ranges.split(ts)
        m = len(starts)
        red = self.red
        aligned = self.opts.align_start_time or self.opts.align_end_time
        head_number = at(numbers, 0)
        merging = self.open is not None and self.open[0] == head_number
        parts = red.partials(ts, vals, starts, self.open[2] if merging else None)
        out: list[Pt] = []
        if self.open is not None and not merging:
            out += self._emit(self.open)
        head_state = red.state(parts, 0)
        if merging:
            head_first = self.open[1]
            head_state = red.merge(self.open[2], head_state)
        else:
            head_first = int(ts[0])
        if m == 1:
            self.open = (head_number, head_first, head_state)
            return cols(out) if out else empty()
        out += self._emit((head_number, head_first, head_state))
        last = m - 1
        self.open = (
            at(numbers, last),
            int(ts[starts[last]]),
            red.state(parts, last),
        )
        middle = empty()
        if last > 1:
            seg = starts[1:last]
            stamps = self._stamp_array(numbers[1:last], ts[seg])
            middle = red.results(parts, 1, last, stamps, aligned)
        if not out:
            return middle
        return concat([cols(out), middle])

    def finish(self) -> Cols:
        if self.open is None:
            return empty()
        out = self._emit(self.open)
        self.open = None
        return cols(out)


# -- reducers -------------------------------------------------------------------------


def _py_segments(vals: np.ndarray, starts: np.ndarray) -> list[list[Any]]:
    bounds = np.append(starts, len(vals)).tolist()
    items = vals.tolist()
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


def int_sums(vals: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Exact sums of int64 segments: int64 when no sum can pass 64 bits, else Python
    integers (the high and low 32 bits summed apart, then joined)."""
    n = len(vals)
    top = max(abs(int(vals.max())), abs(int(vals.min()))) if n else 0
    if top * n <= LONG_MAX:
        out: np.ndarray = np.add.reduceat(vals, starts)
        return out
    high = np.add.reduceat(vals >> 32, starts)
    low = np.add.reduceat(vals & 0xFFFFFFFF, starts)
    return column(
        [(h << 32) + lo for h, lo in zip(high.tolist(), low.tolist(), strict=True)]
    )


def sums(vals: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if vals.dtype == I64:
        return int_sums(vals, starts)
    if vals.dtype == F64:
        return sequential_sums(vals, starts)
    return column([ra.added(0, seg) for seg in _py_segments(vals, starts)])


def divide(totals: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``total / count`` per range as Python computes it (a correctly rounded
    quotient: exact integers up to 2**53 give that in float64 too)."""
    if totals.dtype == F64:
        out: np.ndarray = totals / counts
        return out
    if (
        totals.dtype == I64
        and len(totals)
        and int(np.abs(totals).max()) <= _EXACT_DOUBLE
    ):
        quotient: np.ndarray = totals.astype(F64) / counts
        return quotient
    return column(
        [t / c for t, c in zip(totals.tolist(), counts.tolist(), strict=True)]
    )


def fold(head: Any, seg: np.ndarray) -> Any:
    """``head + seg[0] + seg[1] + ...`` as Python adds them: integers exactly, floats
    in order, an integer head made a float by the first float."""
    if seg.dtype == I64 and isinstance(head, int):
        return head + at(int_sums(seg, np.zeros(1, np.intp)), 0)
    if seg.dtype in (I64, F64):
        return sequential_sums(seg, np.zeros(1, np.intp), float(head)).item()
    return ra.added(head, seg.tolist())


def _head_total(vals: np.ndarray, starts: np.ndarray, head: Any) -> Any:
    """The open range's total carried on through this chunk's first segment."""
    if head is None:
        return None
    end = int(starts[1]) if len(starts) > 1 else len(vals)
    return fold(head, vals[:end])


class ColumnR(Reducer):
    """A reducer whose partials are one column, a value per segment."""

    def state(self, parts: Any, i: int) -> Any:
        return at(parts, i)

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, state)]

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        return stamps, parts[lo:hi]


class SumR(ColumnR):
    """A range's values added in order from 0, across chunks (``ra.added``): the
    open range's total is carried into the next chunk."""

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        return sums(vals, starts), _head_total(vals, starts, head)

    def state(self, parts: Any, i: int) -> Any:
        totals, carried = parts
        return carried if i == 0 and carried is not None else at(totals, i)

    def merge(self, a: Any, b: Any) -> Any:
        return b  # (b carried on from a)

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        return stamps, parts[0][lo:hi]


class CountR(ColumnR):
    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        return lengths_of(starts, len(vals))

    def merge(self, a: Any, b: Any) -> Any:
        return a + b


class AvgR(Reducer):
    """``sum / count`` per range, the sum as ``SumR`` adds it."""

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        carried = _head_total(vals, starts, None if head is None else head[0])
        return sums(vals, starts), lengths_of(starts, len(vals)), carried

    def state(self, parts: Any, i: int) -> Any:
        total, n, carried = parts
        if i == 0 and carried is not None:
            return (carried, int(n[0]))
        return (at(total, i), int(n[i]))

    def merge(self, a: Any, b: Any) -> Any:
        return (b[0], a[1] + b[1])  # (b's total carried on from a's)

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp, state[0] / state[1])]

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        total, n, _ = parts
        return stamps, divide(total[lo:hi], n[lo:hi])


class MinR(ColumnR):
    """The first smallest value (Python's ``min`` keeps the first of equals, which
    tells 0.0 from -0.0)."""

    ufunc: Any = np.minimum
    better: Callable[[Any, Any], bool] = staticmethod(lambda new, old: new < old)

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        if vals.dtype == OBJ:
            pick = min if self.ufunc is np.minimum else max
            return column([pick(seg) for seg in _py_segments(vals, starts)])
        out = self.ufunc.reduceat(vals, starts)
        if vals.dtype == F64:
            zero = out == 0
            if zero.any():  # which zero came first, as Python would keep it
                zeros = np.flatnonzero(vals == 0)
                first = zeros[np.searchsorted(zeros, starts[zero])]
                out[zero] = vals[first]
        return out

    def merge(self, a: Any, b: Any) -> Any:
        return b if self.better(b, a) else a


class MaxR(MinR):
    ufunc = np.maximum
    better = staticmethod(lambda new, old: new > old)


class FirstR(ColumnR):
    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        return vals[starts]

    def merge(self, a: Any, b: Any) -> Any:
        return a


class LastR(Reducer):
    """The last value, stamped with its own time unless aligned (KairosDB)."""

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        ends = np.append(starts[1:], len(vals)) - 1
        return ts[ends], vals[ends]

    def state(self, parts: Any, i: int) -> Any:
        t, v = parts
        return (int(t[i]), at(v, i))

    def merge(self, a: Any, b: Any) -> Any:
        return b

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        return [(stamp if aligned else state[0], state[1])]

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        t, v = parts
        return (stamps if aligned else t[lo:hi]), v[lo:hi]


class DevR(Reducer):
    """Sample standard deviation from sums of deviations from the range's first
    value, added in order across chunks (``range_aggregators.Dev``'s arithmetic)."""

    def __init__(self, band: tuple[int, int] | None = None) -> None:
        self.band = band  # (sign, dev_count) for pos_sd / neg_sd

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        x = vals.astype(F64)
        n = lengths_of(starts, len(x))
        shift = x[starts]
        carried = (0.0, 0.0)
        if head is not None:
            shift[0], carried = head[1], (head[2], head[3])
        with np.errstate(over="ignore", invalid="ignore"):
            d = x - np.repeat(shift, n)
            s1 = sequential_sums(d, starts, carried[0])
            s2 = sequential_sums(d * d, starts, carried[1])
        return n, shift, s1, s2

    def state(self, parts: Any, i: int) -> Any:
        n, shift, s1, s2 = parts
        return (int(n[i]), float(shift[i]), float(s1[i]), float(s2[i]))

    def merge(self, a: Any, b: Any) -> Any:
        return (a[0] + b[0], a[1], b[2], b[3])  # (b's sums carried on from a's)

    def _value(self, n: Any, shift: Any, s1: Any, s2: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mean_dev = s1 / n
            var = (s2 - s1 * mean_dev) / np.maximum(n - 1, 1)
            sd = np.where(
                n < 2,
                0.0,
                np.where(s2 == math.inf, math.inf, np.sqrt(np.maximum(var, 0.0))),
            )
            if self.band is None:
                return sd
            sign, k = self.band
            return (shift + mean_dev) + sign * k * sd

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        v = self._value(*(np.array([x]) for x in state))
        return [(stamp, float(v[0]))]

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        n, shift, s1, s2 = (p[lo:hi] for p in parts)
        return stamps, np.asarray(self._value(n, shift, s1, s2), F64)


class LeastSquaresR(Reducer):
    """Sums of x, y, x², xy per range, x relative to the range's first timestamp."""

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        n = lengths_of(starts, len(ts))
        origin = ts[starts].copy()
        carried = (0.0, 0.0, 0.0, 0.0)
        if head is not None:  # the oracle's sums run on across chunks: so do these
            origin[0], carried = head[1], head[4]
        x = (ts - np.repeat(origin, n)).astype(F64)
        y = vals.astype(F64)
        ends = np.append(starts[1:], len(ts)) - 1
        second = np.minimum(starts + 1, ends)
        sx, sy, sxx, sxy = (
            sequential_sums(col, starts, c)
            for col, c in zip((x, y, x * x, x * y), carried, strict=True)
        )
        return {
            "n": n,
            "x0": origin,
            "sx": sx,
            "sy": sy,
            "sxx": sxx,
            "sxy": sxy,
            "last": ts[ends],
            "kept": (ts[starts], vals[starts], ts[second], vals[second]),
        }

    def state(self, parts: Any, i: int) -> Any:
        n = int(parts["n"][i])
        t0, v0, t1, v1 = (a[i] for a in parts["kept"])
        kept = [(int(t0), v0.item() if hasattr(v0, "item") else v0)]
        if n > 1:
            kept.append((int(t1), v1.item() if hasattr(v1, "item") else v1))
        sums4 = tuple(float(parts[k][i]) for k in ("sx", "sy", "sxx", "sxy"))
        return (n, int(parts["x0"][i]), int(parts["last"][i]), kept, sums4)

    def merge(self, a: Any, b: Any) -> Any:
        n = a[0] + b[0]
        kept = (a[3] + b[3])[:2]
        return (n, a[1], b[2], kept, b[4])  # (b's sums carried on from a's)

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        n, x0, last, kept, (sx, sy, sxx, sxy) = state
        if n < 3:
            return list(kept)
        denom = n * sxx - sx * sx
        slope = (n * sxy - sx * sy) / denom if denom else 0.0
        intercept = (sy - slope * sx) / n
        return [(x0, intercept), (last, intercept + slope * (last - x0))]


class PercentileR(Reducer):
    """KairosDB's estimator over every value of a range up to ``PERCENTILE_SAMPLE``;
    past that, the oracle's reservoir sample (its seeded random choices)."""

    def __init__(self, q: float) -> None:
        self.q = q

    def partials(
        self,
        ts: np.ndarray,
        vals: np.ndarray,
        starts: np.ndarray,
        head: Any = None,
    ) -> Any:
        return vals, starts

    def state(self, parts: Any, i: int) -> Any:
        vals, starts = parts
        end = starts[i + 1] if i + 1 < len(starts) else len(vals)
        return [vals[starts[i] : end]]

    def merge(self, a: Any, b: Any) -> Any:
        if isinstance(a, ra.Percentile):
            a.add([(0, v) for v in b[0].tolist()])
            return a
        merged = a + b
        if sum(len(x) for x in merged) <= ra.PERCENTILE_SAMPLE:
            return merged
        acc = ra.Percentile(self.q)
        for x in merged:
            acc.add([(0, v) for v in x.tolist()])
        return acc

    def result(self, state: Any, stamp: int, aligned: bool) -> list[Pt]:
        if isinstance(state, ra.Percentile):
            return state.result(stamp, aligned)
        values = np.concatenate(state).astype(F64)
        if len(values) > ra.PERCENTILE_SAMPLE:
            acc: ra.Percentile = self.merge([], state)
            return acc.result(stamp, aligned)
        return [(stamp, _percentile_sorted(np.sort(values, kind="stable"), self.q))]

    def results(
        self, parts: Any, lo: int, hi: int, stamps: np.ndarray, aligned: bool
    ) -> Cols:
        """Every complete range's percentile at once: one stable sort by (range,
        value), then KairosDB's interpolation on each range's slice."""
        vals, starts = parts
        first, stop = int(starts[lo]), int(starts[hi])
        n = np.diff(starts[lo : hi + 1])
        if n.max() > ra.PERCENTILE_SAMPLE:
            return super().results(parts, lo, hi, stamps, aligned)
        x = vals[first:stop].astype(F64)
        ranges = np.repeat(np.arange(len(n)), n)
        ordered = x[np.lexsort((x, ranges))]
        offsets = starts[lo:hi] - first
        pos = self.q * (n + 1)
        whole = np.clip(pos.astype(I64), 1, np.maximum(n - 1, 1))
        lower = ordered[offsets + whole - 1]
        upper = ordered[offsets + np.minimum(whole, n - 1)]
        out = lower + (pos - np.floor(pos)) * (upper - lower)
        out = np.where(pos < 1, ordered[offsets], out)
        out = np.where(pos >= n, ordered[offsets + n - 1], out)
        return stamps, out


def _percentile_sorted(ordered: np.ndarray, q: float) -> float:
    return float(ra.percentile(_Indexable(ordered), q))  # type: ignore[arg-type]


class _Indexable:
    """A sorted array read as ``ra.percentile`` reads a list (Python floats)."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    def __len__(self) -> int:
        return len(self.arr)

    def __getitem__(self, i: int) -> float:
        return float(self.arr[i])


# -- stream stages ----------------------------------------------------------------------


def _fits(values: np.ndarray, bound: int = LONG_MAX) -> bool:
    """True when every |value| of an int64 column is at most ``bound``."""
    return (
        not len(values) or max(abs(int(values.min())), abs(int(values.max()))) <= bound
    )


def subtract(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` elementwise with Python's results: int64 when no difference can pass
    64 bits, Python integers otherwise; float64 and objects as they are."""
    if a.dtype == I64 and b.dtype == I64:
        if _fits(a, 2**62) and _fits(b, 2**62):
            out: np.ndarray = a - b
            return out
        return column([x - y for x, y in zip(a.tolist(), b.tolist(), strict=True)])
    if a.dtype != OBJ and b.dtype != OBJ:
        diff: np.ndarray = a.astype(F64) - b.astype(F64)
        return diff
    return column([x - y for x, y in zip(a.tolist(), b.tolist(), strict=True)])


def _with_prev(
    prev: tuple[int, Any] | None, ts: np.ndarray, vals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if prev is None:
        return ts, vals
    return concat([cols([prev]), (ts, vals)])


def _last(ts: np.ndarray, vals: np.ndarray) -> tuple[int, Any]:
    return int(ts[-1]), at(vals, -1)


class VDiff:
    def __init__(self) -> None:
        self.prev: tuple[int, Any] | None = None

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        all_ts, all_vals = _with_prev(self.prev, ts, vals)
        self.prev = _last(ts, vals)
        return all_ts[1:], subtract(all_vals[1:], all_vals[:-1])

    def finish(self) -> Cols:
        return empty()


class VMap:
    """``value <op> number`` for every value (div, scale): int64 values become floats
    the way Python turns an int into a float, with one rounding."""

    def __init__(self, op: Callable[[Any, Any], Any], number: float) -> None:
        self.op = op
        self.number = number

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        if vals.dtype == OBJ:
            n = self.number
            return ts, column([self.op(v, n) for v in vals.tolist()])
        out: np.ndarray = self.op(vals.astype(F64), self.number)
        return ts, out

    def finish(self) -> Cols:
        return empty()


class VRate:
    """``stream_aggregators.Rate`` on columns."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner  # the oracle's Rate: its sampling, zone and lengths
        self.prev: tuple[int, Any] | None = None

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        all_ts, all_vals = _with_prev(self.prev, ts, vals)
        self.prev = _last(ts, vals)
        t0, t1 = all_ts[:-1], all_ts[1:]
        keep = t1 != t0
        t0, t1 = t0[keep], t1[keep]
        v1 = all_vals[1:][keep]
        delta = v1 if self.inner.sampler else subtract(v1, all_vals[:-1][keep])
        if not len(t1):
            return empty()
        span = subtract(t1, t0)
        if self.inner.fixed:
            lengths: Any = self.inner.fixed
        else:  # a calendar unit: the length of the one starting at each t0
            lengths = column([self.inner._length(t) for t in t0.tolist()])
        exact = (
            delta.dtype in (I64, F64)
            and span.dtype == I64
            and (delta.dtype == F64 or _fits(delta, _EXACT_DOUBLE))
            and _fits(span, _EXACT_DOUBLE)
            and (
                lengths <= _EXACT_DOUBLE
                if isinstance(lengths, int)
                else lengths.dtype == I64 and _fits(lengths, _EXACT_DOUBLE)
            )
        )
        if exact:
            out: np.ndarray = delta.astype(F64) / span.astype(F64) * lengths
            return t1, out
        each = np.broadcast_to(np.asarray(lengths, OBJ), t1.shape).tolist()
        return t1, column(
            [
                d / s * n
                for d, s, n in zip(delta.tolist(), span.tolist(), each, strict=True)
            ]
        )

    def finish(self) -> Cols:
        return empty()


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "lte": np.less_equal,
    "lt": np.less,
    "gte": np.greater_equal,
    "gt": np.greater,
    "equal": np.equal,
    "ne": np.not_equal,
}


class VFilter:
    """Drops the values for which ``value <op> threshold`` holds (numbers here: a
    text threshold drops them all)."""

    def __init__(self, name: str, threshold: Any) -> None:
        self.name = name
        self.threshold = threshold
        self.py = sa.Filter(name, threshold)

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        if isinstance(self.threshold, str):
            return empty()
        t = self.threshold
        if vals.dtype == F64:  # an int threshold converts to a double exactly?
            exact = type(t) is float or abs(t) <= _EXACT_DOUBLE
        elif vals.dtype == I64:
            exact = _int64(t) if type(t) is int else _fits(vals, _EXACT_DOUBLE)
        else:
            exact = False
        if not exact:  # big ints against a double, mixed types: Python compares
            return cols(
                self.py.push(list(zip(ts.tolist(), vals.tolist(), strict=True)))
            )
        keep = ~_COMPARE[self.name](vals, self.threshold)
        return ts[keep], vals[keep]

    def finish(self) -> Cols:
        return empty()


class VTrim:
    def __init__(self, which: str) -> None:
        self.drop_first = which in ("first", "both")
        self.drop_last = which in ("last", "both")
        self.held: Cols | None = None

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        if self.drop_first and len(ts):
            ts, vals = ts[1:], vals[1:]
            self.drop_first = False
        if not self.drop_last or not len(ts):
            return ts, vals
        held, self.held = self.held, (ts[-1:], vals[-1:])
        body = (ts[:-1], vals[:-1])
        return concat([held, body]) if held is not None else body

    def finish(self) -> Cols:
        return empty()


class VSaveAs:
    """Passes points through; the oracle's SaveAs writes them (in its chunks)."""

    def __init__(self, inner: sa.SaveAs) -> None:
        self.inner = inner

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        kept_ts, kept = non_null(ts, vals)
        self.inner.push(list(zip(kept_ts.tolist(), kept.tolist(), strict=True)))
        return ts, vals

    def finish(self) -> Cols:
        self.inner.finish()
        return empty()


class VGaps:
    """``range_aggregators.GapsStage`` on columns: a null at the start of every
    range without points, between and around the points."""

    def __init__(self, inner: ra.GapsStage) -> None:
        self.inner = inner  # the oracle's stage: its ranges, bounds and position
        self.ranges = Ranges(inner.buckets)

    def _null_times(self, numbers: list[int]) -> list[int]:
        b = self.inner.buckets
        return [clamp(b.start_of(k)) for k in numbers]

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        if not len(ts):
            return empty()
        g = self.inner
        ks = self.ranges.numbers(ts)
        step = -1 if g.desc else 1
        if ks.dtype != I64:
            return cols(g.push(list(zip(ts.tolist(), vals.tolist(), strict=True))))
        before = np.concatenate(([g.expected - step], ks[:-1]))
        # ranges skipped before each point (none when in the same or an earlier one)
        missing = np.maximum((ks - before) * step - 1, 0)
        g.expected = int(ks[-1]) + step
        total = int(missing.sum())
        if not total:
            return ts, vals
        first_missing = before + step
        numbers = np.repeat(first_missing, missing) + step * (
            np.arange(total) - np.repeat(np.cumsum(missing) - missing, missing)
        )
        null_ts = np.array(self._null_times(numbers.tolist()), I64)
        n = len(ts)
        out_ts = np.empty(n + total, I64)
        out_vals = np.empty(n + total, OBJ)
        at = np.arange(n) + np.cumsum(missing)
        out_ts[at] = ts
        out_vals[at] = vals.tolist() if vals.dtype != OBJ else vals
        mask = np.ones(n + total, bool)
        mask[at] = False
        out_ts[mask] = null_ts
        out_vals[mask] = None
        return out_ts, out_vals

    def finish(self) -> Cols:
        return cols(self.inner.finish())


# -- the chain ------------------------------------------------------------------------


class VChain:
    """``stages.Chain`` on columns: the vector stages of one result group."""

    def __init__(self, specs: Sequence[AggregatorSpec], ctx: StageContext) -> None:
        self.stages: list[tuple[VStage, bool]] = []
        nulls = False
        group = "number"
        for spec in specs:
            if spec.accepts(group):
                assert spec.vmake is not None
                self.stages.append((spec.vmake(ctx), nulls and not spec.takes_nulls))
                nulls = (nulls and spec.takes_nulls) or spec.makes_nulls
                group = spec.output_group or group

    @staticmethod
    def handles(specs: Sequence[AggregatorSpec]) -> bool:
        return all(spec.vmake is not None for spec in specs)

    @property
    def aggregates(self) -> bool:
        return bool(self.stages)

    def push(self, ts: np.ndarray, vals: np.ndarray) -> Cols:
        # an infinity or NaN from a float overflow is a result (null in the answer)
        with np.errstate(all="ignore"):
            for stage, strip in self.stages:
                if strip:
                    ts, vals = non_null(ts, vals)
                if not len(ts):
                    return empty()
                ts, vals = stage.push(ts, vals)
            return ts, vals

    def finish(self) -> Cols:
        with np.errstate(all="ignore"):
            return self._finish()

    def _finish(self) -> Cols:
        carry = empty()
        for stage, strip in self.stages:
            if strip:
                carry = non_null(*carry)
            pushed = stage.push(*carry) if len(carry[0]) else empty()
            carry = concat([pushed, stage.finish()])
        return carry


def too_many(max_points: int) -> errors.InvalidInput:
    return errors.InvalidInput(
        f"The query result would hold more than {max_points} data points. "
        "Narrow the time range or the tags, add an aggregator, or set a limit."
    )

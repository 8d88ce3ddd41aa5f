"""Data points: the one way in and out of the point store for every dialect.

Writes are reduced to the last point of each series and timestamp and get the
configured default TTL; queries run on the query engine, whose ``save_as`` writes
through here too; deletes and metadata go to the store for the project asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np

from service import errors
from service.columnar import FEW, dtype_of, values_array
from service.datatypes import REGISTRY, InvalidValue
from service.query.engine import Query, QueryEngine
from service.query.stages import Pt
from service.records import (
    Point,
    PointBatch,
    Points,
    SeriesKey,
    canonical_tags,
    tags_problem,
)
from service.storage.base import Order, PointStore

K = TypeVar("K")

# A position in a read of several series in turn: (series index, last timestamp
# returned, or None for the series' start).
Cursor = tuple[int, int | None]


@dataclass(frozen=True)
class TagsFound:
    """The tags of one metric's series that hold points in a query's range."""

    metric: str
    tags: dict[str, list[str]]  # name -> sorted values, names sorted


class PointService:
    def __init__(
        self,
        store: PointStore,
        *,
        health: Callable[[], None],
        default_ttl: int,
        max_query_points: int,
    ) -> None:
        self.store = store
        self._health = health  # the backend's check: the store and its schema
        self.default_ttl = default_ttl
        self.max_query_points = max_query_points

    # -- writes -------------------------------------------------------------------

    def write(self, project: str, batches: Sequence[PointBatch]) -> None:
        """Store the points of one request; returning means all are acknowledged."""
        self.store.write_points(
            project, last_write_wins(batches), default_ttl=self.default_ttl
        )

    def delete(self, project: str, query: Query) -> None:
        """Delete exactly the points each of the query's metrics selects (name, tags
        and the query's range)."""
        points = self.store
        for mq in query.metrics:
            found = points.find_series(
                project, mq.name, mq.tags, query.start, query.end
            )
            points.delete_points(project, found, query.start, query.end)

    def delete_series(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> None:
        """Delete the points with ``start <= ts <= end`` of these series."""
        self.store.delete_points(project, series, start, end)

    def delete_metric(self, project: str, metric: str) -> None:
        self.store.delete_metric(project, metric)

    # -- reads --------------------------------------------------------------------

    def query(self, project: str, query: Query) -> list[dict[str, Any]]:
        """Each of the query's metrics run: KairosDB's result shape, which the query
        engine builds (``service.query``)."""

        def save(metric: str, tags: dict[str, str], ttl: int, points: list[Pt]) -> None:
            self._save_as(project, metric, tags, ttl, points)

        engine = QueryEngine(self.store, max_points=self.max_query_points, save=save)
        return engine.run(project, query)

    def query_tags(self, project: str, query: Query) -> list[TagsFound]:
        """Tags of the series that hold points in the query's range, exactly."""
        points = self.store
        out = []
        for mq in query.metrics:
            found = points.find_series(
                project, mq.name, mq.tags, query.start, query.end
            )
            live = points.series_with_points(project, found, query.start, query.end)
            tags: dict[str, set[str]] = {}
            for key in live:
                for name, value in key.tags:
                    tags.setdefault(name, set()).add(value)
            out.append(
                TagsFound(mq.name, {n: sorted(v) for n, v in sorted(tags.items())})
            )
        return out

    def read(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
    ) -> Iterator[Point]:
        """One series' points with ``start <= ts <= end``, in timestamp order."""
        return self.store.read_points(
            project, series, start, end, order=order, limit=limit
        )

    def read_in_turn(
        self,
        project: str,
        series: Sequence[SeriesKey],
        *,
        start: int,
        end: int,
        order: Order,
        limit: int,
        after: Cursor | None,
    ) -> tuple[list[tuple[SeriesKey, list[Point]]], Cursor | None]:
        """Points of several series in the window, series after series, at most
        ``limit`` in all, resuming at ``after``; and the position to resume from
        when more remain."""
        out: list[tuple[SeriesKey, list[Point]]] = []
        left = limit
        index = after[0] if after else 0
        while index < len(series):
            if left == 0:
                # full: a cursor only if a later series has points in the window
                for rest in range(index, len(series)):
                    if self._window(project, series[rest], start, end, order, 1):
                        return out, (rest, None)
                return out, None
            lo, hi = start, end
            if after and after[0] == index and after[1] is not None:
                # past the last point returned before
                lo, hi = (lo, after[1] - 1) if order == "desc" else (after[1] + 1, hi)
            points = self._window(project, series[index], lo, hi, order, left + 1)
            if len(points) > left:
                out.append((series[index], points[:left]))
                return out, (index, points[left - 1][0])
            if points:
                out.append((series[index], points))
            left -= len(points)
            index += 1
        return out, None

    def _window(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        order: Order,
        limit: int,
    ) -> list[Point]:
        if start > end:
            return []
        return list(self.read(project, series, start, end, order=order, limit=limit))

    def metric_names(self, project: str, prefix: str | None = None) -> list[str]:
        return self.store.metric_names(project, prefix)

    def tag_names(self, project: str, metric: str | None = None) -> list[str]:
        return self.store.tag_names(project, metric)

    def tag_values(
        self, project: str, metric: str | None = None, tag: str | None = None
    ) -> list[str]:
        return self.store.tag_values(project, metric, tag)

    def check(self) -> None:
        """Raise ``errors.Unavailable`` or ``errors.SchemaMissing`` unless the store
        answers and holds the schema this code needs."""
        self._health()

    def _save_as(
        self,
        project: str,
        metric: str,
        tags: dict[str, str],
        ttl: int,
        points: list[Pt],
    ) -> None:
        # (the group's tags, the save_as tags and saved_from, together)
        problem = tags_problem(tags)
        if problem:
            raise errors.InvalidInput(f"save_as: the new series' {problem}")
        try:
            columns = _saved_points(points)
        except InvalidValue as exc:  # e.g. an infinity from div by zero
            raise errors.InvalidInput(f"save_as: a value {exc}") from None
        self.write(
            project, [PointBatch(SeriesKey(metric, canonical_tags(tags)), columns, ttl)]
        )


def _saved_points(points: list[Pt]) -> Points:
    """What save_as stores for the points a query produced: all finite doubles or
    all longs (nearly always) as one column; anything else typed point by point."""
    if points:
        stamps, values = zip(*points, strict=True)
        kinds = set(map(type, values))
        try:
            if kinds == {float}:
                doubles = np.array(values, dtype=np.float64)
                if np.isfinite(doubles).all():
                    return Points(np.array(stamps, np.int64), doubles, ("double",))
            elif kinds == {int}:  # (numpy refuses one beyond 64 bits: a JSON value)
                longs = np.array(values, dtype=np.int64)
                return Points(np.array(stamps, np.int64), longs, ("long",))
        except OverflowError:
            pass
    return Points.from_tuples([(ts, *_typed(value)) for ts, value in points])


def _typed(value: Any) -> tuple[str, Any]:
    """What save_as stores for a value a query produced: its JSON type, except that
    a complex number (shown as {"real", "imaginary"}) is one again."""
    if isinstance(value, dict) and set(value) == {"real", "imaginary"}:
        try:
            return "complex-number", REGISTRY.get("complex-number").parse(value)
        except InvalidValue:
            pass  # not numbers: a JSON object like any other
    return REGISTRY.of_json(value)


def grouped_points(
    keys: Sequence[K],
    stamps: Sequence[int],
    kinds: Sequence[str],
    values: Sequence[Any],
) -> dict[K, Points]:
    """Points given as columns (each point's key, timestamp, type and validated
    value), as one set of columns per key, in the order given (keys in the order of
    their first point)."""
    if len(keys) <= FEW:
        return _grouped_few(keys, stamps, kinds, values)
    return _grouped_numpy(keys, stamps, kinds, values)


def _grouped_few(
    keys: Sequence[K],
    stamps: Sequence[int],
    kinds: Sequence[str],
    values: Sequence[Any],
) -> dict[K, Points]:
    """``grouped_points`` of a device's upload of a few points: grouped in plain
    Python (numpy's sorting and indexing cost more than a few points' work)."""
    at: dict[K, list[int]] = {}
    for i, key in enumerate(keys):
        at.setdefault(key, []).append(i)
    out: dict[K, Points] = {}
    for key, taken in at.items():
        ts = np.array([stamps[i] for i in taken], dtype=np.int64)
        their_kinds = [kinds[i] for i in taken]
        their_values = [values[i] for i in taken]
        kind = their_kinds[0]
        if their_kinds.count(kind) == len(their_kinds):  # (nearly always: one type)
            out[key] = Points(ts, values_array(kind, their_values), (kind,))
        else:
            out[key] = _columns(
                ts,
                np.array(their_kinds, dtype=object),
                np.fromiter(their_values, dtype=object, count=len(their_values)),
            )
    return out


def _grouped_numpy(
    keys: Sequence[K],
    stamps: Sequence[int],
    kinds: Sequence[str],
    values: Sequence[Any],
) -> dict[K, Points]:
    index: dict[K, int] = {}
    codes = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.intp)
    ts = np.array(stamps, dtype=np.int64)
    kind_arr = np.array(kinds, dtype=object)
    # (fromiter: a tuple or list value stays one object)
    value_arr = np.fromiter(values, dtype=object, count=len(values))
    if len(index) == 1:
        return {keys[0]: _columns(ts, kind_arr, value_arr)}
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(index) + 1))
    return {
        key: _columns(ts[part], kind_arr[part], value_arr[part])
        for key, part in zip(
            index,
            (order[lo:hi] for lo, hi in pairwise(bounds)),
            strict=True,
        )
    }


def _columns(ts: np.ndarray, kinds: np.ndarray, values: np.ndarray) -> Points:
    distinct = tuple(dict.fromkeys(kinds.tolist()))
    if len(distinct) == 1:
        return Points(ts, values.astype(dtype_of(distinct[0])), distinct)
    codes = np.zeros(len(ts), dtype=np.int16)
    for i, kind in enumerate(distinct[1:], 1):
        codes[kinds == kind] = i
    return Points(ts, values, distinct, codes)


def last_write_wins(batches: Sequence[PointBatch]) -> list[PointBatch]:
    """Drop points that a later point of the same series and timestamp replaces.

    Both stores overwrite a timestamp, but Cassandra gives every row of one batch the
    same write time and then keeps the larger value, not the later one; so a request
    that repeats a timestamp must be reduced to its last occurrence first.
    """
    seen: dict[SeriesKey, np.ndarray] = {}
    out: list[PointBatch] = []
    for batch in reversed(batches):
        points = batch.points.last_per_timestamp()
        taken = seen.get(batch.series)
        if taken is not None:  # the series again, earlier in the request
            keep = ~np.isin(points.ts, taken)
            if not keep.all():
                points = points.take(keep)
            seen[batch.series] = np.concatenate([taken, points.ts])
        else:
            seen[batch.series] = points.ts
        if points is not batch.points:
            batch = PointBatch(batch.series, points, batch.ttl)
        out.append(batch)
    out.reverse()
    return out

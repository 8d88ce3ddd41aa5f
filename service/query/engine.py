"""Running a metric query: find series, stream their points, group, aggregate.

Points are read series by series, partition by partition (paged), merged in time
order, split into result groups and pushed through each group's aggregator chain in
batches; only aggregated outputs are kept. A query whose output would pass
``max_points`` stops with a 400 instead of exhausting memory.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from service import errors
from service.columnar import dtype_of
from service.datatypes import REGISTRY, TypeRegistry
from service.gcpause import collector_paused
from service.query.groupers import PointGrouper, TagGroupBy
from service.query.stages import AggregatorSpec, Chain, Pt, StageContext
from service.query.vector import VChain, as_lists
from service.records import Point, Points, SeriesKey, TagFilter
from service.storage.base import Order, PointStore

BATCH = 1024


@dataclass
class MetricQuery:
    name: str
    tags: TagFilter = field(default_factory=dict)
    tag_group: TagGroupBy | None = None
    point_groups: list[PointGrouper] = field(default_factory=list)
    aggregators: list[AggregatorSpec] = field(default_factory=list)
    limit: int | None = None
    order: Order = "asc"
    exclude_tags: bool = False
    alias: str | None = None


@dataclass
class Query:
    start: int
    end: int
    now: int
    time_zone: ZoneInfo
    metrics: list[MetricQuery]


Saver = Callable[[str, dict[str, str], int, list[Pt]], None]


@dataclass
class _Pipeline:
    chain: Chain | None
    vchain: VChain | None = None
    buffer: list[Pt] = field(default_factory=list)
    taken: int = 0
    values: list[Pt] = field(default_factory=list)
    # a vector pipeline's outputs: (timestamps, values) lists, zipped at the end
    parts: list[tuple[list[Any], ...]] = field(default_factory=list)

    def points(self) -> list[Pt]:
        if self.vchain is None:
            return self.values
        ts: list[Any] = []
        values: list[Any] = []
        for t, v in self.parts:
            ts += t
            values += v
        # a tuple per point, and no cycles among them: the collector would walk
        # them again every 700 (a third of the time of a raw read's answer)
        with collector_paused():
            return list(zip(ts, values, strict=True))


class QueryEngine:
    def __init__(
        self,
        points: PointStore,
        *,
        max_points: int,
        save: Saver | None = None,
        registry: TypeRegistry = REGISTRY,
        columnar: bool = True,
    ) -> None:
        """``columnar=False`` runs the point-by-point stages throughout: the oracle
        the vectorised engine is tested against."""
        self.columnar = columnar
        self.points = points
        self.max_points = max_points
        self.save = save
        self.registry = registry
        self._kinds: dict[str, tuple[str, Callable[[Any], Any] | None]] = {}

    def run(self, project: str, query: Query) -> list[dict[str, Any]]:
        budget = [self.max_points]
        return [self._metric(project, query, mq, budget) for mq in query.metrics]

    def _metric(
        self, project: str, q: Query, mq: MetricQuery, budget: list[int]
    ) -> dict[str, Any]:
        series = self.points.find_series(project, mq.name, mq.tags, q.start, q.end)
        groups: dict[tuple[tuple[str, str], ...], list[SeriesKey]] = {}
        for key in series:
            gkey = mq.tag_group.key(dict(key.tags)) if mq.tag_group else ()
            groups.setdefault(gkey, []).append(key)
        sample_size = 0
        results = []
        for gkey in sorted(groups):
            members = groups[gkey]
            ctx = StageContext(
                metric=mq.name,
                start=q.start,
                end=q.end,
                now=q.now,
                time_zone=q.time_zone,
                descending=mq.order == "desc",
                max_points=self.max_points,
                group_tags=_single_valued(members, gkey),
                save=self.save,
            )
            pipelines: dict[tuple[Any, ...], _Pipeline] = {}
            vector = self.columnar and VChain.handles(mq.aggregators)

            def pipeline(
                pkey: tuple[Any, ...],
                ctx: StageContext = ctx,
                pipelines: dict[tuple[Any, ...], _Pipeline] = pipelines,
                vector: bool = vector,
            ) -> _Pipeline:
                pipe = pipelines.get(pkey)
                if pipe is None:
                    if vector and pkey[0] == "number":
                        pipe = _Pipeline(None, VChain(mq.aggregators, ctx))
                    else:
                        pipe = _Pipeline(Chain(mq.aggregators, pkey[0], ctx))
                    pipelines[pkey] = pipe
                return pipe

            read, contributors = self._read(project, q, mq, members, pipeline, budget)
            sample_size += read
            for pkey in sorted(pipelines, key=_sort_key):
                pipe = pipelines[pkey]
                if pipe.vchain is not None:
                    self._collect_columns(pipe, *pipe.vchain.finish(), budget)
                else:
                    assert pipe.chain is not None
                    self._collect(pipe, pipe.chain.push(pipe.buffer), budget)
                    self._collect(pipe, pipe.chain.finish(), budget)
                results.append(
                    self._result(
                        mq, gkey, pkey, pipe, [members[i] for i in contributors]
                    )
                )
        if not results:  # KairosDB 1.3.0's shape for a query that found nothing
            results = [{"name": mq.name, "tags": {}, "values": []}]
            if mq.alias:
                results[0]["alias"] = mq.alias
        return {"sample_size": sample_size, "results": results}

    def _read(
        self,
        project: str,
        q: Query,
        mq: MetricQuery,
        members: list[SeriesKey],
        pipeline: Callable[[tuple[Any, ...]], _Pipeline],
        budget: list[int],
    ) -> tuple[int, set[int]]:
        """Every point of the group's series into its pipelines: how many, and the
        indexes of the series that had some."""
        read = 0
        if not self.columnar:
            chunks, contributors = self._chunks(project, q, mq, members)
            for chunk in chunks:
                read += len(chunk)
                self._feed(mq, chunk, pipeline, budget)
            return read, contributors
        vector = VChain.handles(mq.aggregators)
        columns, contributors = self._column_chunks(project, q, mq, members)
        for part in columns:
            read += len(part)
            if vector:
                self._feed_columns(mq, part, pipeline, budget)
            else:
                page = Page(part.tuples())
                page.kind = part.kind
                self._feed(mq, page, pipeline, budget)
        return read, contributors

    def _chunks(
        self, project: str, q: Query, mq: MetricQuery, members: list[SeriesKey]
    ) -> tuple[Iterator[list[Point]], set[int]]:
        """Pages of points of all the series, merged in the query's order, and the
        indexes of the series that have points (filled in as pages arrive)."""
        streams = [_pages(chunks) for chunks in self._streams(project, q, mq, members)]
        contributors: set[int] = set()
        return merge_pages(streams, mq.order == "desc", contributors), contributors

    def _column_chunks(
        self, project: str, q: Query, mq: MetricQuery, members: list[SeriesKey]
    ) -> tuple[Iterator[Points], set[int]]:
        """As ``_chunks``, the pages kept as columns."""
        streams = self._streams(project, q, mq, members)
        contributors: set[int] = set()
        return merge_columns(streams, mq.order == "desc", contributors), contributors

    def _streams(
        self, project: str, q: Query, mq: MetricQuery, members: list[SeriesKey]
    ) -> list[Iterator[Points]]:
        """Each series' pages of columns, in the query's order."""
        # Many series read at once share a bounded buffer: smaller pages each.
        fetch = max(256, min(5000, 200_000 // max(1, len(members))))
        return [
            self.points.read_chunks(
                project,
                key,
                q.start,
                q.end,
                order=mq.order,
                limit=mq.limit,
                fetch_size=fetch,
            )
            for key in members
        ]

    def _feed_columns(
        self,
        mq: MetricQuery,
        chunk: Points,
        pipeline: Callable[[tuple[Any, ...]], _Pipeline],
        budget: list[int],
    ) -> None:
        """Push a chunk of columns into the pipelines of its result groups."""
        for group, ts, values in self._by_group(chunk):
            if mq.point_groups:
                self._feed_point_groups(mq, group, ts, values, pipeline, budget)
            else:
                self._push(mq, pipeline((group,)), ts, values, budget)

    def _feed_point_groups(
        self,
        mq: MetricQuery,
        group: str,
        ts: np.ndarray,
        values: np.ndarray,
        pipeline: Callable[[tuple[Any, ...]], _Pipeline],
        budget: list[int],
    ) -> None:
        """Points of one type group split by time, value or bin group (pipelines
        fed in the order their groups first appear, as the oracle feeds them)."""
        groupers = mq.point_groups
        numbers = [g.numbers(ts, values) for g in groupers] if group == "number" else []
        if not numbers or any(n is None for n in numbers):
            touched: dict[tuple[Any, ...], list[int]] = {}
            for i, (t, v) in enumerate(zip(ts.tolist(), values.tolist(), strict=True)):
                pkey = (group, *[g.group(t, v) for g in groupers])
                touched.setdefault(pkey, []).append(i)
            for pkey, where in touched.items():
                index = np.array(where, dtype=np.intp)
                self._push(mq, pipeline(pkey), ts[index], values[index], budget)
            return
        keys = np.stack(numbers, axis=1)  # type: ignore[arg-type]
        unique, first, inverse = np.unique(
            keys, axis=0, return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        by_key = np.argsort(inverse, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse)))).tolist()
        for u in np.argsort(first).tolist():
            index = by_key[bounds[u] : bounds[u + 1]]
            pkey = (group, *unique[u].tolist())
            self._push(mq, pipeline(pkey), ts[index], values[index], budget)

    def _push(
        self,
        mq: MetricQuery,
        pipe: _Pipeline,
        ts: np.ndarray,
        values: np.ndarray,
        budget: list[int],
    ) -> None:
        if mq.limit:
            room = max(0, mq.limit - pipe.taken)
            ts, values = ts[:room], values[:room]
            pipe.taken += len(ts)
        if pipe.vchain is not None:
            self._collect_columns(pipe, *pipe.vchain.push(ts, values), budget)
        else:
            pairs = list(zip(ts.tolist(), values.tolist(), strict=True))
            self._collect(pipe, _chain(pipe).push(pairs), budget)

    def _by_group(self, chunk: Points) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """The chunk's points per type group, in order, values as JSON shows them
        (the number group's as int64 or float64 when of one type)."""
        if chunk.codes is None:
            yield self._group_values(chunk.kinds[0], chunk.ts, chunk.values)
            return
        codes = chunk.codes
        groups: dict[str, list[int]] = {}
        for code, kind in enumerate(chunk.kinds):
            groups.setdefault(self._kind(kind)[0], []).append(code)
        for group, members in groups.items():
            mask = np.isin(codes, members)
            present = [c for c in members if (codes[mask] == c).any()]
            if len(present) == 1:
                kind = chunk.kinds[present[0]]
                values = chunk.values[mask]
                if dtype_of(kind) != values.dtype:
                    values = values.astype(dtype_of(kind))
                yield self._group_values(kind, chunk.ts[mask], values)
            elif present:
                convert = [self._kind(k)[1] for k in chunk.kinds]
                pairs = zip(
                    codes[mask].tolist(), chunk.values[mask].tolist(), strict=True
                )
                objects = [v if convert[c] is None else convert[c](v) for c, v in pairs]
                yield group, chunk.ts[mask], _objects(objects)

    def _group_values(
        self, kind: str, ts: np.ndarray, values: np.ndarray
    ) -> tuple[str, np.ndarray, np.ndarray]:
        group, to_json = self._kind(kind)
        if to_json is not None:
            values = _objects([to_json(v) for v in values.tolist()])
        return group, ts, values

    def _collect_columns(
        self, pipe: _Pipeline, ts: np.ndarray, values: np.ndarray, budget: list[int]
    ) -> None:
        if not len(ts):
            return
        budget[0] -= len(ts)
        if budget[0] < 0:
            raise errors.InvalidInput(
                f"The query result would hold more than {self.max_points} data points. "
                "Narrow the time range or the tags, add an aggregator, or set a limit."
            )
        assert pipe.vchain is not None
        pipe.parts.append(as_lists(ts, values, pipe.vchain.aggregates))

    def _feed(
        self,
        mq: MetricQuery,
        chunk: list[Point],
        pipeline: Callable[[tuple[Any, ...]], _Pipeline],
        budget: list[int],
    ) -> None:
        """Push a chunk of points into the pipelines of their result groups."""
        first = getattr(chunk, "kind", None)
        if first is None and all(p[1] == chunk[0][1] for p in chunk):
            first = chunk[0][1]
        if not mq.point_groups and first is not None:
            # the common case: one type, no per-point groups, one pipeline
            group, to_json = self._kind(first)
            pipe = pipeline((group,))
            if to_json is None:
                pairs = [(p[0], p[2]) for p in chunk]
            else:
                pairs = [(p[0], to_json(p[2])) for p in chunk]
            if mq.limit:
                pairs = pairs[: max(0, mq.limit - pipe.taken)]
                pipe.taken += len(pairs)
            self._collect(pipe, _chain(pipe).push(pairs), budget)
            return
        groupers = mq.point_groups
        touched: dict[tuple[Any, ...], list[Pt]] = {}
        for ts, kind, raw in chunk:
            group, to_json = self._kind(kind)
            value = raw if to_json is None else to_json(raw)
            pkey = (group, *[g.group(ts, value) for g in groupers])
            pipe = pipeline(pkey)
            if mq.limit:
                if pipe.taken >= mq.limit:
                    continue
                pipe.taken += 1
            touched.setdefault(pkey, []).append((ts, value))
        for pkey, pairs in touched.items():
            pipe = pipeline(pkey)
            self._collect(pipe, _chain(pipe).push(pairs), budget)

    def _kind(self, type_name: str) -> tuple[str, Callable[[Any], Any] | None]:
        """A type's group, and its JSON conversion when values need one."""
        known = self._kinds.get(type_name)
        if known is None:
            data_type = self.registry.get(type_name)
            known = self._kinds[type_name] = (
                data_type.group,
                None if data_type.plain_json else data_type.to_json,
            )
        return known

    def _collect(self, pipe: _Pipeline, out: list[Pt], budget: list[int]) -> None:
        if not out:
            return
        budget[0] -= len(out)
        if budget[0] < 0:
            raise errors.InvalidInput(
                f"The query result would hold more than {self.max_points} data points. "
                "Narrow the time range or the tags, add an aggregator, or set a limit."
            )
        pipe.values.extend(out)  # (ts, value) tuples: JSON arrays once serialised

    def _result(
        self,
        mq: MetricQuery,
        gkey: tuple[tuple[str, str], ...],
        pkey: tuple[Any, ...],
        pipe: _Pipeline,
        members: list[SeriesKey],
    ) -> dict[str, Any]:
        group_by: list[dict[str, Any]] = []
        if mq.tag_group:
            group_by.append(mq.tag_group.result(gkey))
        for grouper, number in zip(mq.point_groups, pkey[1:], strict=True):
            group_by.append(grouper.result(number))
        group_by.append({"name": "type", "type": pkey[0]})
        result: dict[str, Any] = {"name": mq.name, "group_by": group_by}
        if not mq.exclude_tags:
            # As KairosDB: the tags of every series of the (tag) group that has points
            # in the range, whether or not it contributed to this time/value/bin group.
            tags: dict[str, set[str]] = {}
            for key in members:
                for name, value in key.tags:
                    tags.setdefault(name, set()).add(value)
            result["tags"] = {
                name: sorted(values) for name, values in sorted(tags.items())
            }
        result["values"] = pipe.points()
        if mq.alias:
            result["alias"] = mq.alias
        return result


class Page(list[Point]):
    """A list of points that knows when all its points have one type (``kind``)."""

    kind: str | None = None


def _pages(chunks: Iterator[Points]) -> Iterator[list[Point]]:
    # (the store's columns as the point lists this engine consumes)
    for chunk in chunks:
        page = Page(chunk.tuples())
        page.kind = chunk.kind
        yield page


def merge_pages(
    streams: list[Iterator[list[Point]]], desc: bool, contributors: set[int]
) -> Iterator[list[Point]]:
    """Sorted pages of several sorted streams merged into sorted chunks.

    Each round takes, from every stream's current page, the points up to the
    earliest last timestamp among those pages (the latest, descending): no later
    page can hold anything before it. The chunk is sorted in C (runs of already
    sorted points are cheap for Timsort), ties in series order.
    """
    live: list[tuple[int, list[Point], Iterator[list[Point]]]] = []
    for idx, stream in enumerate(streams):
        page = next(stream, None)
        if page:
            contributors.add(idx)
            live.append((idx, page, stream))
    if len(live) == 1:
        _, page, stream = live[0]
        yield page
        yield from stream
        return
    ts_of = operator.itemgetter(0)
    while live:
        if desc:
            horizon = max(page[-1][0] for _, page, _ in live)
            order = reversed(live)  # sort(reverse=True) keeps ties in this order
        else:
            horizon = min(page[-1][0] for _, page, _ in live)
            order = iter(live)
        chunk = Page()
        kinds = {getattr(page, "kind", None) for _, page, _ in live}
        chunk.kind = kinds.pop() if len(kinds) == 1 else None
        rest: dict[int, list[Point]] = {}
        for idx, page, _ in order:
            if desc:
                cut = bisect.bisect_right(page, -horizon, key=lambda p: -p[0])
            else:
                cut = bisect.bisect_right(page, horizon, key=ts_of)
            chunk.extend(page[:cut])
            rest[idx] = _tail(page, cut)
        chunk.sort(key=ts_of, reverse=desc)
        yield chunk
        refilled = []
        for idx, _, stream in live:
            page = rest[idx] or next(stream, None)
            if page:
                refilled.append((idx, page, stream))
        live = refilled


class _Feed:
    """One series' pages, one page read ahead: a page with none after it is its
    series' last, which bounds no merge round."""

    def __init__(self, idx: int, pages: Iterator[Points]) -> None:
        self.idx = idx
        self.pages = pages
        self.page = self._next()
        self.ahead = self._next() if self.page is not None else None

    def _next(self) -> Points | None:
        return next((p for p in self.pages if len(p)), None)

    def advance(self, rest: Points | None) -> None:
        if rest is not None:
            self.page = rest
        else:
            self.page = self.ahead
            self.ahead = self._next() if self.ahead is not None else None


def merge_columns(
    streams: list[Iterator[Points]], desc: bool, contributors: set[int]
) -> Iterator[Points]:
    """``merge_pages`` on columns, ties in the same order. Each round takes the
    points up to the earliest last timestamp of the pages that have pages after
    them (the latest, descending); once every page is its series' last, all that
    is left is one chunk (so many short series cost a round, not one each)."""
    live = [f for f in (_Feed(i, s) for i, s in enumerate(streams)) if f.page]
    contributors.update(f.idx for f in live)
    if len(live) == 1:
        only = live[0]
        while only.page is not None:
            yield only.page
            only.advance(None)
        return
    while live:
        bounds = [int(f.page.ts[-1]) for f in live if f.ahead is not None and f.page]
        horizon = None if not bounds else max(bounds) if desc else min(bounds)
        parts: list[Points] = []
        for f in reversed(live) if desc else live:
            assert f.page is not None
            head: Points | None = f.page
            rest: Points | None = None
            if horizon is not None:
                head, rest = _cut(f.page, horizon, desc)
            if head is not None:
                parts.append(head)
            f.advance(rest)
        if parts:
            yield _sorted(Points.concat(parts), desc) if len(parts) > 1 else parts[0]
        live = [f for f in live if f.page is not None]


def _chain(pipe: _Pipeline) -> Chain:
    assert pipe.chain is not None  # (a pipeline has a chain or a vector chain)
    return pipe.chain


def _cut(page: Points, horizon: int, desc: bool) -> tuple[Points | None, Points | None]:
    """The page's points up to ``horizon`` (in its order), and the rest."""
    ts = page.ts
    if desc:
        cut = len(ts) - int(np.searchsorted(ts[::-1], horizon, "left"))
    else:
        cut = int(np.searchsorted(ts, horizon, "right"))
    if cut == len(ts):
        return page, None
    return (page.take(slice(0, cut)) if cut else None), page.take(slice(cut, None))


def _sorted(chunk: Points, desc: bool) -> Points:
    """Points in time order, ties in their order (descending: in their order too)."""
    if desc:
        # reversed, sorted stably, reversed: ties keep their order
        back = np.argsort(chunk.ts[::-1], kind="stable")[::-1]
        return chunk.take(len(chunk.ts) - 1 - back)
    return chunk.take(np.argsort(chunk.ts, kind="stable"))


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _tail(page: list[Point], cut: int) -> list[Point]:
    tail = Page(page[cut:])
    tail.kind = getattr(page, "kind", None)
    return tail


def _single_valued(
    members: list[SeriesKey], gkey: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """Tags with one value across the group (what save_as gives its new series)."""
    seen: dict[str, set[str]] = {}
    for key in members:
        for name, value in key.tags:
            seen.setdefault(name, set()).add(value)
    tags = {
        name: next(iter(values)) for name, values in seen.items() if len(values) == 1
    }
    tags.update(dict(gkey))
    return tags


def _sort_key(pkey: tuple[Any, ...]) -> tuple[Any, ...]:
    # None (a non-numeric value in a value or bin group) sorts first
    return tuple((x is not None, x) for x in pkey)

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

from service import errors
from service.datatypes import REGISTRY, TypeRegistry
from service.query.groupers import PointGrouper, TagGroupBy
from service.query.stages import AggregatorSpec, Chain, Pt, StageContext
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
    chain: Chain
    buffer: list[Pt] = field(default_factory=list)
    taken: int = 0
    values: list[Pt] = field(default_factory=list)


class QueryEngine:
    def __init__(
        self,
        points: PointStore,
        *,
        max_points: int,
        save: Saver | None = None,
        registry: TypeRegistry = REGISTRY,
    ) -> None:
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

            def pipeline(
                pkey: tuple[Any, ...],
                ctx: StageContext = ctx,
                pipelines: dict[tuple[Any, ...], _Pipeline] = pipelines,
            ) -> _Pipeline:
                pipe = pipelines.get(pkey)
                if pipe is None:
                    pipe = pipelines[pkey] = _Pipeline(
                        Chain(mq.aggregators, pkey[0], ctx)
                    )
                return pipe

            chunks, contributors = self._chunks(project, q, mq, members)
            for chunk in chunks:
                sample_size += len(chunk)
                self._feed(mq, chunk, pipeline, budget)
            for pkey in sorted(pipelines, key=_sort_key):
                pipe = pipelines[pkey]
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

    def _chunks(
        self, project: str, q: Query, mq: MetricQuery, members: list[SeriesKey]
    ) -> tuple[Iterator[list[Point]], set[int]]:
        """Pages of points of all the series, merged in the query's order, and the
        indexes of the series that have points (filled in as pages arrive)."""
        # Many series read at once share a bounded buffer: smaller pages each.
        fetch = max(256, min(5000, 200_000 // max(1, len(members))))
        streams = [
            _pages(
                self.points.read_chunks(
                    project,
                    key,
                    q.start,
                    q.end,
                    order=mq.order,
                    limit=mq.limit,
                    fetch_size=fetch,
                )
            )
            for key in members
        ]
        contributors: set[int] = set()
        return merge_pages(streams, mq.order == "desc", contributors), contributors

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
            self._collect(pipe, pipe.chain.push(pairs), budget)
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
            self._collect(pipe, pipe.chain.push(pairs), budget)

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
        result["values"] = pipe.values
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

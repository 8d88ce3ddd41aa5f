"""Running a metric query: find series, stream their points, group, aggregate.

Points are read series by series, partition by partition (paged), merged in time
order, split into result groups and pushed through each group's aggregator chain in
batches; only aggregated outputs are kept. A query whose output would pass
``max_points`` stops with a 400 instead of exhausting memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from service import errors
from service.datatypes import REGISTRY, TypeRegistry
from service.query.groupers import PointGrouper, TagGroupBy
from service.query.stages import AggregatorSpec, Chain, Pt, StageContext
from service.records import SeriesKey, TagFilter
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
    values: list[list[Any]] = field(default_factory=list)


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
            contributors: set[int] = set()
            groupers, limit = mq.point_groups, mq.limit
            last_key: tuple[Any, ...] | None = None
            pipe: _Pipeline | None = None
            # The hot loop: one pass per point read, so it avoids calls it can.
            for ts, idx, group, value in self._merged(project, q, mq, members):
                sample_size += 1
                contributors.add(idx)
                if groupers:
                    pkey = (group, *[g.group(ts, value) for g in groupers])
                else:
                    pkey = (group,)
                if pkey != last_key:
                    pipe = pipelines.get(pkey)
                    if pipe is None:
                        pipe = pipelines[pkey] = _Pipeline(
                            Chain(mq.aggregators, group, ctx)
                        )
                    last_key = pkey
                assert pipe is not None
                if limit:
                    if pipe.taken >= limit:
                        continue
                    pipe.taken += 1
                buffer = pipe.buffer
                buffer.append((ts, value))
                if len(buffer) >= BATCH:
                    self._collect(pipe, pipe.chain.push(buffer), budget)
                    pipe.buffer = []
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

    def _merged(
        self, project: str, q: Query, mq: MetricQuery, members: list[SeriesKey]
    ) -> Iterator[tuple[int, int, str, Any]]:
        """(ts, series index, type group, JSON-ready value), in the query's order."""
        groups: dict[str, tuple[str, Any]] = {}

        def one(idx: int, key: SeriesKey) -> Iterator[tuple[int, int, str, Any]]:
            points = self.points.read_points(
                project, key, q.start, q.end, order=mq.order, limit=mq.limit
            )
            for ts, type_name, value in points:
                known = groups.get(type_name)
                if known is None:
                    data_type = self.registry.get(type_name)
                    known = groups[type_name] = (
                        data_type.group,
                        None if data_type.plain_json else data_type.to_json,
                    )
                group, to_json = known
                yield ts, idx, group, value if to_json is None else to_json(value)

        streams = [one(i, key) for i, key in enumerate(members)]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, reverse=mq.order == "desc")

    def _collect(self, pipe: _Pipeline, out: list[Pt], budget: list[int]) -> None:
        if not out:
            return
        budget[0] -= len(out)
        if budget[0] < 0:
            raise errors.InvalidInput(
                f"The query result would hold more than {self.max_points} data points. "
                "Narrow the time range or the tags, add an aggregator, or set a limit."
            )
        pipe.values.extend([ts, v] for ts, v in out)

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

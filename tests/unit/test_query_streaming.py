"""The engine streams: aggregating millions of points keeps memory bounded.

The store here is a generator of points (no I/O): the point is what the engine itself
holds, not what a store does."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from service.query import catalog
from service.query.engine import MetricQuery, Query, QueryEngine
from service.records import Points, SeriesKey

N = 300_000


class Generated:
    def find_series(self, *args: Any) -> list[SeriesKey]:
        return [SeriesKey("m", (("host", "a"),)), SeriesKey("m", (("host", "b"),))]

    def read_chunks(
        self, project: str, key: SeriesKey, start: int, end: int, **kw: Any
    ) -> Iterator[Points]:
        offset = 0 if key.tags[0][1] == "a" else 1
        for first in range(0, N // 2, 5000):
            values = np.arange(first, min(N // 2, first + 5000), dtype=np.int64)
            yield Points.of("long", 2 * values + offset, values)


def test_aggregating_many_points_holds_almost_nothing() -> None:
    agg = catalog.build("avg", {"sampling": {"value": 1, "unit": "hours"}})
    query = Query(0, N, 0, ZoneInfo("UTC"), [MetricQuery("m", aggregators=[agg])])
    engine = QueryEngine(Generated(), max_points=1000)  # type: ignore[arg-type]
    tracemalloc.start()
    (result,) = engine.run("p", query)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result["sample_size"] == N
    assert result["results"][0]["values"] == [(0, (N // 2 - 1) / 2)]
    # a few pages in flight; the points materialised would take ~40 MB
    assert peak < 5 * 1024 * 1024, peak

"""The KairosDB query API over a real app and store, written once for both stores.

A tier subclasses :class:`QueryContract` and provides a ``client`` fixture (Falcon's
TestClient on the embedded store, or on Cassandra).
"""

from __future__ import annotations

import uuid
from typing import Any

from falcon import testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HOSTS = ["a", "b", "c", "d"]
REDUCERS = {
    "sum": sum,
    "count": len,
    "min": min,
    "max": max,
    "avg": lambda vs: sum(vs) / len(vs),
    "first": lambda vs: vs[0],
}


def oracle(
    series: dict[str, list[tuple[int, int]]],
    *,
    hosts: list[str] | None,
    start: int,
    end: int,
    agg: str | None,
    width: int,
    align: bool,
    desc: bool,
    limit: int | None,
) -> dict[str, Any]:
    """The query's answer, computed the plain way."""
    chosen = sorted(h for h in series if hosts is None or h in hosts)
    pts = [
        (ts, i, v)
        for i, h in enumerate(chosen)
        for ts, v in series[h]
        if start <= ts <= end
    ]
    pts.sort(reverse=desc)
    contributed = sorted({chosen[i] for _, i, _ in pts})
    if limit:
        pts = pts[:limit]
    if not pts:
        return {"name": "M", "tags": {}, "values": []}
    if agg is None:
        values = [[ts, v] for ts, _, v in pts]
    else:
        origin = start - start % 1000 if align else start
        values, bucket, run = [], None, []
        for ts, _, v in [*pts, (None, None, None)]:
            b = None if ts is None else (ts - origin) // width
            if run and b != bucket:
                values.append([run[0][0], REDUCERS[agg]([x for _, x in run])])
                run = []
            bucket = b
            run.append((ts, v))
    return {"name": "M", "tags": {"host": contributed}, "values": values}


point_lists = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(-1000, 1000)), max_size=25
).map(lambda pts: sorted(dict(pts).items()))


class QueryContract:
    """Query behaviour both stores share; subclasses supply ``client``."""

    def write(
        self, client: testing.TestClient, metric: str, series: dict[str, Any]
    ) -> None:
        body = [
            {"name": metric, "tags": {"host": h}, "datapoints": [list(p) for p in pts]}
            for h, pts in series.items()
            if pts
        ]
        if body:
            assert (
                client.simulate_post("/api/v1/datapoints", json=body).status_code == 204
            )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        series=st.fixed_dictionaries({h: point_lists for h in HOSTS}),
        window=st.tuples(st.integers(-100, 5100), st.integers(-100, 5100)).map(sorted),
        hosts=st.none() | st.lists(st.sampled_from(HOSTS), min_size=1, unique=True),
        agg=st.none() | st.sampled_from(sorted(REDUCERS)),
        width=st.sampled_from([1, 7, 100, 1000, 100_000]),
        align=st.booleans(),
        desc=st.booleans(),
        limit=st.none() | st.integers(1, 30),
    )
    def test_query_equals_the_oracle(
        self,
        client: testing.TestClient,
        series: dict[str, Any],
        window: list[int],
        hosts: list[str] | None,
        agg: str | None,
        width: int,
        align: bool,
        desc: bool,
        limit: int | None,
    ) -> None:
        metric = "prop" + uuid.uuid4().hex[:10]
        self.write(client, metric, series)
        start, end = window
        m: dict[str, Any] = {"name": metric, "order": "desc" if desc else "asc"}
        if hosts is not None:
            m["tags"] = {"host": hosts}
        if limit:
            m["limit"] = limit
        if agg:
            m["aggregators"] = [
                {
                    "name": agg,
                    "align_sampling": align,
                    "sampling": {"value": width, "unit": "milliseconds"},
                }
            ]
        query = {"start_absolute": start, "end_absolute": end, "metrics": [m]}
        got = client.simulate_post("/api/v1/datapoints/query", json=query)
        assert got.status_code == 200, got.text
        (result,) = got.json["queries"][0]["results"]
        want = oracle(
            series,
            hosts=hosts,
            start=start,
            end=end,
            agg=agg,
            width=width,
            align=align,
            desc=desc,
            limit=limit,
        )
        assert result["name"] == metric
        assert result.get("tags") == want["tags"]
        assert result["values"] == [
            [ts, v if not isinstance(v, float) else __import__("pytest").approx(v)]
            for ts, v in want["values"]
        ]

"""The vectorised query engine against the point-by-point one (the oracle).

Random series (longs up to the 64-bit limits, doubles, series that mix types, text)
and random queries (every aggregator, ranges in every unit with or without
alignment, time zones, order, limits, group_by) run through both
``QueryEngine(columnar=True)`` and ``QueryEngine(columnar=False)`` over the same
pages of points; their JSON answers must be the same text, and so must their errors:
to the last digit, so doubles are drawn with every rounding a sum can meet (decimals,
any finite double, values near the largest one), not only exact quarters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import ujson
from hypothesis import given
from hypothesis import strategies as st

from service import errors
from service.dialects.kairosdb.query_parser import parse_query
from service.query.engine import QueryEngine
from service.records import Points, SeriesKey

T0 = 1_700_000_000_000
NOW = T0 + 10**11
UNITS = [
    "milliseconds",
    "seconds",
    "minutes",
    "hours",
    "days",
    "weeks",
    "months",
    "years",
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]
LONG_MAX = 2**63 - 1


class Store:
    """Series in memory, read in pages of ``page`` points (as a store pages)."""

    def __init__(self, series: dict[SeriesKey, Points], page: int) -> None:
        self.series = series
        self.page = page

    def __repr__(self) -> str:  # (what a failing example needs to be replayed)
        listed = {
            k: list(zip(p.ts.tolist(), p.values.tolist(), strict=True))
            for k, p in self.series.items()
        }
        return f"Store({listed!r}, page={self.page})"

    def find_series(self, project: str, metric: str, *args: Any) -> list[SeriesKey]:
        return [k for k in self.series if k.metric == metric]

    def read_chunks(
        self,
        project: str,
        key: SeriesKey,
        start: int,
        end: int,
        *,
        order: str = "asc",
        limit: int | None = None,
        fetch_size: int = 5000,
    ) -> Iterator[Points]:
        pts = self.series[key]
        pts = pts.take((pts.ts >= start) & (pts.ts <= end))
        if order == "desc":
            pts = pts.take(slice(None, None, -1))
        if limit:
            pts = pts.take(slice(0, limit))
        for i in range(0, len(pts), self.page):
            yield pts.take(slice(i, i + self.page))


def run(store: Store, doc: dict[str, Any], columnar: bool) -> str:
    """The answer's JSON text (and what save_as wrote), or the 400's message."""
    saved: list[Any] = []
    engine = QueryEngine(
        store,  # type: ignore[arg-type]
        max_points=5000,
        columnar=columnar,
        save=lambda *args: saved.append(args),
    )
    try:
        answer = engine.run("p", parse_query(doc, now_ms=NOW))
    except errors.InvalidInput as exc:
        return f"400 {exc}"
    # (the points save_as wrote, whatever chunks it wrote them in)
    written = [(m, t, ttl, p) for m, t, ttl, points in saved for p in points]
    # (in the order written, but for groups of different types, written side by side)
    written.sort(key=lambda w: (w[1].items(), w[3][0]))
    return ujson.dumps({"answer": answer, "saved": written})


# -- strategies -------------------------------------------------------------------------

quarters = st.integers(-(2**40), 2**40).map(lambda k: k / 4)
doubles = st.one_of(
    quarters,
    st.integers(-(10**9), 10**9).map(lambda k: k / 1000),  # decimals: inexact sums
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.7e308, -1.7e308, 5e-324, 0.1, -0.0]),
)
longs = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**63), LONG_MAX),
    st.sampled_from([LONG_MAX, -(2**63), 2**53 + 1, -(2**53) - 1]),
)


@st.composite
def series_points(draw: st.DrawFn, kind: str, span: int) -> Points:
    if span:
        offsets = st.integers(0, span).map(lambda o: T0 + o)
    else:  # the ends of time, and around them
        offsets = st.one_of(
            st.sampled_from([-(2**63), LONG_MAX, 0, T0]),
            st.integers(-(2**63), -(2**63) + 10**12),
            st.integers(LONG_MAX - 10**12, LONG_MAX),
        )
    ts = sorted(draw(st.lists(offsets, max_size=40, unique=True)))
    if kind == "long":
        return Points.of("long", ts, [draw(longs) for _ in ts])
    if kind == "double":
        return Points.of("double", ts, [draw(doubles) for _ in ts])
    if kind == "string":
        return Points.of("string", ts, [draw(st.sampled_from("abc")) for _ in ts])
    triples = []
    for t in ts:
        if draw(st.booleans()):
            triples.append((t, "long", draw(st.integers(-1000, 1000))))
        else:
            triples.append((t, "double", draw(doubles)))
    return Points.from_tuples(triples)


@st.composite
def stores(draw: st.DrawFn) -> Store:
    span = draw(st.sampled_from([50, 5_000, 4 * 86_400_000, 3 * 10**10, 0]))
    series = {}
    for host in draw(
        st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True)
    ):
        kind = draw(
            st.sampled_from(["long", "long", "double", "double", "mixed", "string"])
        )
        dc = draw(st.sampled_from(["x", "y"]))
        series[SeriesKey("m", (("dc", dc), ("host", host)))] = draw(
            series_points(kind, span)
        )
    return Store(series, draw(st.integers(1, 9)))


STREAM = [
    "diff",
    "div",
    "scale",
    "rate",
    "sampler",
    "filter",
    "trim",
    "save_as",
    "gaps",
    "sma",
]
RANGED = [
    "avg",
    "sum",
    "min",
    "max",
    "count",
    "first",
    "last",
    "dev",
    "least_squares",
    "percentile",
]


def sampling(draw: st.DrawFn) -> dict[str, Any]:
    return {"value": draw(st.integers(1, 3)), "unit": draw(st.sampled_from(UNITS))}


numbers = st.one_of(
    st.integers(-100, 100), doubles, st.sampled_from([2**53 + 1, 1e300])
)


@st.composite
def stream_aggregator(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(STREAM))
    agg: dict[str, Any] = {"name": name}
    if name == "div":
        agg["divisor"] = draw(numbers.filter(bool))
    elif name == "scale":
        agg["factor"] = draw(numbers)
    elif name in ("rate", "sampler"):
        if draw(st.booleans()):
            agg["sampling"] = sampling(draw)
        elif draw(st.booleans()):
            agg["unit"] = draw(st.sampled_from(UNITS))
        if draw(st.booleans()):
            agg["time_zone"] = draw(st.sampled_from(ZONES))
    elif name == "filter":
        agg["filter_op"] = draw(
            st.sampled_from(["lte", "lt", "gte", "gt", "equal", "ne"])
        )
        agg["threshold"] = draw(st.one_of(numbers, st.just("b")))
    elif name == "trim":
        agg["trim"] = draw(st.sampled_from(["first", "last", "both"]))
    elif name == "save_as":
        agg["metric_name"] = "saved"
    elif name == "gaps":
        agg["sampling"] = sampling(draw)
    elif name == "sma":
        agg["size"] = draw(st.integers(1, 4))
    return agg


@st.composite
def aggregators(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return draw(stream_aggregator())
    name = draw(st.sampled_from(RANGED))
    agg: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        agg["sampling"] = sampling(draw)
    if draw(st.booleans()):
        agg["align_sampling"] = draw(st.booleans())
    align = draw(st.sampled_from([None, "align_start_time", "align_end_time"]))
    if align:
        agg[align] = True
    if draw(st.integers(0, 4)) == 0:
        agg["start_time"] = T0 - draw(st.integers(0, 10**9))
    if draw(st.integers(0, 3)) == 0:
        agg["time_zone"] = draw(st.sampled_from(ZONES))
    if name == "percentile":
        agg["percentile"] = draw(st.sampled_from([0.001, 0.25, 0.5, 0.9, 1.0]))
    if name == "dev":
        agg["return_type"] = draw(st.sampled_from(["value", "pos_sd", "neg_sd"]))
    return agg


@st.composite
def group_by(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["tag", "time", "value", "bin"]))
    if name == "tag":
        return {"name": "tag", "tags": draw(st.sampled_from([["host"], ["dc"]]))}
    if name == "time":
        return {
            "name": "time",
            "range_size": sampling(draw),
            "group_count": draw(st.integers(1, 5)),
        }
    if name == "value":
        return {"name": "value", "range_size": draw(st.sampled_from([1, 3, 10**6]))}
    edges = draw(
        st.lists(st.one_of(quarters, st.integers(-50, 50)), min_size=1, max_size=4)
    )
    return {"name": "bin", "bins": sorted(set(edges))}


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": "m",
        "aggregators": draw(st.lists(aggregators(), max_size=3)),
        "order": draw(st.sampled_from(["asc", "desc"])),
    }
    if draw(st.booleans()):
        metric["group_by"] = [
            {"name": "tag", "tags": draw(st.sampled_from([["host"], ["dc"]]))}
        ]
    if draw(st.integers(0, 4)) == 0:
        metric["limit"] = draw(st.integers(1, 30))
    if draw(st.integers(0, 4)) == 0:  # all of time
        start, end = -(2**63), LONG_MAX
    else:
        start = T0 + draw(st.integers(-10, 100))
        end = T0 + draw(st.integers(0, 4 * 10**10))
    doc: dict[str, Any] = {
        "start_absolute": start,
        "end_absolute": end,
        "metrics": [metric],
    }
    if draw(st.booleans()):
        doc["time_zone"] = draw(st.sampled_from(ZONES))
    return doc


@given(stores(), queries())
def test_vectorised_engine_answers_as_the_oracle(
    store: Store, doc: dict[str, Any]
) -> None:
    assert run(store, doc, True) == run(store, doc, False)


def test_an_average_of_negative_zeros_is_zero_as_python_sums() -> None:
    key = SeriesKey("m", (("host", "a"),))
    store = Store({key: Points.of("double", [T0, T0 + 1], [0.0, 1.0])}, 1)
    aggs = [{"name": "div", "divisor": -1}, {"name": "avg"}, {"name": "sum"}]
    doc = {
        "start_absolute": T0,
        "end_absolute": T0 + 9,
        "metrics": [{"name": "m", "aggregators": aggs}],
    }
    assert run(store, doc, True) == run(store, doc, False)
    assert "[1700000000000,0.0]" in run(store, doc, True)


def test_sums_of_longs_past_64_bits_stay_exact() -> None:
    key = SeriesKey("m", (("host", "a"),))
    values = np.full(1000, LONG_MAX, dtype=np.int64)
    store = Store({key: Points.of("long", T0 + np.arange(1000), values)}, 300)
    doc = {
        "start_absolute": T0,
        "end_absolute": T0 + 10**6,
        "metrics": [{"name": "m", "aggregators": [{"name": "sum"}, {"name": "avg"}]}],
    }
    assert run(store, doc, True) == run(store, doc, False)
    doc["metrics"][0]["aggregators"] = [{"name": "diff"}, {"name": "rate"}]
    assert run(store, doc, True) == run(store, doc, False)
    sampled = {"name": "sum", "sampling": {"value": 1, "unit": "years"}}
    doc["metrics"][0]["aggregators"] = [sampled]
    (result,) = ujson.loads(run(store, doc, True))["answer"][0]["results"]
    assert result["values"] == [[T0, 1000 * LONG_MAX]]


def test_percentiles_of_many_ranges_per_page_as_the_oracle() -> None:
    key = SeriesKey("m", (("host", "a"),))
    values = np.round(np.sin(np.arange(10_000)) * 400) / 4  # with ties and -0.0
    store = Store({key: Points.of("double", T0 + np.arange(10_000), values)}, 5000)
    for q in (0.001, 0.1, 0.5, 0.99, 1.0):
        agg = {"name": "percentile", "percentile": q}
        agg["sampling"] = {"value": 7, "unit": "milliseconds"}
        doc = {
            "start_absolute": T0,
            "end_absolute": T0 + 10**6,
            "metrics": [{"name": "m", "aggregators": [agg]}],
        }
        assert run(store, doc, True) == run(store, doc, False)


def test_filters_compare_big_integers_with_doubles_as_python_does() -> None:
    key = SeriesKey("m", (("host", "a"),))
    near = [2.0**53, 2.0**53 + 2, -(2.0**53)]
    doubles = Store({key: Points.of("double", [T0, T0 + 1, T0 + 2], near)}, 5)
    big = [2**53 + 1, LONG_MAX, -(2**63)]
    longs = Store({key: Points.of("long", [T0, T0 + 1, T0 + 2], big)}, 5)
    for store in (doubles, longs):
        for threshold in (2**53 + 1, 2**70, -(2**70), 2.0**53, 9.2e18, LONG_MAX):
            for op in ("lt", "lte", "gt", "gte", "equal", "ne"):
                agg = {"name": "filter", "filter_op": op, "threshold": threshold}
                doc = {
                    "start_absolute": T0,
                    "end_absolute": T0 + 9,
                    "metrics": [{"name": "m", "aggregators": [agg]}],
                }
                assert run(store, doc, True) == run(store, doc, False), (op, threshold)


def test_answers_do_not_depend_on_where_pages_end() -> None:
    """Sums of inexact doubles (and dev and least_squares built on them) are added in
    order across pages: every page size, both engines, one answer to the last digit.
    (Regression: dev over two merged series, pages of one point, once differed.)"""
    values = [0.1 * k + 1e6 for k in range(1, 60)]
    a = SeriesKey("m", (("host", "a"),))
    b = SeriesKey("m", (("host", "b"),))
    series = {
        a: Points.of("double", [T0 + 2 * k for k in range(59)], values),
        b: Points.of(
            "long",
            [T0, T0 + 10] + [T0 + 3 * k for k in range(4, 14)],
            [0, 0, *range(10)],
        ),
    }
    sampled = {"value": 1, "unit": "minutes"}
    aggs = [
        [{"name": name, "sampling": sampled}]
        for name in ("sum", "avg", "dev", "least_squares")
    ]
    aggs.append([{"name": "dev", "return_type": "pos_sd", "sampling": sampled}])
    for agg in aggs:
        doc = {
            "start_absolute": T0,
            "end_absolute": T0 + 10**6,
            "metrics": [{"name": "m", "aggregators": agg}],
        }
        answers = {
            run(Store(series, page), doc, columnar)
            for page in (1, 2, 7, 5000)
            for columnar in (True, False)
        }
        assert len(answers) == 1, (agg, answers)

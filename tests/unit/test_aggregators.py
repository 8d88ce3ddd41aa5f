"""Every aggregator against hand-computed values, through the real catalog and chain."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.query import catalog
from service.query.stages import Chain, StageContext

T0 = 1_700_000_000_000  # a whole second
ONE_TO_TEN = [(T0 + 2 * i, i + 1) for i in range(10)]  # values 1..10, 2 ms apart
BIG = {"sampling": {"value": 10, "unit": "years"}}


def run(
    aggs: list[dict[str, Any]],
    points: list[tuple[int, Any]],
    *,
    start: int | None = None,
    end: int | None = None,
    tz: str = "UTC",
    group: str = "number",
    desc: bool = False,
    batch: int = 3,
    saved: list[Any] | None = None,
) -> list[tuple[int, Any]]:
    specs = [
        catalog.build(a["name"], {k: v for k, v in a.items() if k != "name"})
        for a in aggs
    ]
    ctx = StageContext(
        metric="m",
        start=points[0][0] if start is None else start,
        end=points[-1][0] if end is None else end,
        now=T0 + 10**12,
        time_zone=ZoneInfo(tz),
        descending=desc,
        max_points=10**6,
        group_tags={"host": "a"},
        save=(lambda *args: saved.append(args)) if saved is not None else None,
    )
    chain = Chain(specs, group, ctx)
    out: list[tuple[int, Any]] = []
    for i in range(0, len(points), batch):  # small batches: ranges span batches
        out += chain.push(points[i : i + batch])
    return out + chain.finish()


def one(name: str, **props: Any) -> list[tuple[int, Any]]:
    return run([{"name": name, **BIG, **props}], ONE_TO_TEN)


def test_range_aggregators_over_one_to_ten() -> None:
    assert one("sum") == [(T0, 55)]
    assert isinstance(one("sum")[0][1], int)  # longs stay exact
    assert one("count") == [(T0, 10)]
    assert one("avg") == [(T0, 5.5)]
    assert one("min") == [(T0, 1)]
    assert one("max") == [(T0, 10)]
    assert one("first") == [(T0, 1)]
    assert one("last") == [(T0 + 18, 10)]  # stamped with the last point itself
    ((_, dev),) = one("dev")
    assert dev == pytest.approx(3.0276503540974917)
    assert one("least_squares") == [
        (T0, pytest.approx(1.0)),
        (T0 + 18, pytest.approx(10.0)),
    ]
    assert one("percentile", percentile=0.5) == [(T0, 5.5)]
    assert one("percentile", percentile=0.9) == [(T0, pytest.approx(9.9))]
    assert one("percentile", percentile=1) == [(T0, 10.0)]
    assert one("percentile", percentile=0.05) == [(T0, 1.0)]


def test_dev_bands_and_single_point() -> None:
    ((_, value),) = one("dev", return_type="pos_sd", dev_count=2)
    assert value == pytest.approx(5.5 + 2 * 3.0276503540974917)
    ((_, value),) = one("dev", return_type="neg_sd")
    assert value == pytest.approx(5.5 - 3.0276503540974917)
    assert run([{"name": "dev"}], [(T0, 4)]) == [(T0, 0.0)]


def test_sums_exact_beyond_double_precision() -> None:
    points = [(T0, 2**53), (T0 + 1, 1), (T0 + 2, 1)]
    assert run([{"name": "sum", **BIG}], points) == [(T0, 2**53 + 2)]


def test_least_squares_keeps_one_or_two_points() -> None:
    assert run([{"name": "least_squares", **BIG}], ONE_TO_TEN[:2]) == ONE_TO_TEN[:2]


def test_stream_aggregators() -> None:
    assert run([{"name": "diff"}], ONE_TO_TEN) == [(ts, 1) for ts, _ in ONE_TO_TEN[1:]]
    assert run([{"name": "div", "divisor": 2}], ONE_TO_TEN)[:2] == [
        (T0, 0.5),
        (T0 + 2, 1.0),
    ]
    assert run([{"name": "scale", "factor": -3}], ONE_TO_TEN)[-1] == (T0 + 18, -30.0)
    assert run([{"name": "sma", "size": 3}], ONE_TO_TEN) == [
        (ts, float(v - 1)) for ts, v in ONE_TO_TEN[2:]
    ]
    assert (
        run([{"name": "filter", "filter_op": "gt", "threshold": 5}], ONE_TO_TEN)
        == ONE_TO_TEN[:5]
    )
    assert (
        run([{"name": "filter", "filter_op": "LTE", "threshold": 5}], ONE_TO_TEN)
        == ONE_TO_TEN[5:]
    )
    assert run([{"name": "trim", "trim": "first"}], ONE_TO_TEN) == ONE_TO_TEN[1:]
    assert run([{"name": "trim", "trim": "last"}], ONE_TO_TEN) == ONE_TO_TEN[:-1]
    assert run([{"name": "trim", "trim": "both"}], ONE_TO_TEN) == ONE_TO_TEN[1:-1]
    assert run([{"name": "trim", "trim": "both"}], ONE_TO_TEN[:1]) == []


def test_rate_per_unit_and_in_descending_order() -> None:
    per_second = [(T0 + 1000 * i, 10 * i) for i in range(4)]
    assert run([{"name": "rate", "unit": "seconds"}], per_second) == [
        (T0 + 1000 * i, 10.0) for i in (1, 2, 3)
    ]
    assert run([{"name": "rate", "unit": "minutes"}], per_second)[0] == (
        T0 + 1000,
        600.0,
    )
    assert (
        run(
            [{"name": "rate", "sampling": {"value": 2, "unit": "seconds"}}], per_second
        )[0][1]
        == 20.0
    )
    # KairosDB's fixture: rate in ms over 1..10, 2 ms apart, ascending and descending
    assert run([{"name": "rate", "unit": "milliseconds"}], ONE_TO_TEN) == [
        (ts, 0.5) for ts, _ in ONE_TO_TEN[1:]
    ]
    assert run(
        [{"name": "rate", "unit": "milliseconds"}], ONE_TO_TEN[::-1], desc=True
    ) == [(ts, 0.5) for ts, _ in ONE_TO_TEN[::-1][1:]]
    # two points at one time have no rate: skipped, not an error
    assert run([{"name": "rate"}], [(T0, 1), (T0, 2), (T0 + 1, 4)]) == [(T0 + 1, 2.0)]


def test_sampler_divides_the_value_itself() -> None:
    points = [(T0, 5), (T0 + 1000, 10), (T0 + 3000, 10)]
    assert run([{"name": "sampler", "unit": "seconds"}], points) == [
        (T0 + 1000, 10.0),
        (T0 + 3000, 5.0),
    ]


def test_rate_over_months_uses_the_month_length() -> None:
    jan1 = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    feb1 = int(dt.datetime(2024, 2, 1, tzinfo=dt.UTC).timestamp() * 1000)
    assert run([{"name": "rate", "unit": "months"}], [(jan1, 0), (feb1, 31)]) == [
        (feb1, 31.0)
    ]


SECONDS = [(T0 + 1000 * i + 500, i + 1) for i in range(10)]  # 1..10, at x.5 s


def test_sampling_windows_not_aligned() -> None:
    agg = {
        "name": "sum",
        "sampling": {"value": 3, "unit": "seconds"},
        "align_sampling": False,
    }
    # origin = query start (first point): windows [0.5, 3.5), [3.5, 6.5) ... s
    assert run([agg], SECONDS) == [
        (T0 + 500, 6),
        (T0 + 3500, 15),
        (T0 + 6500, 24),
        (T0 + 9500, 10),
    ]


def test_sampling_windows_aligned() -> None:
    agg = {"name": "sum", "sampling": {"value": 3, "unit": "seconds"}}
    # aligned to midnight: windows are multiples of 3 s from 00:00
    offset = (T0 // 1000) % 86400 % 3  # where T0 falls in its 3-second window
    assert offset == 2
    # windows start 2 s before T0: [T0-2, T0+1), [T0+1, T0+4), [T0+4, T0+7), ...
    assert run([agg], SECONDS) == [
        (T0 + 500, 1),
        (T0 + 1500, 2 + 3 + 4),
        (T0 + 4500, 5 + 6 + 7),
        (T0 + 7500, 8 + 9 + 10),
    ]
    start = {**agg, "align_start_time": True}
    assert [ts for ts, _ in run([start], SECONDS)] == [
        T0 - 2000,
        T0 + 1000,
        T0 + 4000,
        T0 + 7000,
    ]
    end = {**agg, "align_end_time": True}
    assert [ts for ts, _ in run([end], SECONDS)] == [
        T0 + 1000,
        T0 + 4000,
        T0 + 7000,
        T0 + 10000,
    ]


def test_start_time_moves_the_origin() -> None:
    agg = {
        "name": "count",
        "sampling": {"value": 4, "unit": "seconds"},
        "align_sampling": False,
        "start_time": T0,
        "align_start_time": True,
    }
    assert run([agg], SECONDS) == [(T0, 4), (T0 + 4000, 4), (T0 + 8000, 2)]


def ms(*args: int, tz: str = "UTC") -> int:
    return int(dt.datetime(*args, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def test_months_follow_the_calendar() -> None:
    days = [(ms(2024, 1, 1) + d * 86_400_000, 1) for d in range(31 + 29 + 31)]
    agg = {
        "name": "count",
        "sampling": {"value": 1, "unit": "months"},
        "align_start_time": True,
    }
    assert run([agg], days) == [
        (ms(2024, 1, 1), 31),
        (ms(2024, 2, 1), 29),
        (ms(2024, 3, 1), 31),
    ]


def test_days_across_daylight_saving_in_a_time_zone() -> None:
    tz = "Europe/Paris"
    start = ms(2024, 3, 30, tz=tz)
    hours = [(start + h * 3_600_000, 1) for h in range(24 + 23 + 24)]
    agg = {
        "name": "count",
        "sampling": {"value": 1, "unit": "days"},
        "align_start_time": True,
    }
    assert run([agg], hours, tz=tz) == [
        (ms(2024, 3, 30, tz=tz), 24),
        (ms(2024, 3, 31, tz=tz), 23),
        (ms(2024, 4, 1, tz=tz), 24),
    ]


def test_gaps_marks_empty_ranges_with_null() -> None:
    points = [(T0, 1), (T0 + 3000, 4)]
    agg = {"name": "gaps", "sampling": {"value": 1, "unit": "seconds"}}
    assert run([agg], points, end=T0 + 4500) == [
        (T0, 1),
        (T0 + 1000, None),
        (T0 + 2000, None),
        (T0 + 3000, 4),
        (T0 + 4000, None),
    ]
    # a later aggregator never sees the nulls, count does
    assert run([agg, {"name": "sum", **BIG}], points, end=T0 + 4500) == [(T0, 5)]
    assert run([agg, {"name": "count", **BIG}], points, end=T0 + 4500) == [(T0, 5)]


def test_type_gating_skips_what_cannot_handle_text() -> None:
    words = [(T0, "a"), (T0 + 1, "b"), (T0 + 2, "c")]
    assert run([{"name": "sum", **BIG}], words, group="text") == words  # skipped
    assert run([{"name": "count", **BIG}], words, group="text") == [(T0, 3)]
    assert run([{"name": "last", **BIG}], words, group="text") == [(T0 + 2, "c")]
    assert run(
        [{"name": "filter", "filter_op": "equal", "threshold": "b"}],
        words,
        group="text",
    ) == [(T0, "a"), (T0 + 2, "c")]
    # count turns text into numbers, so a following sum applies
    assert run(
        [{"name": "count", **BIG}, {"name": "sum", **BIG}], words, group="text"
    ) == [(T0, 3)]


def test_a_chain_like_kairosdbs_fixture() -> None:
    chain = [
        {"name": "sum", "sampling": {"value": 4, "unit": "milliseconds"}},
        {"name": "avg", **BIG},
    ]
    assert run(chain, ONE_TO_TEN) == [(T0, 11.0)]


def test_save_as_passes_through_and_saves() -> None:
    saved: list[Any] = []
    out = run(
        [{"name": "save_as", "metric_name": "copy", "tags": {"x": "y"}, "ttl": 60}],
        ONE_TO_TEN,
        saved=saved,
    )
    assert out == ONE_TO_TEN
    ((metric, tags, ttl, points),) = saved
    assert (metric, tags, ttl) == (
        "copy",
        {"host": "a", "x": "y", "saved_from": "m"},
        60,
    )
    assert points == ONE_TO_TEN


def test_percentile_over_a_large_range_stays_bounded() -> None:
    from service.query import range_aggregators

    n = range_aggregators.PERCENTILE_SAMPLE * 2
    points = [(T0 + i, i % 1000) for i in range(n)]
    ((_, p50),) = run(
        [{"name": "percentile", "percentile": 0.5, **BIG}], points, batch=5000
    )
    assert math.isclose(p50, 500, abs_tol=15)  # a uniform sample's median

"""The point service's reduction of repeated timestamps, against a dict oracle."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from service import columnar
from service.datatypes import InvalidValue
from service.domain.points import (
    _grouped_few,
    _grouped_numpy,
    _saved_points,
    _typed,
    grouped_points,
    last_write_wins,
)
from service.records import PointBatch, Points, SeriesKey

series_keys = st.sampled_from(
    [SeriesKey("m", (("h", "a"),)), SeriesKey("m", (("h", "b"),)), SeriesKey("n", ())]
)
batches = st.lists(
    st.builds(
        lambda key, pts, ttl: PointBatch(key, [(ts, "long", v) for ts, v in pts], ttl),
        series_keys,
        st.lists(
            st.tuples(st.integers(0, 20), st.integers(-(2**63), 2**63 - 1)), max_size=15
        ),
        st.sampled_from([0, 60]),
    ),
    max_size=6,
)


@given(batches)
def test_the_last_point_per_series_and_timestamp_wins(bs: list[PointBatch]) -> None:
    expected: dict[tuple[SeriesKey, int], object] = {}
    for b in bs:
        for ts, _, v in b.points:
            expected[(b.series, ts)] = v
    reduced = last_write_wins(bs)
    got: dict[tuple[SeriesKey, int], object] = {}
    for b in reduced:
        for ts, _, v in b.points:
            assert (b.series, ts) not in got, "a timestamp survived twice"
            got[(b.series, ts)] = v
    assert got == expected
    # batches keep their order and TTL; points keep their order within a batch
    assert [b.ttl for b in reduced] == [b.ttl for b in bs]


point_items = st.lists(
    st.tuples(
        st.sampled_from(["temp", "hum", "x"]),
        st.integers(-(2**63), 2**63 - 1),
        st.one_of(
            st.tuples(st.just("long"), st.integers(-(2**63), 2**63 - 1)),
            st.tuples(st.just("double"), st.floats(allow_nan=False)),
            st.tuples(st.just("json"), st.lists(st.integers(), max_size=2)),
            st.tuples(st.just("complex-number"), st.tuples(st.floats(), st.floats())),
        ),
    ),
    min_size=1,
    max_size=30,
)


@given(point_items)
def test_grouped_points_are_each_keys_points_in_order(items: list[Any]) -> None:
    keys = [k for k, _, _ in items]
    grouped = grouped_points(
        keys,
        [ts for _, ts, _ in items],
        [t for *_, (t, _) in items],
        [v for *_, (_, v) in items],
    )
    assert list(grouped) == list(dict.fromkeys(keys))
    for key, points in grouped.items():
        expected = [(ts, t, v) for k, ts, (t, v) in items if k == key]
        assert points == Points.from_tuples(expected)
        assert points.kinds == Points.from_tuples(expected).kinds
        if points.kind in ("long", "double"):
            assert points.values.dtype == (
                np.int64 if points.kind == "long" else np.float64
            )


saved_values = st.one_of(
    st.lists(st.floats(), max_size=10),
    st.lists(st.integers(-(2**64), 2**64), max_size=10),
    st.lists(
        st.one_of(
            st.floats(),
            st.integers(),
            st.text(max_size=3),
            st.just({"real": 1.0, "imaginary": 2.0}),
            st.none(),
        ),
        max_size=5,
    ),
)


@given(saved_values)
def test_save_as_points_are_typed_like_one_by_one(values: list[Any]) -> None:
    points = [(1000 * i, v) for i, v in enumerate(values)]

    def outcome(build: Any) -> Any:
        try:
            built = build()
        except InvalidValue as exc:
            return str(exc)
        return built.tuples(), built.kinds, built.values.dtype

    def one_by_one() -> Points:
        return Points.from_tuples([(ts, *_typed(v)) for ts, v in points])

    assert outcome(lambda: _saved_points(points)) == outcome(one_by_one)


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=columnar.FEW)
    | st.lists(st.integers(-3, 3), max_size=columnar.FEW)
)
def test_a_few_timestamps_are_increasing_as_numpy_says(stamps: list[int]) -> None:
    ts = np.array(stamps, dtype=np.int64)
    assert columnar.increasing(ts) == bool(np.all(ts[1:] > ts[:-1]))


@given(point_items.filter(lambda items: len(items) <= columnar.FEW))
def test_a_few_points_are_grouped_as_numpy_groups_them(items: list[Any]) -> None:
    columns: Any = (
        [k for k, _, _ in items],
        [ts for _, ts, _ in items],
        [t for *_, (t, _) in items],
        [v for *_, (_, v) in items],
    )
    few, bulk = _grouped_few(*columns), _grouped_numpy(*columns)
    assert list(few) == list(bulk)
    for key, points in few.items():
        oracle = bulk[key]
        assert points.kinds == oracle.kinds
        _same_column(points.ts, oracle.ts)
        _same_column(points.values, oracle.values)
        if oracle.codes is None:
            assert points.codes is None
        else:
            assert points.codes is not None
            _same_column(points.codes, oracle.codes)


def _same_column(mine: np.ndarray, theirs: np.ndarray) -> None:
    assert mine.dtype == theirs.dtype
    if mine.dtype == object:
        assert mine.tolist() == theirs.tolist()
    else:  # (bit for bit: -0.0 is not 0.0 here)
        assert mine.tobytes() == theirs.tobytes()

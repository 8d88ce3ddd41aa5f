"""Segment sums of floats against the plain oracle: Python adding left to right."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from service.query.exact_sums import sequential_sums

finite = st.floats(allow_nan=False, allow_infinity=False)
values = st.one_of(
    finite,
    st.integers(-(10**6), 10**6).map(lambda k: k / 1000),
    st.sampled_from([0.1, -0.0, 1e308, -1e308, 5e-324]),
)


def oracle(vals: list[float], starts: list[int], head: float) -> list[float]:
    bounds = [*starts, len(vals)]
    out = []
    for i in range(len(starts)):
        total: float = head if i == 0 else 0  # (Python's sum starts at the integer 0)
        for v in vals[bounds[i] : bounds[i + 1]]:
            total = total + v
        out.append(total)
    return out


@st.composite
def segmented(draw: st.DrawFn) -> tuple[list[float], list[int]]:
    vals = draw(st.lists(values, min_size=1, max_size=300))
    # lengths from one to hundreds, equal and wildly different
    cuts = (
        draw(st.sets(st.integers(1, len(vals) - 1), max_size=40))
        if len(vals) > 1
        else set()
    )
    return vals, [0, *sorted(cuts)]


@given(segmented(), st.one_of(st.just(0.0), finite))
def test_segment_sums_add_in_order_as_python(
    case: tuple[list[float], list[int]], head: float
) -> None:
    vals, starts = case
    got = sequential_sums(np.array(vals), np.array(starts, np.intp), head).tolist()
    want = oracle(vals, starts, head)
    assert np.array_equal(np.array(got), np.array(want), equal_nan=True)
    # (-0.0 and 0.0 compare equal: the signs must match too)
    assert [np.signbit(g) for g in got] == [np.signbit(w) for w in want]


def test_pairwise_rounding_is_not_what_comes_back() -> None:
    # 0.1 ten thousand times: numpy's pairwise sum rounds differently than in order
    vals = np.full(10_000, 0.1)
    starts = np.array([0, 3, 5000], np.intp)
    got = sequential_sums(vals, starts).tolist()
    assert got == oracle(vals.tolist(), [0, 3, 5000], 0.0)
    assert got != np.add.reduceat(vals, starts).tolist()


def test_ints_are_added_as_floats_after_a_float_head() -> None:
    vals = np.array([2**53, 1, 1], np.int64)
    got = sequential_sums(vals, np.array([0], np.intp), 0.5).tolist()
    assert got == [0.5 + float(2**53) + 1.0 + 1.0]

"""Blocks of a few points are encoded on plain Python numbers: the same bytes as the
numpy paths (the oracle here), for every layout, so readers never tell them apart."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from service.columnar import Points
from service.datatypes import tiny_blocks
from service.datatypes.builtin import DOUBLE, LONG, numpy_double_block
from service.storage import blocks

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
longs = st.integers(LONG_MIN, LONG_MAX)
doubles = st.one_of(
    st.integers(-(10**8), 10**8).map(lambda k: k / 1000),  # decimal mode
    st.integers(-(2**60), 2**60).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7e308, 0.1, 2.0**53, 1e16]),
)
few = {"min_size": 1, "max_size": tiny_blocks.TINY}


@given(st.lists(doubles, **few))
@example([0.1, 0.2, 0.3])
@example([-0.0])
@example([1.5, float(2**60)])  # decimal head, a tail that does not scale
def test_double_blocks_are_the_numpy_paths_bytes(values: list[float]) -> None:
    tiny = DOUBLE.encode_block(np.array(values))
    assert tiny == numpy_double_block(np.array(values))
    back = DOUBLE.decode_block(tiny, len(values))
    assert back.view("<u8").tolist() == np.array(values).view("<u8").tolist()


def test_empty_blocks_are_the_numpy_paths_bytes() -> None:
    # (found by the KairosDB fuzz test: [[0, 0.0], [0, 0]], a double and a long at
    # one timestamp, left a piece of no values to encode)
    empty = np.array([], dtype=np.float64)
    assert DOUBLE.encode_block(empty) == numpy_double_block(empty)
    assert LONG.encode_block(np.array([], dtype=np.int64)) == b""


@given(st.lists(longs, **few))
@example([LONG_MIN, LONG_MAX, LONG_MIN])  # differences that wrap in int64
def test_long_blocks_are_the_numpy_paths_bytes(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    tiny = LONG.encode_block(arr)
    assert tiny == np.diff(arr, prepend=np.int64(0)).astype("<i8").tobytes()
    assert LONG.decode_block(tiny, len(values)).tolist() == values


@given(st.lists(longs, unique=True, **few), st.data())
def test_tiny_blocks_decode_to_their_points(
    stamps: list[int], data: st.DataObject
) -> None:
    stamps.sort()
    values = data.draw(st.lists(doubles, min_size=len(stamps), max_size=len(stamps)))
    points = Points.of("double", stamps, values)
    decoded, _ = blocks.decode(blocks.encode(points))
    assert decoded.ts.tolist() == stamps
    assert decoded.values.view("<u8").tolist() == np.array(values).view("<u8").tolist()
    diffs = (np.array(stamps[1:], np.int64) - np.array(stamps[:-1], np.int64)).astype(
        "<i8"
    )
    assert tiny_blocks.int64_diffs(stamps[1:], first=stamps[0]) == diffs.tobytes()

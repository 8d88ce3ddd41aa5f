"""The block format against a plain oracle: any points, of any registered types,
come back exactly as they went in (values, types, order, expiries)."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.columnar import Points
from service.datatypes import REGISTRY
from service.storage import blocks

LONG = st.integers(-(2**63), 2**63 - 1)
DOUBLE = st.floats(allow_nan=False, allow_infinity=False)
STRING = st.text(max_size=20)
COMPLEX = st.tuples(DOUBLE, DOUBLE)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
VALUES = {
    "long": LONG,
    "double": DOUBLE,
    "string": STRING,
    "complex-number": COMPLEX,
    "json": JSON,
}


@st.composite
def point_sets(draw: Any) -> list[tuple[int, str, Any]]:
    kinds = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=3))
    stamps = draw(
        st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=60, unique=True)
    )
    stamps.sort()
    out = []
    for ts in stamps:
        kind = draw(st.sampled_from(kinds))
        out.append((ts, kind, draw(VALUES[kind])))
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return bool(a == b)


@given(point_sets(), st.booleans())
def test_any_points_round_trip(items: list[tuple[int, str, Any]], expiry: bool) -> None:
    points = Points.from_tuples(items)
    expire_at = np.arange(len(items), dtype=np.int64) * 7 if expiry else None
    back, expires = blocks.decode(blocks.encode(points, expire_at=expire_at))
    got = back.tuples()
    assert [(t, k) for t, k, _ in got] == [(t, k) for t, k, _ in items]
    assert all(same(g[2], i[2]) for g, i in zip(got, items, strict=True))
    if expiry:
        assert expires is not None and expires.tolist() == expire_at.tolist()  # type: ignore[union-attr]
    else:
        assert expires is None


@given(st.lists(DOUBLE, min_size=1, max_size=300))
def test_doubles_keep_their_bits(values: list[float]) -> None:
    ts = np.arange(len(values), dtype=np.int64) * 1000
    points = Points.of("double", ts, values)
    back, _ = blocks.decode(blocks.encode(points))
    assert back.values.dtype == np.float64
    assert (
        back.values.view(np.uint64).tolist() == points.values.view(np.uint64).tolist()
    )


def test_a_regular_series_is_small() -> None:
    n = 1000
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 1000
    walk = np.round(20 + np.cumsum(np.random.default_rng(1).normal(0, 0.1, n)), 1)
    size = len(blocks.encode(Points.of("double", ts, walk)))
    assert size / n < 3  # bytes per point, against 16 raw (8 of ts, 8 of value)
    counter = np.cumsum(np.random.default_rng(2).integers(0, 5, n))
    size = len(blocks.encode(Points.of("long", ts, counter)))
    assert size / n < 1.5


def test_what_is_not_a_block_is_refused() -> None:
    with pytest.raises(blocks.CorruptBlock):
        blocks.decode(b"\x01")
    with pytest.raises(blocks.CorruptBlock):
        blocks.decode(b"\x09" + b"\x00" * 20)


@given(point_sets(), st.booleans(), st.lists(st.integers(0, 2**62), min_size=1))
def test_write_ids_and_expiry_of_a_compacted_block_round_trip(
    items: list[tuple[int, str, Any]], expiry: bool, ids: list[int]
) -> None:
    points = Points.from_tuples(items)
    n = len(items)
    write_ids = np.array([ids[i % len(ids)] for i in range(n)], dtype=np.int64)
    expire_at = np.arange(n, dtype=np.int64) * 3 if expiry else None
    data = blocks.encode(points, expire_at=expire_at, write_ids=write_ids)
    back, expires, wids = blocks.decode_all(data)
    assert [(t, k) for t, k, _ in back.tuples()] == [(t, k) for t, k, _ in items]
    assert wids is not None and wids.tolist() == write_ids.tolist()
    assert (expires is None) == (not expiry)
    assert blocks.count(data) == n


DECIMALS = st.builds(
    lambda k, e: k / 10.0**e, st.integers(-(10**15), 10**15), st.integers(0, 9)
)


@given(st.lists(DECIMALS | DOUBLE, min_size=1, max_size=300))
def test_decimal_doubles_keep_their_bits(values: list[float]) -> None:
    # the decimal mode is chosen only when it is exact: mixed with any other
    # double (-0.0, 1e308, 0.1 + 0.2) the block still gives back every bit
    ts = np.arange(len(values), dtype=np.int64)
    points = Points.of("double", ts, values)
    back, _ = blocks.decode(blocks.encode(points))
    assert back.values.view(np.uint64).tolist() == [
        struct.unpack("<Q", struct.pack("<d", v))[0] for v in values
    ]


def test_a_sensor_walk_with_three_decimals_takes_two_bytes_a_point() -> None:
    # what the KairosDB comparison writes: disk per point is what users pay for
    n = 8192
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 1000
    walk = np.round(50 + np.cumsum(np.random.default_rng(3).normal(0, 1, n)), 3)
    size = len(blocks.encode(Points.of("double", ts, walk)))
    assert size / n < 2.5


def _xor_layout(values: list[float]) -> bytes:
    # the double layout blocks were written with before the decimal mode, as a
    # plain oracle: each value's bits XOR the previous one's, byte planes
    words, prev = [], 0
    for v in values:
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        words.append(bits ^ prev)
        prev = bits
    return bytes((w >> (8 * plane)) & 0xFF for plane in range(8) for w in words)


@given(st.lists(DOUBLE, min_size=1, max_size=50))
def test_blocks_of_the_earlier_double_layout_still_decode(values: list[float]) -> None:
    got = REGISTRY.get("double").decode_block(_xor_layout(values), len(values))
    assert got.view(np.uint64).tolist() == [
        struct.unpack("<Q", struct.pack("<d", v))[0] for v in values
    ]


def _decoded_one_by_one(datas: list[bytes]) -> tuple[list[Any], list[Any], list[Any]]:
    parts = [blocks.decode_all(d) for d in datas]
    points = [t for p in parts for t in p[0].tuples()]
    return points, [p[1] for p in parts], [p[2] for p in parts]


def _bits(points: list[Any]) -> list[Any]:
    # doubles by their bits (-0.0 is not 0.0 here), anything else as it is
    return [
        (t, k, struct.pack("<d", v) if isinstance(v, float) else v)
        for t, k, v in points
    ]


@given(
    st.lists(
        st.tuples(point_sets(), st.booleans(), st.booleans()), min_size=1, max_size=6
    )
)
def test_blocks_decoded_together_are_the_blocks_decoded_one_by_one(
    specs: list[tuple[list[tuple[int, str, Any]], bool, bool]],
) -> None:
    datas = []
    for items, expiry, ids in specs:
        n = len(items)
        datas.append(
            blocks.encode(
                Points.from_tuples(items),
                expire_at=np.arange(n, dtype=np.int64) + 5 if expiry else None,
                write_ids=np.arange(n, dtype=np.int64) % 3 + 9 if ids else None,
            )
        )
    decoded = blocks.decode_many(datas)
    points, expiries, ids = _decoded_one_by_one(datas)
    assert _bits(decoded.points.tuples()) == _bits(points)
    assert decoded.counts.tolist() == [len(s[0]) for s in specs]
    assert [None if e is None else e.tolist() for e in decoded.expire_at] == [
        None if e is None else e.tolist() for e in expiries
    ]
    assert [None if w is None else w.tolist() for w in decoded.write_ids] == [
        None if w is None else w.tolist() for w in ids
    ]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["double", "long"]),
            st.lists(DECIMALS | DOUBLE, min_size=1, max_size=40),
            st.integers(-(2**62), 2**62),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_many_blocks_of_one_number_type_decode_together_exactly(
    specs: list[tuple[str, list[float], int]],
) -> None:
    # the vectorised codecs (one pass over all blocks, sums restarted per block):
    # decimal and XOR double layouts, mixed or not, and longs, bit for bit
    kind = specs[0][0]
    datas = []
    for _, values, start in specs:
        ts = start + np.arange(len(values), dtype=np.int64) * 1000
        if kind == "long":
            vals: Any = [
                int(v) % 2**63 - 2**62 if math.isfinite(v) else 7 for v in values
            ]
        else:
            vals = values
        datas.append(blocks.encode(Points.of(kind, ts, vals)))
    decoded = blocks.decode_many(datas)
    points, _, _ = _decoded_one_by_one(datas)
    assert _bits(decoded.points.tuples()) == _bits(points)
    assert decoded.points.values.dtype == (np.float64 if kind == "double" else np.int64)


def test_a_window_of_a_sensor_s_small_writes_decodes_together() -> None:
    rng = np.random.default_rng(4)
    datas = [
        blocks.encode(
            Points.of(
                "double",
                1_700_000_000_000 + (w * 100 + np.arange(100)) * 1000,
                np.round(rng.normal(50, 10, 100), 3),
            )
        )
        for w in range(72)
    ]
    decoded = blocks.decode_many(datas)
    points, _, _ = _decoded_one_by_one(datas)
    assert decoded.points.tuples() == points
    assert decoded.per_point(decoded.write_ids, list(range(72))).tolist() == [
        w for w in range(72) for _ in range(100)
    ]

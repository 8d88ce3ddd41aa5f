"""The bulk path of KairosDB writes against the per-point path as its oracle: for any
body, hostile or not, the same batches (points, types, columns' dtypes) or the same
error (class, hence status, and every message)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from service import errors
from service.dialects.kairosdb import parse
from service.dialects.kairosdb.columns import pairs_to_points, plain_envelope
from service.dialects.kairosdb.parse import Parser

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64 - 1, 10**30])
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
ODD_FLOATS = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1.0, -0.0])
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.sampled_from(["12", "1.5", " 7 ", "", "x", "1e3"]),
    st.just([]),
    st.just({}),
    st.just({"real": 1, "imaginary": 2}),
    st.lists(st.integers(), max_size=3),
    HUGE,
    ODD_FLOATS,
)
TIMESTAMPS = st.one_of(LONGS, LONGS, LONGS, ODD, FLOATS)
VALUES = st.one_of(LONGS, FLOATS, ODD)


def _pair(ts: Any, value: Any) -> list[Any]:
    return [ts, value]


clean_longs = st.lists(st.builds(_pair, LONGS, LONGS), min_size=1, max_size=30)
clean_doubles = st.lists(st.builds(_pair, LONGS, FLOATS), min_size=1, max_size=30)
odd_elements = st.one_of(
    st.builds(_pair, TIMESTAMPS, VALUES),
    st.lists(VALUES, max_size=4),
    st.fixed_dictionaries({"timestamp": TIMESTAMPS, "value": VALUES}),
    ODD,
)


@st.composite
def datapoints(draw: st.DrawFn) -> list[Any]:
    """Mostly clean arrays (the bulk path's), some with hostile elements in them."""
    points: list[Any] = draw(st.one_of(clean_longs, clean_doubles, st.just([])))
    for _ in range(max(0, draw(st.integers(min_value=-3, max_value=2)))):
        at = draw(st.integers(min_value=0, max_value=len(points)))
        points.insert(at, draw(odd_elements))
    return points


NAMES = st.one_of(st.text(min_size=1, max_size=8), ODD, st.just("n" * 5000))
TAG_VALUES = st.one_of(st.text(min_size=1, max_size=8), ODD, st.just("v" * 5000))
TAGS = st.one_of(
    st.dictionaries(st.text(max_size=6), TAG_VALUES, min_size=1, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=6), st.text(min_size=1), max_size=3),
    ODD,
)
TTLS = st.one_of(st.integers(min_value=-5, max_value=700_000_000), ODD)
TYPES = st.sampled_from([None, "long", "double", "string", "complex-number", "nope", 5])


CLEAN = {
    "name": st.text(min_size=1, max_size=8),
    "tags": st.dictionaries(
        st.text(min_size=1, max_size=6), st.text(min_size=1), min_size=1, max_size=3
    ),
    "ttl": st.integers(min_value=0, max_value=10**6),
    "type": st.sampled_from([None, "long", "double"]),
}
HOSTILE = {"name": NAMES, "tags": TAGS, "ttl": TTLS, "type": TYPES}


@st.composite
def metrics(draw: st.DrawFn) -> Any:
    """Mostly plain metric objects, each part sometimes hostile or missing."""
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        return draw(ODD)  # not an object at all
    metric: dict[str, Any] = {}
    for key, clean in CLEAN.items():
        roll = draw(st.integers(min_value=0, max_value=9))
        if roll < 7 or (key == "name" and roll < 8):
            metric[key] = draw(clean)
        elif roll < 9:
            metric[key] = draw(HOSTILE[key])
    if draw(st.integers(min_value=0, max_value=8)):
        metric["datapoints"] = draw(datapoints())
    else:
        metric["datapoints"] = draw(ODD)
    if draw(st.integers(min_value=0, max_value=6)) == 0:
        metric["timestamp"], metric["value"] = draw(TIMESTAMPS), draw(VALUES)
    return metric


def outcome(doc: Any) -> tuple[Any, ...]:
    try:
        batches = Parser(max_points=10**6).parse(doc)
    except errors.ServiceError as exc:
        return ("error", type(exc), exc.messages)
    return (
        "ok",
        [
            (
                b.series,
                b.points.tuples(),
                b.points.kinds,
                b.points.values.dtype,
                b.points.ts.dtype,
                None if b.points.codes is None else b.points.codes.tolist(),
                b.ttl,
            )
            for b in batches
        ],
    )


def per_point(doc: Any) -> tuple[Any, ...]:
    """The oracle: the same parser with its bulk paths turned off."""
    with (
        mock.patch.object(parse, "pairs_to_points", return_value=None),
        mock.patch.object(parse, "plain_envelope", return_value=None),
    ):
        return outcome(doc)


@given(st.lists(metrics(), min_size=1, max_size=4))
def test_bulk_and_per_point_paths_agree(doc: list[Any]) -> None:
    assert outcome(doc) == per_point(doc)


@given(st.one_of(clean_longs, clean_doubles))
def test_clean_arrays_take_the_bulk_path(points: list[list[Any]]) -> None:
    bulk = pairs_to_points(points, None)
    assert bulk is not None
    kind = "long" if all(type(v) is int for _, v in points) else "double"
    assert bulk.kinds == (kind,)
    assert bulk.tuples() == [(ts, kind, v) for ts, v in points]


def test_bulk_columns_are_numpy_of_their_type() -> None:
    longs = pairs_to_points([[1, 2], [3, 4]], None)
    doubles = pairs_to_points([[1, 2.5], [3, 4.0]], "double")
    assert longs is not None and doubles is not None
    assert longs.ts.dtype == np.int64 and longs.values.dtype == np.int64
    assert doubles.values.dtype == np.float64


def test_anything_unusual_is_left_to_the_per_point_path() -> None:
    for raw in (
        [[1, 2], [3, 4.5]],  # a long and a double in one series
        [[1, True]],  # bool is no number
        [[1.0, 2]],  # a float timestamp (accepted, by the per-point path)
        [[1, 2**63]],  # out of range
        [[1, float("inf")]],
        [[1, 2, "long"]],
        [{"timestamp": 1, "value": 2}],
        [[1, 2], {"a": 3, "b": 4}],  # an object of two keys: zip gives its keys
        [[1, 2], "ab"],
        [],
    ):
        assert pairs_to_points(raw, None) is None, raw
    assert pairs_to_points([[1, 2]], "double") is None  # needs converting
    assert pairs_to_points([[1, 2]], "string") is None


@given(
    st.fixed_dictionaries(
        {},
        optional={"name": NAMES, "tags": TAGS, "ttl": TTLS, "type": TYPES, "x": ODD},
    )
)
@example({"name": "0", "tags": {"": None}})  # (tags are the caller's check: below)
def test_plain_envelopes_are_only_plainly_valid_ones(metric: dict[str, Any]) -> None:
    # The parser takes the fast path only for a plain envelope whose tags pass
    # tag_problems: that pair must load as the schema loads it.
    plain = plain_envelope(metric)
    if plain is not None and not parse.tag_problems(plain["tags"]):
        assert plain == parse.MetricEnvelope().load(metric)

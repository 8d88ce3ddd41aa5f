"""OneNET's full-JSON uploads: plain points (objects with a value and a string time
or none) skip the point schema and are typed at once; everything else goes through
the schema. The schema's path is the oracle: the same items, or the same error."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from service import errors
from service.dialects.onenet import parse

NOW = 1_700_000_000_000
TZ = ZoneInfo("Asia/Shanghai")

STREAMS = st.one_of(
    st.sampled_from(["temp", "hum", "a.b-c"]),
    st.sampled_from(["", "a b", "x/y", "s" * 200, 5, None]),
)
ATS = st.one_of(
    st.sampled_from(
        [
            "2024-01-01T00:12:13",
            "2024-01-01 00:12:13.5",
            "2024-02-30T00:00:00",
            "2024-01-01T00:00:00+25:00",
            "0001-01-01T00:00:00",
            "  ",
            "yesterday",
        ]
    ),
    st.none(),
    st.integers(),
)
VALUES = st.one_of(
    st.floats(allow_nan=False),
    st.integers(-(2**64), 2**64),
    st.sampled_from([None, True, "12", "", [], {}, {"a": 1}, [1, 2]]),
)


@st.composite
def points(draw: st.DrawFn) -> Any:
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return draw(st.sampled_from([None, 1, "x", []]))
    point: dict[str, Any] = {}
    if roll > 1:
        point["value"] = draw(VALUES)
    if draw(st.booleans()):
        point["at"] = draw(ATS)
    return point


@st.composite
def clean_points(draw: st.DrawFn) -> list[dict[str, Any]]:
    kind = draw(st.sampled_from(["long", "double"]))
    values = (
        st.integers(-(2**63), 2**63 - 1)
        if kind == "long"
        else st.floats(allow_nan=False, allow_infinity=False)
    )
    with_at = draw(st.booleans())
    return [
        {"value": v, **({"at": "2024-01-01T00:12:13"} if with_at else {})}
        for v in draw(st.lists(values, min_size=1, max_size=10))
    ]


streams = st.fixed_dictionaries(
    {
        "id": STREAMS,
        "datapoints": st.one_of(clean_points(), st.lists(points(), max_size=6)),
    }
)


def outcome(body: bytes) -> Any:
    try:
        return parse.parse_upload(None, body, TZ, NOW)
    except errors.ServiceError as exc:
        return type(exc), exc.messages


def by_schema(body: bytes) -> Any:
    with mock.patch.object(parse, "_plain_points", return_value=None):
        return outcome(body)


@given(st.lists(streams, min_size=1, max_size=3))
def test_plain_points_are_read_as_the_schema_reads_them(doc: list[Any]) -> None:
    body = json.dumps({"datastreams": doc}).encode()
    assert outcome(body) == by_schema(body)


def test_plain_points_of_one_number_type_are_typed_at_once() -> None:
    body = json.dumps(
        {"datastreams": [{"id": "t", "datapoints": [{"value": 1}, {"value": 2}]}]}
    ).encode()
    assert parse.parse_upload(None, body, TZ, NOW) == [
        ("t", NOW, "long", 1),
        ("t", NOW, "long", 2),
    ]


@given(
    st.dictionaries(
        st.sampled_from(["temp", "hum", "a b", "x/y", ""]),
        st.dictionaries(ATS.filter(lambda a: isinstance(a, str)), VALUES, max_size=4),
        min_size=1,
        max_size=3,
    )
)
def test_type_4_points_are_typed_at_once_as_one_by_one(doc: dict[str, Any]) -> None:
    body = json.dumps(doc).encode()

    def run() -> Any:
        try:
            return parse.parse_upload("4", body, TZ, NOW)
        except errors.ServiceError as exc:
            return type(exc), exc.messages

    with mock.patch.object(parse, "_one_number_type", return_value=None):
        one_by_one = run()
    assert run() == one_by_one

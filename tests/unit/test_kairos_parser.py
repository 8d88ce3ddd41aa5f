"""KairosDB's ingest body parser, against a plain oracle and KairosDB's messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import errors
from service.dialects.kairosdb.parse import Parser
from service.records import PointBatch, SeriesKey, canonical_tags

names = st.text(min_size=1, max_size=20)
tag_sets = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.text(min_size=1, max_size=8),
    min_size=1,
    max_size=4,
)
timestamps = st.integers(min_value=-(2**63), max_value=2**63 - 1)
values = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False
)
metrics = st.fixed_dictionaries(
    {
        "name": names,
        "tags": tag_sets,
        "ttl": st.integers(min_value=0, max_value=630_720_000),
        "points": st.lists(st.tuples(timestamps, values), min_size=1, max_size=20),
        "form": st.sampled_from(["datapoints", "single", "time", "both"]),
    }
)


def to_wire(m: dict[str, Any]) -> dict[str, Any]:
    """One metric object in one of the forms KairosDB accepts."""
    obj: dict[str, Any] = {"name": m["name"], "tags": m["tags"]}
    if m["ttl"]:
        obj["ttl"] = m["ttl"]
    points = m["points"]
    if m["form"] == "datapoints":
        obj["datapoints"] = [list(p) for p in points]
    elif m["form"] in ("single", "time"):
        obj["time" if m["form"] == "time" else "timestamp"] = points[0][0]
        obj["value"] = points[0][1]
    else:  # timestamp/value and datapoints together: both are ingested
        obj["timestamp"], obj["value"] = points[0]
        obj["datapoints"] = [list(p) for p in points[1:]]
    return obj


def oracle(m: dict[str, Any]) -> PointBatch:
    points = m["points"] if m["form"] in ("datapoints", "both") else m["points"][:1]
    typed = [(ts, "long" if isinstance(v, int) else "double", v) for ts, v in points]
    return PointBatch(SeriesKey(m["name"], canonical_tags(m["tags"])), typed, m["ttl"])


@given(st.lists(metrics, min_size=1, max_size=6), st.booleans())
def test_parses_every_form_like_the_oracle(
    ms: list[dict[str, Any]], single: bool
) -> None:
    doc: Any = [to_wire(m) for m in ms]
    if single and len(doc) == 1:
        doc = doc[0]  # a bare object instead of an array
    # through real JSON text, as the endpoint sees it
    parsed = Parser(max_points=10**6).parse(json.loads(json.dumps(doc)))
    assert parsed == [oracle(m) for m in ms]


def parse_errors(doc: Any) -> list[str]:
    with pytest.raises(errors.InvalidInput) as info:
        Parser(max_points=10**6).parse(doc)
    return info.value.messages


OK = {"name": "metric1", "tags": {"host": "a"}}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            [OK, {"tags": {"a": "b"}, "datapoints": [[1, 1]]}],
            ["metric[1].name may not be null."],
        ),
        ([{**OK, "name": ""}], ["metric[0].name may not be empty."]),
        ([{**OK, "timestamp": 1}], ["metric[0](name=metric1).value may not be null."]),
        ([{**OK, "value": 1}], ["metric[0](name=metric1).timestamp may not be null."]),
        (
            [{**OK, "datapoints": [[]]}],
            [
                "metric[0](name=metric1).datapoints[0].timestamp cannot be null or empty."
            ],
        ),
        (
            [{**OK, "datapoints": [[2]]}],
            ["metric[0](name=metric1).datapoints[0].value may not be empty."],
        ),
        (
            [{**OK, "datapoints": [[None, 2]]}],
            ["metric[0](name=metric1).datapoints[0].timestamp may not be null."],
        ),
        (
            [{"name": "metricName", "tags": {}, "datapoints": [[1, 1]]}],
            [
                "metric[0](name=metricName).tags count must be greater than or equal to 1."
            ],
        ),
        (
            [{"name": "metricName", "datapoints": [[1, 1]]}],
            [
                "metric[0](name=metricName).tags count must be greater than or equal to 1."
            ],
        ),
        (
            [{"name": "metricName", "tags": {"": "x"}, "datapoints": [[1, 1]]}],
            ["metric[0](name=metricName).tag[0].name may not be empty."],
        ),
        (
            [{"name": "metricName", "tags": {"foo": ""}, "datapoints": [[1, 1]]}],
            ["metric[0](name=metricName).tag[foo].value may not be empty."],
        ),
        (
            [{**OK, "timestamp": 1, "value": {"a": 1}}],
            ["metric[0](name=metric1) value is an invalid type"],
        ),
        (
            [{**OK, "datapoints": [[1, []]]}],
            ["metric[0](name=metric1).datapoints[0].value may not be an empty array."],
        ),
        (
            [{**OK, "datapoints": [[1, ""]]}],
            ["metric[0](name=metric1).datapoints[0].value may not be empty."],
        ),
        (
            [{**OK, "type": "bogus", "datapoints": [[1, 1]]}],
            ["Unregistered data point type 'bogus'"],
        ),
        (
            [{**OK, "datapoints": [[1, 1, "bogus"]]}],
            ["Unregistered data point type 'bogus'"],
        ),
        (
            [{**OK, "datapoints": [["soon", 1]]}],
            [
                "metric[0](name=metric1).datapoints[0].timestamp must be an integer number of ms."
            ],
        ),
        (
            [{**OK, "datapoints": [[2**63, 1]]}],
            [
                "metric[0](name=metric1).datapoints[0].timestamp must be an integer number of ms."
            ],
        ),
        (
            [{**OK, "datapoints": [[1, 2**64]]}],
            [
                "metric[0](name=metric1).datapoints[0].value is out of range for a 64-bit long"
            ],
        ),
        (
            [{**OK, "ttl": -1, "datapoints": [[1, 1]]}],
            ["metric[0](name=metric1).ttl must be between 0 and 630720000 seconds."],
        ),
        (
            [{**OK, "ttl": "soon", "datapoints": [[1, 1]]}],
            ["metric[0](name=metric1).ttl must be an integer number of seconds."],
        ),
        (
            [{**OK, "type": "complex-number", "datapoints": [[1, {"real": 1}]]}],
            [
                'metric[0](name=metric1).datapoints[0].value must be an object with exactly "real" '
                'and "imaginary" numbers'
            ],
        ),
        (
            [{**OK, "datapoints": {"1": 2}}],
            ["metric[0](name=metric1).datapoints must be an array."],
        ),
        (["x"], ["metric[0] must be an object."]),
    ],
)
def test_kairosdb_messages(doc: Any, expected: list[str]) -> None:
    assert parse_errors(doc) == expected


def test_every_problem_is_reported_at_once() -> None:
    doc = [
        {"name": "", "tags": {"a": "b"}, "datapoints": [[1, 1]]},
        {"name": "m", "tags": {}, "datapoints": [[1, None], [2, 2], ["x", 3]]},
        {"name": "ok", "tags": {"a": "b"}, "datapoints": [[1, 1]]},
    ]
    assert parse_errors(doc) == [
        "metric[0].name may not be empty.",
        "metric[1](name=m).tags count must be greater than or equal to 1.",
        "metric[1](name=m).datapoints[0].value may not be empty.",
        "metric[1](name=m).datapoints[2].timestamp must be an integer number of ms.",
    ]


@pytest.mark.parametrize("doc", ["text", 12, None, True])
def test_body_must_be_an_array_or_object(doc: Any) -> None:
    assert parse_errors(doc) == ["Invalid start of json."]


def test_types_strings_and_coercions() -> None:
    doc = [
        {
            "name": "m",
            "tags": {"n": 1, "b": True},
            "datapoints": [
                [1, "123"],
                [2, "123.5"],
                [3, "abc"],
                [4, True],
                [5, 7, "double"],
                [6, {"x": [1]}, "json"],
                ["7", 1],
                [8.0, 2],
            ],
        },
        {"name": "e", "type": "string", "tags": {"a": "b"}, "datapoints": [[1, ""]]},
    ]
    first, second = Parser(max_points=100).parse(doc)
    assert first.series.tags == (("b", "true"), ("n", "1"))
    assert first.points == [
        (1, "long", 123),
        (2, "double", 123.5),
        (3, "string", "abc"),
        (4, "string", "true"),
        (5, "double", 7.0),
        (6, "json", {"x": [1]}),
        (7, "long", 1),
        (8, "long", 2),
    ]
    assert second.points == [(1, "string", "")]


def test_points_limit_is_a_413() -> None:
    doc = [{"name": "m", "tags": {"a": "b"}, "datapoints": [[i, i] for i in range(11)]}]
    with pytest.raises(errors.PayloadTooLarge):
        Parser(max_points=10).parse(doc)
    assert Parser(max_points=11).parse(doc)[0].points.tuples()[-1] == (10, "long", 10)

"""The type registry's codecs and KairosDB's type inference, against plain oracles."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.datatypes import REGISTRY, InvalidValue, UnknownType
from service.datatypes.builtin import COMPLEX, DOUBLE, JSON, LONG, STRING

longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)
doubles = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | longs | doubles | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(longs)
def test_long_round_trips_exactly(value: int) -> None:
    assert LONG.decode(LONG.encode(LONG.parse(value))) == value


def test_long_beyond_53_bits_survives() -> None:
    value = 2**53 + 1
    assert LONG.decode(LONG.encode(value)) == value
    assert REGISTRY.infer(value) == ("long", value)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, "12x", 1.5, True, None, [1]])
def test_long_refuses(value: Any) -> None:
    with pytest.raises(InvalidValue):
        LONG.parse(value)


@given(doubles)
def test_double_round_trips_bit_for_bit(value: float) -> None:
    back = DOUBLE.decode(DOUBLE.encode(DOUBLE.parse(value)))
    assert back == value and math.copysign(1, back) == math.copysign(1, value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "1e999"])
def test_double_refuses_non_finite(value: Any) -> None:
    with pytest.raises(InvalidValue):
        DOUBLE.parse(value)


@given(st.text())
def test_string_round_trips(value: str) -> None:
    assert STRING.decode(STRING.encode(STRING.parse(value))) == value


@given(doubles, doubles)
def test_complex_round_trips_as_it_went_in(real: float, imaginary: float) -> None:
    raw = {"real": real, "imaginary": imaginary}
    back = COMPLEX.to_json(COMPLEX.decode(COMPLEX.encode(COMPLEX.parse(raw))))
    assert back == raw


@pytest.mark.parametrize(
    "value",
    [
        {"real": 1},
        {"real": 1, "imaginary": "2"},
        [1, 2],
        {"real": 1, "imaginary": 2, "x": 3},
    ],
)
def test_complex_refuses_other_shapes(value: Any) -> None:
    with pytest.raises(InvalidValue):
        COMPLEX.parse(value)


@given(json_values)
def test_json_round_trips(value: Any) -> None:
    assert JSON.decode(JSON.encode(JSON.parse(value))) == value


@given(json_values | st.integers())
def test_of_json_keeps_each_json_type(value: Any) -> None:
    """Untyped JSON values (OneNET uploads, save_as) keep their JSON type and come
    back equal; the oracle is JSON's own kinds."""
    kind, parsed = REGISTRY.of_json(value)
    if isinstance(value, str):
        want = "string"
    elif isinstance(value, int) and not isinstance(value, bool):
        want = "long" if -(2**63) <= value < 2**63 else "json"
    elif isinstance(value, float):
        want = "double"
    else:
        want = "json"
    assert kind == want
    stored = REGISTRY.get(kind)
    assert stored.decode(stored.encode(parsed)) == value


def test_json_refuses_nan_inside() -> None:
    with pytest.raises(InvalidValue):
        JSON.parse({"a": [1, math.nan]})


def infer_oracle(raw: Any) -> str:
    """KairosDB: numbers (or numeric strings) without a fraction are long, with one
    double; other strings are strings."""
    if isinstance(raw, bool):
        return "string"
    if isinstance(raw, int):
        return "long"
    if isinstance(raw, float):
        return "double"
    if raw.startswith("+") or not set(raw) <= set("0123456789-.eE+"):
        return "string"  # KairosDB reads ASCII digits, '-', '.', exponents only
    body = raw[1:] if raw.startswith("-") else raw
    if body.isdigit():
        return "long"
    try:
        float(raw)
        return "double"
    except ValueError:
        return "string"


@given(
    longs
    | doubles
    | st.from_regex(r"-?\d{1,18}", fullmatch=True)
    | st.from_regex(r"-?\d{1,9}\.\d{1,9}", fullmatch=True)
    | st.text(min_size=1)
    | st.text(alphabet="0123456789-.eE+_ ", min_size=1)
)
def test_inference_matches_kairosdb(raw: Any) -> None:
    kind = infer_oracle(raw)
    if (kind == "long" and not -(2**63) <= int(raw) < 2**63) or (
        kind == "double" and not math.isfinite(float(raw))
    ):
        with pytest.raises(InvalidValue):  # out of range / not finite: refused
            REGISTRY.infer(raw)
        return
    kind, value = REGISTRY.infer(raw)
    assert kind == infer_oracle(raw)
    if kind == "long":
        assert value == int(raw)
    elif kind == "double":
        assert value == float(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "may not be empty."),
        (None, "may not be null."),
        ([], "may not be an empty array."),
        ({"a": 1}, "is an invalid type"),
    ],
)
def test_inference_refuses(raw: Any, message: str) -> None:
    with pytest.raises(InvalidValue, match=message.replace(".", r"\.")):
        REGISTRY.infer(raw)


def test_unknown_type_message() -> None:
    with pytest.raises(UnknownType) as info:
        REGISTRY.get("bogus")
    assert info.value.message == "Unregistered data point type 'bogus'"


def test_builtin_types_come_from_entry_points() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="datapoints.types")}
    assert {"long", "double", "string", "complex-number", "json"} <= names
    assert set(REGISTRY.names()) >= names

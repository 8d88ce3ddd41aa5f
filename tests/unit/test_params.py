"""Query parameters every dialect reads the same way (service.web.params)."""

from __future__ import annotations

import time
import urllib.parse

import pytest
from falcon import testing
from hypothesis import given
from hypothesis import strategies as st

from service import errors
from service.records import LONG_MAX, LONG_MIN
from service.web import params


def req(query: str) -> testing.SimulatedRequest:
    return testing.create_req(query_string=query)


def test_an_integer_within_its_range_or_its_default() -> None:
    assert params.integer(req("page=7"), "page", default=1, low=1, high=10) == 7
    assert params.integer(req("page="), "page", default=1, low=1, high=10) == 1
    assert params.integer(req(""), "page", default=1, low=1, high=10) == 1
    with pytest.raises(errors.InvalidInput, match="page must be between 1 and 10"):
        params.integer(req("page=11"), "page", default=1, low=1, high=10)
    with pytest.raises(errors.InvalidInput, match="page must be an integer"):
        params.integer(req("page=x"), "page", default=1, low=1, high=10)


def test_a_huge_integer_is_refused_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(errors.InvalidInput, match="within the signed 64-bit range"):
        params.integer(req("saved_to=" + "9" * 100_000), "saved_to", default=0)
    assert time.monotonic() - started < 0.5


@given(st.integers(LONG_MIN - 10, LONG_MAX + 10))
def test_integers_are_bounded_to_64_bits(value: int) -> None:
    if LONG_MIN <= value <= LONG_MAX:
        assert params.integer(req(f"n={value}"), "n", default=0) == value
    else:
        with pytest.raises(errors.InvalidInput):
            params.integer(req(f"n={value}"), "n", default=0)


def test_flags_and_id_lists() -> None:
    assert params.flag(req("deleted=TRUE"), "deleted")
    assert params.flag(req("deleted=1"), "deleted")
    assert not params.flag(req("deleted=no"), "deleted")
    assert not params.flag(req(""), "deleted")
    assert params.id_list(" a, ,b ,") == ["a", "b"]
    assert params.id_list("") is None and params.id_list(None) is None


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("1427034672500", 1427034672500),
        ("-5", -5),
        ("2015-03-22T14:31:12.500Z", 1427034672500),
        ("2015-03-22T22:31:12.5+08:00", 1427034672500),
        ("2015-03-22T14:31:12.5", 1427034672500),  # no offset: UTC
    ],
)
def test_a_moment_is_milliseconds_or_iso_8601(value: str, ms: int) -> None:
    query = urllib.parse.urlencode({"from": value})
    assert params.moment(req(query), "from", default=0) == ms


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 30, "from must be milliseconds within the signed 64-bit range"),
        ("soon", "from must be milliseconds since the epoch or an ISO 8601"),
    ],
)
def test_a_moment_that_is_neither_is_refused(value: str, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        params.moment(req(f"from={value}"), "from", default=0)


def test_a_cursor_gives_back_its_position_and_nothing_else() -> None:
    text = params.cursor([3, "uuid-1"])
    assert params.position(text) == [3, "uuid-1"]
    assert params.position("not base64 json!") is None
    assert params.position("") is None

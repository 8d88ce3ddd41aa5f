"""Property tests of OneNET's upload parsers against a plain oracle.

The oracle computes a point's time with calendar arithmetic and a fixed offset (no
datetime or zoneinfo) and types values by the rule OneNET users rely on: JSON integers
are longs, numbers with a fraction doubles, strings strings; in the compact type 5,
whose values are all text, text that reads as a number is that number.
"""

from __future__ import annotations

import calendar
import json
import math
import string
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import errors
from service.dialects.onenet.parse import parse_time, parse_upload
from service.dialects.onenet.views import format_time

NOW = 1_700_000_000_000
# Zones with one offset over the years generated (Shanghai has had no DST since 1991).
ZONES = {"UTC": 0, "Asia/Shanghai": 8 * 3600, "Asia/Kolkata": 5 * 3600 + 1800}

stream_ids = st.text(
    alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=20
)
moments = st.tuples(
    st.integers(1995, 2035),  # year
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.none() | st.integers(0, 999),  # milliseconds, or none written
)
json_values = (
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, width=64).filter(
        lambda f: not f.is_integer()
    )
    | st.text(min_size=1, max_size=12)
)


def written(moment: tuple[int, ...]) -> str:
    y, mo, d, h, mi, s, ms = moment
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    return text if ms is None else f"{text}.{ms:03d}"


def oracle_ms(moment: tuple[int, ...], offset_s: int) -> int:
    y, mo, d, h, mi, s, ms = moment
    return (calendar.timegm((y, mo, d, h, mi, s)) - offset_s) * 1000 + (ms or 0)


def oracle_type(value: Any) -> tuple[str, Any]:
    if isinstance(value, int):
        return "long", value
    if isinstance(value, float):
        return "double", value
    return "string", value


@settings(max_examples=200)
@given(moment=moments, zone=st.sampled_from(sorted(ZONES)))
def test_at_is_read_in_the_projects_zone(moment: tuple[int, ...], zone: str) -> None:
    tz = ZoneInfo(zone)
    assert parse_time(written(moment), tz, "at") == oracle_ms(moment, ZONES[zone])
    # and read back as it was written (shown with milliseconds)
    shown = format_time(oracle_ms(moment, ZONES[zone]), tz)
    assert shown == written((*moment[:6], moment[6] or 0)).replace("T", " ")


@settings(max_examples=150)
@given(
    points=st.lists(
        st.tuples(stream_ids, st.none() | moments, json_values), min_size=1, max_size=8
    ),
    zone=st.sampled_from(sorted(ZONES)),
)
def test_type_1_and_type_4_say_the_same_thing(
    points: list[tuple[str, Any, Any]], zone: str
) -> None:
    """One set of points in the full format and in type 4 parses to the same items,
    and to what the oracle expects; a point without ``at`` is at the time of upload."""
    tz = ZoneInfo(zone)
    full: dict[str, list[dict[str, Any]]] = {}
    by_time: dict[str, dict[str, tuple[int, Any]]] = {}
    for stream, moment, value in points:
        point: dict[str, Any] = {"value": value}
        if moment is not None:
            point["at"] = written(moment)
            by_time.setdefault(stream, {})[written(moment)] = (
                oracle_ms(moment, ZONES[zone]),
                value,
            )
        full.setdefault(stream, []).append(point)
    # the full format keeps every point, stream by stream, in the order sent
    want = [
        (s, oracle_ms(m, ZONES[zone]) if m is not None else NOW, *oracle_type(v))
        for stream in full
        for s, m, v in points
        if s == stream
    ]
    body = json.dumps(
        {"datastreams": [{"id": s, "datapoints": p} for s, p in full.items()]}
    )
    assert parse_upload(None, body.encode(), tz, NOW) == want
    assert parse_upload("1", body.encode(), tz, NOW) == want
    if by_time:
        type4 = {s: {at: v for at, (_, v) in pts.items()} for s, pts in by_time.items()}
        got = parse_upload("4", json.dumps(type4).encode(), tz, NOW)
        assert got == [
            (s, ms, *oracle_type(v))
            for s, pts in by_time.items()
            for ms, v in pts.values()
        ]


@settings(max_examples=150)
@given(values=st.dictionaries(stream_ids, json_values, min_size=1, max_size=8))
def test_type_3_is_now(values: dict[str, Any]) -> None:
    got = parse_upload("3", json.dumps(values).encode(), ZoneInfo("UTC"), NOW)
    assert got == [(s, NOW, *oracle_type(v)) for s, v in values.items()]


compact_values = (
    st.integers(-(10**12), 10**12).map(str)
    | st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False).map(
        lambda d: f"{d:.3f}"
    )
    | st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=10).filter(
        lambda t: t.strip() != ""
    )
)


def compact_oracle(value: str) -> tuple[str, Any]:
    text = value.strip()
    try:
        return "long", int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return "string", text
    # "nan" and "inf" are words to a device, not numbers a store can aggregate
    return ("double", number) if math.isfinite(number) else ("string", text)


@settings(max_examples=200)
@given(
    records=st.lists(
        st.tuples(stream_ids, st.none() | moments, compact_values),
        min_size=1,
        max_size=8,
    ),
    separators=st.sampled_from([",;", "|#", ":\n", "!@", "\t~"]),
    zone=st.sampled_from(sorted(ZONES)),
)
def test_type_5_compact_records(
    records: list[tuple[str, Any, str]], separators: str, zone: str
) -> None:
    field, record = separators[0], separators[1]
    # the oracle's records may not contain the separators they are joined by
    if any(field in v or record in v for _, _, v in records):
        return
    if any(field in written(m) for _, m, _ in records if m is not None):
        return
    lines = [
        field.join([s, written(m), v] if m is not None else [s, v])
        for s, m, v in records
    ]
    text = separators + record.join(lines)
    got = parse_upload("5", text.encode(), ZoneInfo(zone), NOW)
    want = [
        (s, oracle_ms(m, ZONES[zone]) if m is not None else NOW, *compact_oracle(v))
        for s, m, v in records
    ]
    assert got == want


def outcome(kind: str | None, body: bytes) -> list[tuple[Any, ...]] | int:
    """The items parsed, or the HTTP status of the error raised."""
    try:
        return parse_upload(kind, body, ZoneInfo("UTC"), NOW)
    except errors.ServiceError as exc:
        return exc.status


@settings(max_examples=300)
@given(kind=st.sampled_from([None, "1", "3", "4", "5", "2", "x"]), body=st.binary())
def test_any_body_parses_or_is_a_client_error(kind: str | None, body: bytes) -> None:
    """Whatever a device sends, the answer is points or a 4xx, never a crash."""
    result = outcome(kind, body)
    if isinstance(result, int):
        assert 400 <= result < 500
    else:
        assert result and all(isinstance(i[1], int) for i in result)


@settings(max_examples=300)
@given(
    kind=st.sampled_from([None, "3", "4"]),
    doc=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_any_json_parses_or_is_a_client_error(kind: str | None, doc: Any) -> None:
    result = outcome(kind, json.dumps(doc).encode())
    assert 400 <= result < 500 if isinstance(result, int) else result


@pytest.mark.parametrize(
    "text",
    ["2015-03-22T22:31:12", "2015-03-22 22:31:12", "2015-03-22T22:31:12.5"],
)
def test_the_documented_time_forms(text: str) -> None:
    ms = parse_time(text, ZoneInfo("Asia/Shanghai"), "at")
    assert ms == (calendar.timegm((2015, 3, 22, 14, 31, 12))) * 1000 + (
        500 if text.endswith(".5") else 0
    )


edge_moments = st.tuples(
    st.sampled_from([1, 2, 9998, 9999]) | st.integers(1, 9999),
    st.sampled_from([1, 12]) | st.integers(1, 12),
    st.sampled_from([1, 2, 28]) | st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.none() | st.integers(0, 999),
)
EARLIEST = calendar.timegm((1, 1, 2, 0, 0, 0)) * 1000
LATEST = calendar.timegm((9999, 12, 30, 23, 59, 59)) * 1000 + 999


@given(
    moment=edge_moments,
    sign=st.sampled_from("+-"),
    hours=st.integers(0, 99),
    minutes=st.integers(0, 99),
    colon=st.booleans(),
)
def test_offsets_and_the_ends_of_the_calendar(
    moment: tuple[int, ...], sign: str, hours: int, minutes: int, colon: bool
) -> None:
    """An offset past 23:59 is an error, never a crash (`+99:00` was a 500); a time
    to store must be one every zone can show; a read's bound may be any time."""
    text = written(moment) + f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"
    possible = hours <= 23 and minutes <= 59
    ms = oracle_ms(moment, (1 if sign == "+" else -1) * (hours * 3600 + minutes * 60))
    tz = ZoneInfo("Asia/Shanghai")  # (not used: the offset wins)
    if not possible:
        for stored in (True, False):
            with pytest.raises(errors.InvalidInput, match="impossible UTC offset"):
                parse_time(text, tz, "at", stored=stored)
        return
    assert parse_time(text, tz, "start", stored=False) == ms
    if EARLIEST <= ms <= LATEST:
        assert parse_time(text, tz, "at") == ms
    else:
        with pytest.raises(errors.InvalidInput, match="between 0001-01-02 and 9999"):
            parse_time(text, tz, "at")

"""Epoch milliseconds and datetimes, and showing any 64-bit time, against a plain
oracle: Howard Hinnant's days-to-civil algorithm (integer arithmetic only, proleptic
Gregorian, astronomical years)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from service.records import LONG_MAX, LONG_MIN
from service.times import (
    EARLIEST_MS,
    LATEST_MS,
    now_ms,
    now_s,
    parse_iso,
    render,
    storable,
    to_datetime,
    to_ms,
)

DAY_MS = 86_400_000


def civil(days: int) -> tuple[int, int, int]:
    """Year, month, day of ``days`` since 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def oracle(ms: int) -> str:
    days, rest = divmod(ms, DAY_MS)
    year, month, day = civil(days)
    seconds, millis = divmod(rest, 1000)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    sign = "-" if year < 0 else ""
    return (
        f"{sign}{abs(year):04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}"
        f".{millis:03d}+00:00"
    )


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@given(st.integers(LONG_MIN, LONG_MAX))
@example(LONG_MIN)
@example(LONG_MAX)
@example(EARLIEST_MS - DAY_MS - 1)  # the last millisecond of year 0
@example(LATEST_MS + DAY_MS + 1)  # in year 10000
@example(-1)
def test_any_64_bit_time_is_shown_in_utc(ms: int) -> None:
    assert render(ms, dt.UTC, iso) == oracle(ms)


@given(
    st.integers(EARLIEST_MS, LATEST_MS),
    st.sampled_from(["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Manila", "UTC"]),
)
def test_every_storable_time_is_shown_in_any_zone(ms: int, zone: str) -> None:
    assert storable(ms)
    shown = dt.datetime.fromisoformat(render(ms, ZoneInfo(zone), iso))
    assert shown.utcoffset() == shown.astimezone(ZoneInfo(zone)).utcoffset()
    assert iso(shown.astimezone(dt.UTC)) == oracle(ms)


def test_the_storable_range() -> None:
    assert oracle(EARLIEST_MS) == "0001-01-02T00:00:00.000+00:00"
    assert oracle(LATEST_MS) == "9999-12-30T23:59:59.999+00:00"
    assert not storable(EARLIEST_MS - 1) and not storable(LATEST_MS + 1)


@given(st.integers(EARLIEST_MS, LATEST_MS), st.integers(0, 999))
@example(-1, 999)  # the last microsecond before the epoch: -1 ms, not 0
def test_a_datetime_is_its_milliseconds_rounded_down(ms: int, micros: int) -> None:
    moment = to_datetime(ms) + dt.timedelta(microseconds=micros)
    assert iso(moment) == oracle(ms)
    assert to_ms(moment) == ms
    assert to_ms(moment.astimezone(ZoneInfo("Asia/Kathmandu"))) == ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.001+00:00", 1),
        ("2015-03-22T22:31:12.5+08:00", 1427034672500),
        ("1969-12-31T23:59:59.9995Z", -1),
    ],
)
def test_iso_8601_text_with_an_offset(text: str, ms: int) -> None:
    assert to_ms(parse_iso(text)) == ms


def test_iso_8601_text_without_an_offset_is_naive_and_garbage_is_refused() -> None:
    assert parse_iso("2015-03-22T22:31:12").tzinfo is None
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_iso("yesterday")


def test_the_clock_in_milliseconds_and_seconds() -> None:
    before = dt.datetime.now(dt.UTC)
    ms, s = now_ms(), now_s()
    after = dt.datetime.now(dt.UTC)
    assert to_ms(before) <= ms <= to_ms(after)
    assert to_ms(before) // 1000 <= s <= to_ms(after) // 1000

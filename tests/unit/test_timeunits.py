"""Calendar arithmetic over the whole 64-bit range of ms, against plain oracles.

For UTC the oracle is integer arithmetic on the proleptic Gregorian calendar (days
from and to a civil date, no datetime), which has no range limit. For zones with
daylight saving time, moments datetime can hold are checked against the datetime
arithmetic the service used before it reached past years 1 and 9999.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from service.dialects.kairosdb.query_parser import parse_query
from service.errors import InvalidInput
from service.query.timeunits import (
    MAX_VALUE,
    Buckets,
    Duration,
    add,
    align,
    month_number,
)
from service.records import LONG_MAX, LONG_MIN

DAY = 86_400_000
CALENDAR = ["DAYS", "WEEKS", "MONTHS", "YEARS"]
times = st.integers(LONG_MIN, LONG_MAX)


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def month_length(y: int, m: int) -> int:
    return days_from_civil(y + (m == 12), m % 12 + 1, 1) - days_from_civil(y, m, 1)


def oracle_add(ms: int, amount: int, unit: str) -> int:
    days, rest = divmod(ms, DAY)
    if unit in ("DAYS", "WEEKS"):
        return ms + amount * (7 if unit == "WEEKS" else 1) * DAY
    y, m, d = civil_from_days(days)
    index = y * 12 + m - 1 + amount * (12 if unit == "YEARS" else 1)
    y, m = divmod(index, 12)
    m += 1
    return days_from_civil(y, m, min(d, month_length(y, m))) * DAY + rest


def oracle_align(ms: int, unit: str) -> int:
    if unit == "MILLISECONDS":
        return ms - ms % 1000
    days = ms // DAY
    y, m, _ = civil_from_days(days)
    if unit == "YEARS":
        return days_from_civil(y, 1, 1) * DAY
    if unit == "MONTHS":
        return days_from_civil(y, m, 1) * DAY
    if unit == "WEEKS":
        return (days - (days + 3) % 7) * DAY  # 1970-01-01 was a Thursday
    return days * DAY


@st.composite
def durations(draw: st.DrawFn) -> tuple[int, str]:
    unit = draw(st.sampled_from(CALENDAR))
    top = MAX_VALUE[unit]
    amount = draw(st.integers(-top, top) | st.integers(-1000, 1000))
    return amount, unit


@example(LONG_MIN, (1, "DAYS"))
@example(LONG_MAX, (-1, "MONTHS"))
@example(LONG_MIN, (MAX_VALUE["YEARS"], "YEARS"))
@example(0, (-MAX_VALUE["MONTHS"], "MONTHS"))
@example(951_782_400_000 - DAY, (1, "YEARS"))  # 2000-02-29 + a year
@given(times, durations())
def test_utc_calendar_arithmetic_anywhere_in_time(
    ms: int, duration: tuple[int, str]
) -> None:
    amount, unit = duration
    assert add(ms, amount, unit) == oracle_add(ms, amount, unit)


@example(LONG_MIN, "YEARS")
@example(LONG_MAX, "WEEKS")
@given(times, st.sampled_from(["MILLISECONDS", "SECONDS", *CALENDAR]))
def test_utc_alignment_anywhere_in_time(ms: int, unit: str) -> None:
    assert align(ms, unit, ZoneInfo("UTC")) == oracle_align(ms, unit)


@example(LONG_MIN)
@example(LONG_MAX)
@given(times)
def test_month_numbers_anywhere_in_time(ms: int) -> None:
    y, m, _ = civil_from_days(ms // DAY)
    assert month_number(ms) == y * 12 + m - 1


# -- zones: unchanged where datetime reaches, sensible beyond ---------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SPAN = st.integers(-30_610_224_000_000, 221_845_392_000_000)  # years 1000 to 9000
ZONES = ["Europe/Paris", "America/Santiago", "Pacific/Apia", "Australia/Lord_Howe"]


def datetime_add(ms: int, amount: int, unit: str, tz: ZoneInfo) -> int:
    """The service's arithmetic before it reached past years 1 and 9999."""
    local = (_EPOCH + dt.timedelta(milliseconds=ms)).astimezone(tz).replace(tzinfo=None)
    if unit == "DAYS":
        local += dt.timedelta(days=amount)
    elif unit == "WEEKS":
        local += dt.timedelta(weeks=amount)
    else:
        index = (
            local.year * 12 + local.month - 1 + amount * (12 if unit == "YEARS" else 1)
        )
        year, month = divmod(index, 12)
        last = month_length(year, month + 1)
        local = local.replace(year=year, month=month + 1, day=min(local.day, last))
    delta = local.replace(tzinfo=tz) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@given(
    SPAN, st.integers(-4000, 4000), st.sampled_from(CALENDAR), st.sampled_from(ZONES)
)
def test_zoned_arithmetic_within_datetimes_reach_is_unchanged(
    ms: int, amount: int, unit: str, zone: str
) -> None:
    tz = ZoneInfo(zone)
    try:
        expected = datetime_add(ms, amount, unit, tz)
    except (OverflowError, ValueError):
        return  # the old arithmetic could not compute it at all
    assert add(ms, amount, unit, tz) == expected


# A range of each unit lasts this long at least and at most, in any zone (a day may
# last 0 h where a zone skipped one, or 48 h where one was repeated).
LENGTHS = {
    "DAYS": (0, 2 * DAY),
    "WEEKS": (6 * DAY, 8 * DAY),
    "MONTHS": (27 * DAY, 32 * DAY),
    "YEARS": (364 * DAY, 367 * DAY),
}


@example(LONG_MIN, "MONTHS", "Europe/Paris")
@example(LONG_MAX - 40 * DAY, "DAYS", "Pacific/Apia")
@given(times, st.sampled_from(CALENDAR), st.sampled_from(ZONES))
def test_zoned_ranges_anywhere_in_time_follow_the_calendar(
    ms: int, unit: str, zone: str
) -> None:
    """The range holding a moment (what a range aggregator finds for each point)
    holds it, starts where the unit aligns, and lasts as long as the unit can."""
    tz = ZoneInfo(zone)
    origin = align(ms, unit, tz)
    start, end = Buckets(origin, Duration(1, unit), tz).of(ms)
    assert start <= ms < end
    assert align(start, unit, tz) == start
    low, high = LENGTHS[unit]
    assert low <= end - start <= high


def test_a_relative_time_before_the_earliest_time_is_a_400() -> None:
    # unreachable with a clock after 1970: the bound on durations keeps now minus
    # any of them in range; a clock set far before it must not slip past the check
    query = {
        "start_relative": {"value": MAX_VALUE["YEARS"], "unit": "years"},
        "metrics": [{"name": "m"}],
    }
    with pytest.raises(InvalidInput) as raised:
        parse_query(query, now_ms=-(10**15))
    assert raised.value.messages == [
        "query.start_relative reaches before the earliest time a query can name "
        f"({LONG_MIN} ms since the epoch); use a shorter duration"
    ]
    assert parse_query(query, now_ms=0).start >= LONG_MIN

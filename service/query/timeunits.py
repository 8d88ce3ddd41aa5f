"""Time units, relative times and calendar-aware range arithmetic.

Units up to HOURS are fixed lengths of milliseconds. DAYS and WEEKS follow the calendar
of the query's time zone (a day across a DST change lasts 23 or 25 hours), MONTHS and
YEARS too (a month lasts 28 to 31 days), as KairosDB computes them with Joda.

Every time a query can name is a signed 64-bit count of milliseconds (about 292
million years either side of 1970), but Python's datetime only spans years 1 to 9999.
Calendar arithmetic outside that span moves the moment by whole 400-year Gregorian
cycles (146,097 days, which the calendar and the weekdays repeat exactly) into it,
computes there and moves the result back; inside it nothing moves, so ordinary
queries are computed exactly as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from service.times import to_datetime, to_ms

UTC = ZoneInfo("UTC")
UNITS = (
    "MILLISECONDS",
    "SECONDS",
    "MINUTES",
    "HOURS",
    "DAYS",
    "WEEKS",
    "MONTHS",
    "YEARS",
)
FIXED_MS = {
    "MILLISECONDS": 1,
    "SECONDS": 1000,
    "MINUTES": 60_000,
    "HOURS": 3_600_000,
    "DAYS": 86_400_000,
    "WEEKS": 604_800_000,
}
# A rough length of each unit, in ms: what bounds a duration's value so that it
# stays within the 64-bit range of milliseconds (a mean Gregorian month and year).
NOMINAL_MS = {
    **FIXED_MS,
    "MONTHS": 2_629_746_000,
    "YEARS": 31_556_952_000,
}
LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1
# The longest duration of each unit a query may name: no more than the whole 64-bit
# range of milliseconds (292,277,024 years).
MAX_VALUE = {unit: LONG_MAX // ms for unit, ms in NOMINAL_MS.items()}

CYCLE_DAYS = 146_097  # days in 400 Gregorian years
CYCLE_MONTHS = 4_800
CYCLE_MS = CYCLE_DAYS * 86_400_000
# Moments from here to _HIGH are computed where they are; others are moved by whole
# cycles to just inside (far enough from years 1 and 9999 for any UTC offset and a
# further 400 years of arithmetic either way).
_LOW = -30_610_224_000_000  # 1000-01-01
_HIGH = 221_845_392_000_000  # 9000-01-01


@dataclass(frozen=True)
class Duration:
    value: int
    unit: str

    def as_json(self) -> dict[str, object]:
        return {"value": self.value, "unit": self.unit}


def clamp(ms: int) -> int:
    """``ms`` within the 64-bit range (a range edge past the end of time is the end
    of time: nothing stores or shows a time outside it)."""
    return LONG_MIN if ms < LONG_MIN else LONG_MAX if ms > LONG_MAX else ms


def _in_span(ms: int) -> tuple[int, int]:
    """(moment, shift) with ``moment + shift == ms``, the moment within the span
    datetime computes in, ``shift`` a whole number of 400-year cycles. Far-future
    moments land in years 8600-9000 (where zones follow their rule for all later
    years), far-past ones in years 1000-1400 (where zones keep local mean time)."""
    if ms < _LOW:
        shift = -(-(_LOW - ms) // CYCLE_MS) * CYCLE_MS
        return ms + shift, -shift
    if ms >= _HIGH:
        shift = (ms - _HIGH) // CYCLE_MS * CYCLE_MS + CYCLE_MS
        return ms - shift, shift
    return ms, 0


def _split(amount: int, cycle: int) -> tuple[int, int]:
    """``amount`` as (whole cycles, rest), both with its sign: the rest is computed
    on the calendar, so it stays within 400 years of the moment."""
    cycles, rest = divmod(abs(amount), cycle)
    return (cycles, rest) if amount >= 0 else (-cycles, -rest)


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """Calendar months later, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def add(ms: int, amount: int, unit: str, tz: ZoneInfo = UTC) -> int:
    """``ms`` plus ``amount`` units, on the calendar of ``tz`` where that matters.
    The result may lie outside the 64-bit range; callers that store or show it
    check or :func:`clamp` it."""
    if unit in ("MILLISECONDS", "SECONDS", "MINUTES", "HOURS"):
        return ms + amount * FIXED_MS[unit]
    moment, shift = _in_span(ms)
    wall = to_datetime(moment, tz).replace(tzinfo=None)
    if unit in ("DAYS", "WEEKS"):
        cycles, days = _split(amount * (7 if unit == "WEEKS" else 1), CYCLE_DAYS)
        wall += dt.timedelta(days=days)
    else:
        months = amount * (12 if unit == "YEARS" else 1)
        cycles, months = _split(months, CYCLE_MONTHS)
        wall = _add_months(wall, months)
    # Wall-clock arithmetic, then back to an instant with the offset the zone has
    # at the time reached (fold=0 on ambiguous times).
    reached = to_ms(wall.replace(tzinfo=dt.UTC)) + shift + cycles * CYCLE_MS
    return _instant(reached, tz)


def _instant(wall_ms: int, tz: ZoneInfo) -> int:
    """The instant a wall-clock time of ``tz`` (given as ms on a UTC clock) names."""
    moment, shift = _in_span(wall_ms)
    wall = to_datetime(moment)
    return to_ms(wall.replace(tzinfo=tz)) + shift


def relative(now_ms: int, duration: Duration) -> int:
    """``now`` minus a relative duration, on the UTC calendar (as KairosDB does)."""
    return add(now_ms, -duration.value, duration.unit, UTC)


def align(ms: int, unit: str, tz: ZoneInfo) -> int:
    """Start of the period a sampling of ``unit`` is aligned to (``align_sampling``):
    the year, the month, the (Monday) week, the day for days and anything down to
    seconds (so every bucket boundary falls on a multiple of the sampling from
    midnight), and the second for milliseconds."""
    if unit == "MILLISECONDS":
        return ms - ms % 1000
    moment, shift = _in_span(ms)
    local = to_datetime(moment, tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "YEARS":
        day = day.replace(month=1, day=1)
    elif unit == "MONTHS":
        day = day.replace(day=1)
    elif unit == "WEEKS":
        day = day - dt.timedelta(days=day.weekday())
    return to_ms(day.replace(tzinfo=None).replace(tzinfo=tz)) + shift


def month_number(ms: int) -> int:
    """Calendar months from year 0 to the UTC month of ``ms``."""
    moment, shift = _in_span(ms)
    day = to_datetime(moment, UTC)
    return day.year * 12 + day.month - 1 + shift // CYCLE_MS * CYCLE_MONTHS


class Buckets:
    """Consecutive ranges of ``value`` units starting at ``origin``.

    ``of(ts)`` gives the (start, end) of the range holding ``ts``, end exclusive.
    Fixed-length units use arithmetic; calendar units step from the last range found,
    so a sorted stream costs a step per range, not per point.
    """

    def __init__(self, origin: int, duration: Duration, tz: ZoneInfo) -> None:
        self.origin = origin
        self.value = duration.value
        self.unit = duration.unit
        self.tz = tz
        self.width = (
            FIXED_MS[duration.unit] * duration.value
            if duration.unit in ("MILLISECONDS", "SECONDS", "MINUTES", "HOURS")
            or (duration.unit in ("DAYS", "WEEKS") and _fixed_offset(tz))
            else 0
        )
        self._n = 0
        self._range = (origin, self._edge(1))

    def _edge(self, n: int) -> int:
        return add(self.origin, n * self.value, self.unit, self.tz)

    def of(self, ts: int) -> tuple[int, int]:
        if self.width:
            start = self.origin + (ts - self.origin) // self.width * self.width
            return start, start + self.width
        start, end = self._range
        if start <= ts < end:
            return self._range
        n = self._n
        # Jump close first (a calendar unit is within a factor 1.2 of its mean
        # length), then step to the exact range.
        mean = {"DAYS": 86_400_000, "WEEKS": 604_800_000, "MONTHS": 2_629_746_000}.get(
            self.unit, 31_556_952_000
        ) * self.value
        n = (ts - self.origin) // mean
        while self._edge(n) > ts:
            n -= 1
        while self._edge(n + 1) <= ts:
            n += 1
        self._n = n
        self._range = (self._edge(n), self._edge(n + 1))
        return self._range

    def start_of(self, n: int) -> int:
        """Start of range number ``n``."""
        return self.origin + n * self.width if self.width else self._edge(n)

    def index(self, ts: int) -> int:
        """Number of the range holding ``ts`` (0 for the one starting at origin)."""
        if self.width:
            return (ts - self.origin) // self.width
        self.of(ts)
        return self._n


def _fixed_offset(tz: ZoneInfo) -> bool:
    """True for zones without DST or offset changes (UTC and the like)."""
    return tz.key in ("UTC", "Etc/UTC", "GMT", "Etc/GMT", "Universal", "Zulu")

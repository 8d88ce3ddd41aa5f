"""Time units, relative times and calendar-aware range arithmetic.

Units up to HOURS are fixed lengths of milliseconds. DAYS and WEEKS follow the calendar
of the query's time zone (a day across a DST change lasts 23 or 25 hours), MONTHS and
YEARS too (a month lasts 28 to 31 days), as KairosDB computes them with Joda.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

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
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Duration:
    value: int
    unit: str

    def as_json(self) -> dict[str, object]:
        return {"value": self.value, "unit": self.unit}


def to_datetime(ms: int, tz: ZoneInfo) -> dt.datetime:
    return (_EPOCH + dt.timedelta(milliseconds=ms)).astimezone(tz)


def to_ms(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """Calendar months later, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def add(ms: int, amount: int, unit: str, tz: ZoneInfo = UTC) -> int:
    """``ms`` plus ``amount`` units, on the calendar of ``tz`` where that matters."""
    if unit in ("MILLISECONDS", "SECONDS", "MINUTES", "HOURS"):
        return ms + amount * FIXED_MS[unit]
    local = to_datetime(ms, tz).replace(tzinfo=None)
    if unit == "DAYS":
        local += dt.timedelta(days=amount)
    elif unit == "WEEKS":
        local += dt.timedelta(weeks=amount)
    else:
        local = _add_months(local, amount * (12 if unit == "YEARS" else 1))
    # Wall-clock arithmetic, then back to an instant (fold=0 on ambiguous times).
    return to_ms(local.replace(tzinfo=tz))


def relative(now_ms: int, duration: Duration) -> int:
    """``now`` minus a relative duration, on the UTC calendar (as KairosDB does)."""
    return add(now_ms, -duration.value, duration.unit, UTC)


def align(ms: int, unit: str, tz: ZoneInfo) -> int:
    """Start of the period a sampling of ``unit`` is aligned to (``align_sampling``):
    the year, the month, the (Monday) week, the day for days and anything down to
    seconds (so every bucket boundary falls on a multiple of the sampling from
    midnight), and the second for milliseconds."""
    local = to_datetime(ms, tz)
    if unit == "MILLISECONDS":
        return ms - ms % 1000
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "YEARS":
        day = day.replace(month=1, day=1)
    elif unit == "MONTHS":
        day = day.replace(day=1)
    elif unit == "WEEKS":
        day = day - dt.timedelta(days=day.weekday())
    return to_ms(day.replace(tzinfo=None).replace(tzinfo=tz))


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

"""Times: milliseconds since the epoch and datetimes, the clock, ISO 8601 text, and
the span of times a client may store.

Every conversion between epoch milliseconds and a ``datetime`` goes through
:func:`to_ms` and :func:`to_datetime`: exact integer arithmetic (``float`` seconds
times 1000 can land a millisecond short), floor division for times before 1970.

Python's ``datetime`` spans the years 1 to 9999. A time a client sends for storage must
fall a day inside that span (``EARLIEST_MS`` to ``LATEST_MS``), so that it can be shown
in any time zone, the project's included, whatever zone the project has later.

Stores may still hold times outside it: rows written before the limit existed, or
points any 64-bit timestamp (KairosDB's API takes them all) that another dialect reads.
:func:`render` shows those too, so a read never fails on one.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
# The Gregorian calendar repeats exactly every 400 years (146,097 days).
_CYCLE_MS = 146_097 * 86_400_000


def now_ms() -> int:
    """The wall clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def now_s() -> int:
    """The wall clock in whole seconds since the epoch (unix time)."""
    return int(time.time())


def to_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch of an aware ``moment``, rounded down."""
    return (moment - EPOCH) // _MS


def to_datetime(ms: int, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """The moment ``ms`` in ``tz``; OverflowError outside the years 1 to 9999 (see
    :func:`render` for showing any time)."""
    return (EPOCH + dt.timedelta(milliseconds=ms)).astimezone(tz)


def parse_iso(text: str) -> dt.datetime:
    """An ISO 8601 date and time; ``Z`` stands for UTC. Naive when ``text`` has no
    offset. ValueError for anything else."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


EARLIEST_MS = to_ms(dt.datetime(1, 1, 2, tzinfo=dt.UTC))
LATEST_MS = to_ms(dt.datetime(9999, 12, 30, 23, 59, 59, 999_000, tzinfo=dt.UTC))
RANGE_TEXT = "between 0001-01-02 and 9999-12-30 (UTC)"


def storable(ms: int) -> bool:
    """True for a time a client may store (see the module's docstring)."""
    return EARLIEST_MS <= ms <= LATEST_MS


def render(ms: int, tz: dt.tzinfo, fmt: Callable[[dt.datetime], str]) -> str:
    """``fmt`` of the moment ``ms`` in ``tz``. ``fmt`` must start its text with the
    four-digit year (as ``isoformat`` does). A moment outside the years 1 to 9999 is
    shown in UTC, with its true year (``10000-01-01T...``, ``-0005-...``)."""
    try:
        return fmt(to_datetime(ms, tz))
    except OverflowError:
        pass
    # Format the same date of a year inside the range, then put the real year back.
    cycles = ms // _CYCLE_MS
    moment = EPOCH + dt.timedelta(milliseconds=ms - cycles * _CYCLE_MS)
    year = moment.year + 400 * cycles
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}{fmt(moment)[4:]}"

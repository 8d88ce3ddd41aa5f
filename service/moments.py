"""The times the service accepts from clients, and showing any stored time.

Python's ``datetime`` spans the years 1 to 9999. A time a client sends for storage must
fall a day inside that span (``EARLIEST_MS`` to ``LATEST_MS``), so that it can be shown
in any time zone, the project's included, whatever zone the project has later.

Stores may still hold times outside it: rows written before the limit existed, or
points any 64-bit timestamp (KairosDB's API takes them all) that another dialect reads.
``render`` shows those too, so a read never fails on one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The Gregorian calendar repeats exactly every 400 years (146,097 days).
_CYCLE_MS = 146_097 * 86_400_000


def _ms(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


EARLIEST_MS = _ms(dt.datetime(1, 1, 2, tzinfo=dt.UTC))
LATEST_MS = _ms(dt.datetime(9999, 12, 30, 23, 59, 59, 999_000, tzinfo=dt.UTC))
RANGE_TEXT = "between 0001-01-02 and 9999-12-30 (UTC)"


def storable(ms: int) -> bool:
    """True for a time a client may store (see the module's docstring)."""
    return EARLIEST_MS <= ms <= LATEST_MS


def render(ms: int, tz: dt.tzinfo, fmt: Callable[[dt.datetime], str]) -> str:
    """``fmt`` of the moment ``ms`` in ``tz``. ``fmt`` must start its text with the
    four-digit year (as ``isoformat`` does). A moment outside the years 1 to 9999 is
    shown in UTC, with its true year (``10000-01-01T...``, ``-0005-...``)."""
    try:
        return fmt((_EPOCH + dt.timedelta(milliseconds=ms)).astimezone(tz))
    except OverflowError:
        pass
    # Format the same date of a year inside the range, then put the real year back.
    cycles = ms // _CYCLE_MS
    moment = _EPOCH + dt.timedelta(milliseconds=ms - cycles * _CYCLE_MS)
    year = moment.year + 400 * cycles
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}{fmt(moment)[4:]}"

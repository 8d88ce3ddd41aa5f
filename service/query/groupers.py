"""Group-bys that split a metric's points into result groups.

``tag`` groups whole series by tag values; ``time``, ``value`` and ``bin`` give each
point a group number; every result is also grouped by its data's type group, as
KairosDB does.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from service.query.timeunits import FIXED_MS, Duration, month_number


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class TagGroupBy:
    tags: tuple[str, ...]

    def key(self, series_tags: dict[str, str]) -> tuple[tuple[str, str], ...]:
        # A series without one of the tags is grouped on the others (KairosDB).
        return tuple((t, series_tags[t]) for t in self.tags if t in series_tags)

    def result(self, key: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        return {"name": "tag", "tags": list(self.tags), "group": dict(key)}


@dataclass(frozen=True)
class TimeGroupBy:
    """Group number = ranges of ``range_size`` since the query start, modulo
    ``group_count`` (e.g. hour of the day: 1 hour, 24 groups)."""

    range_size: Duration
    group_count: int
    start: int

    def group(self, ts: int, _value: Any) -> int:
        unit = self.range_size.unit
        if unit in ("MONTHS", "YEARS"):
            months = month_number(ts) - month_number(self.start)
            if unit == "YEARS":
                months //= 12
            n = months // self.range_size.value
        else:
            n = (ts - self.start) // (FIXED_MS[unit] * self.range_size.value)
        return n % self.group_count

    def result(self, number: int) -> dict[str, Any]:
        return {
            "name": "time",
            "range_size": self.range_size.as_json(),
            "group_count": self.group_count,
            "group": {"group_number": number},
        }


@dataclass(frozen=True)
class ValueGroupBy:
    """Group number = floor(value / range_size): equal-width groups on both sides of
    zero (KairosDB truncates toward zero, so its group 0 is twice as wide)."""

    range_size: int

    def group(self, _ts: int, value: Any) -> int | None:
        if not _number(value):
            return None
        return int(value // self.range_size)

    def result(self, number: int | None) -> dict[str, Any]:
        return {
            "name": "value",
            "range_size": self.range_size,
            "group": {"group_number": number},
        }


@dataclass(frozen=True)
class BinGroupBy:
    """Bin 0 is below bins[0], bin i is [bins[i-1], bins[i]), the last is above."""

    bins: tuple[float, ...]

    def group(self, _ts: int, value: Any) -> int | None:
        if not _number(value):
            return None
        return bisect.bisect_right(self.bins, value)

    def result(self, number: int | None) -> dict[str, Any]:
        return {"name": "bin", "bins": list(self.bins), "group": {"bin_number": number}}


PointGrouper = TimeGroupBy | ValueGroupBy | BinGroupBy

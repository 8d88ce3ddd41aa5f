"""Group-bys that split a metric's points into result groups.

``tag`` groups whole series by tag values; ``time``, ``value`` and ``bin`` give each
point a group number; every result is also grouped by its data's type group, as
KairosDB does.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.query.timeunits import FIXED_MS, Duration, month_number

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)
# Within this, numpy's datetimes and int64 arithmetic give what Python gives.
_SAFE = 2**53


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

    def numbers(self, ts: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        """Every point's group number at once (None: compute them one by one)."""
        if not len(ts) or max(abs(int(ts.min())), abs(int(ts.max()))) > _SAFE:
            return None
        unit = self.range_size.unit
        if unit in ("MONTHS", "YEARS"):
            months = ts.astype("datetime64[ms]").astype("datetime64[M]").astype(_I64)
            months = months - (month_number(self.start) - 1970 * 12)
            if unit == "YEARS":
                months = months // 12
            n = months // self.range_size.value
        else:
            n = (ts - self.start) // (FIXED_MS[unit] * self.range_size.value)
        out: np.ndarray = n % self.group_count
        return out

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

    def numbers(self, ts: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        if values.dtype == _I64:
            out: np.ndarray = values // self.range_size
            return out
        if values.dtype == _F64 and np.isfinite(values).all():
            # floats' floor division, as Python's; whole numbers as ints
            floors = np.floor_divide(values, self.range_size)
            if np.abs(floors).max(initial=0) < _SAFE:
                whole: np.ndarray = floors.astype(_I64)
                return whole
        return None

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

    def numbers(self, ts: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        exact = values.dtype == _F64 or (
            values.dtype == _I64
            and (not len(values) or np.abs(values).max() <= _SAFE)
            and values.min(initial=0) > -_SAFE
        )
        if not exact:  # big ints against float edges: Python compares exactly
            return None
        out: np.ndarray = np.searchsorted(np.array(self.bins, _F64), values, "right")
        return out.astype(_I64)

    def result(self, number: int | None) -> dict[str, Any]:
        return {"name": "bin", "bins": list(self.bins), "group": {"bin_number": number}}


PointGrouper = TimeGroupBy | ValueGroupBy | BinGroupBy

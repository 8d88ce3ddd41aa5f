"""Points as columns: what writes carry and reads return.

Per-point Python work is what makes a Python service slow, so points travel as numpy
arrays from the parser to the store and from the store to the aggregators: a column of
timestamps (int64, ms since the epoch) and a column of values: int64 for longs,
float64 for doubles, and Python objects for every other type (strings, complex numbers,
JSON, plugins' types). A set of points usually has one type; when it mixes types (a
KairosDB request with ints and floats in one series) each point names its type through
``codes`` (an index into ``kinds``) and the values are objects.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Point = tuple[int, str, Any]

_INT64 = np.dtype(np.int64)
# The arrays a type's values live in; any other type's values are objects.
DTYPES = {"long": np.dtype(np.int64), "double": np.dtype(np.float64)}
_OBJECT = np.dtype(object)
# Up to this many points, a check on plain Python numbers costs less than the numpy
# calls it replaces (each costs a microsecond or so, whatever the size).
FEW = 16


def increasing(ts: np.ndarray) -> bool:
    """Every timestamp after the one before it."""
    if len(ts) <= FEW:  # (a write's few points: compared as ints, no numpy calls)
        stamps = ts.tolist()
        return all(map(operator.lt, stamps, stamps[1:]))
    return bool(np.all(ts[1:] > ts[:-1]))


def dtype_of(kind: str) -> np.dtype[Any]:
    return DTYPES.get(kind, _OBJECT)


def values_array(kind: str, values: Sequence[Any]) -> np.ndarray:
    """Validated values of one type as the array that type lives in."""
    dtype = dtype_of(kind)
    if dtype is _OBJECT:
        # (fromiter: a tuple value, a complex number's, stays one object)
        return np.fromiter(values, dtype=object, count=len(values))
    return np.asarray(values, dtype=dtype)


@dataclass(frozen=True, slots=True, eq=False)
class Points:
    """Points of one series: ``ts`` and ``values`` of equal length, their types in
    ``kinds`` (one name, or several with ``codes`` saying whose each point is)."""

    ts: np.ndarray
    values: np.ndarray
    kinds: tuple[str, ...]
    codes: np.ndarray | None = None

    # -- building -------------------------------------------------------------------

    @classmethod
    def of(cls, kind: str, ts: Any, values: Any) -> Points:
        """Points of one type from sequences or arrays (values already validated)."""
        ts_arr = np.asarray(ts, dtype=_INT64)
        if isinstance(values, np.ndarray) and values.dtype == dtype_of(kind):
            vals = values
        else:
            vals = values_array(kind, values)
        return cls(ts_arr, vals, (kind,))

    @classmethod
    def empty(cls, kind: str = "double") -> Points:
        return cls(np.empty(0, _INT64), np.empty(0, dtype_of(kind)), (kind,))

    @classmethod
    def from_tuples(cls, points: Iterable[Point]) -> Points:
        """``(ts, type, value)`` triples, as dialects that build points one by one
        (OneNET, save_as) make them."""
        items = list(points)
        if not items:
            return cls.empty()
        ts = np.fromiter((p[0] for p in items), dtype=_INT64, count=len(items))
        first = items[0][1]
        if all(p[1] == first for p in items):
            return cls(ts, values_array(first, [p[2] for p in items]), (first,))
        kinds = tuple(dict.fromkeys(p[1] for p in items))
        index = {k: i for i, k in enumerate(kinds)}
        codes = np.fromiter((index[p[1]] for p in items), np.int16, len(items))
        values = np.fromiter((p[2] for p in items), dtype=object, count=len(items))
        return cls(ts, values, kinds, codes)

    @staticmethod
    def concat(parts: Sequence[Points]) -> Points:
        """The points of ``parts`` one after the other."""
        parts = [p for p in parts if len(p)] or list(parts[:1])
        if not parts:
            return Points.empty()
        if len(parts) == 1:
            return parts[0]
        kinds = tuple(dict.fromkeys(k for p in parts for k in p.kinds))
        ts = np.concatenate([p.ts for p in parts])
        if len(kinds) == 1:
            return Points(ts, np.concatenate([p.values for p in parts]), kinds)
        index = {k: i for i, k in enumerate(kinds)}
        codes = np.concatenate([p.codes_in(index) for p in parts])
        values = np.empty(len(ts), dtype=object)
        at = 0
        for p in parts:
            values[at : at + len(p)] = p.values
            at += len(p)
        return Points(ts, values, kinds, codes)

    # -- reading --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ts)

    def __iter__(self) -> Iterator[Point]:
        return iter(self.tuples())

    def __eq__(self, other: object) -> bool:
        """The same points in the same order, of the same types (as other Points or
        as a list of ``(ts, type, value)`` triples)."""
        if isinstance(other, Points):
            return self.tuples() == other.tuples()
        if isinstance(other, list):
            return self.tuples() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def kind(self) -> str | None:
        """The one type of every point, or None when they mix types."""
        return self.kinds[0] if self.codes is None else None

    def codes_in(self, index: dict[str, int]) -> np.ndarray:
        """Each point's type as an index into another ``kinds`` (``index``)."""
        if self.codes is None:
            return np.full(len(self.ts), index[self.kinds[0]], dtype=np.int16)
        remap = np.array([index[k] for k in self.kinds], dtype=np.int16)
        codes: np.ndarray = remap[self.codes]
        return codes

    def take(self, which: Any) -> Points:
        """The points at ``which`` (an index array, a mask or a slice)."""
        codes = None if self.codes is None else self.codes[which]
        return Points(self.ts[which], self.values[which], self.kinds, codes)

    def sections(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(type, ts, values) per type, each in the points' order."""
        if self.codes is None:
            yield self.kinds[0], self.ts, self.values
            return
        for i, kind in enumerate(self.kinds):
            mask = self.codes == i
            if mask.any():
                values = self.values[mask]
                if dtype_of(kind) is not _OBJECT:
                    values = values.astype(dtype_of(kind))
                yield kind, self.ts[mask], values

    def tuples(self) -> list[Point]:
        """The points as ``(ts, type, value)`` triples of plain Python values."""
        ts = self.ts.tolist()
        values = self.values.tolist()
        if self.codes is None:
            return list(zip(ts, [self.kinds[0]] * len(ts), values, strict=True))
        kinds = self.kinds
        return [
            (t, kinds[c], v)
            for t, c, v in zip(ts, self.codes.tolist(), values, strict=True)
        ]

    def sorted(self, *, descending: bool = False) -> Points:
        """The points in time order (stable: equal timestamps keep their order)."""
        order = np.argsort(self.ts, kind="stable")
        if descending:
            order = order[::-1]
        return self.take(order)

    def last_per_timestamp(self) -> Points:
        """One point per timestamp, the last given, in time order: the rule a later
        write of the same series and timestamp follows (it replaces the earlier)."""
        n = len(self.ts)
        if n < 2 or increasing(self.ts):
            return self  # the usual case: already in order, nothing repeated
        # the first occurrence in the reversed points is the last one given
        _, first = np.unique(self.ts[::-1], return_index=True)
        return self.take(n - 1 - first)

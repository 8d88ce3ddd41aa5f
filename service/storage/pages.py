"""Reading points as chunks (columns), shared by both drivers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from service.columnar import values_array
from service.datatypes import TypeRegistry
from service.records import Point, Points, SeriesKey

if TYPE_CHECKING:
    from service.storage.base import Order


def decode_cells(rows: Sequence[Sequence[Any]], registry: TypeRegistry) -> Points:
    """``(ts, type, encoded)`` cells as columns: a chunk of one type (the usual case)
    is decoded in one call to the type's ``decode_many``, a mixed one cell by cell."""
    if not rows:
        return Points.empty()
    first = rows[0][1]
    ts = [row[0] for row in rows]
    if all(row[1] == first for row in rows):
        values = registry.get(first).decode_many([row[2] for row in rows])
        return Points.of(first, ts, values_array(first, values))
    get = registry.get
    return Points.from_tuples((t, kind, get(kind).decode(raw)) for t, kind, raw in rows)


class ChunkedReads:
    """``read_points`` for a store that implements ``read_chunks``."""

    def read_chunks(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
        fetch_size: int = 5000,
    ) -> Iterator[Points]:
        raise NotImplementedError

    def read_points(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
    ) -> Iterator[Point]:
        for chunk in self.read_chunks(
            project, series, start, end, order=order, limit=limit
        ):
            yield from chunk.tuples()

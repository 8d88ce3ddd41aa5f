"""Decoding a page of stored cells into points, shared by both drivers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from service.datatypes import TypeRegistry
from service.records import Point, SeriesKey

if TYPE_CHECKING:
    from service.storage.base import Order


class Page(list[Point]):
    """A list of points that knows when all its points have one type (``kind``)."""

    kind: str | None = None


def decode_page(rows: Sequence[Sequence[Any]], registry: TypeRegistry) -> list[Point]:
    """``(ts, type, encoded)`` rows as ``(ts, type, value)`` points.

    A page of one type (the usual case) is decoded in one call to the type's
    ``decode_many``; a mixed page cell by cell.
    """
    page = Page()
    if not rows:
        return page
    first = rows[0][1]
    if all(row[1] == first for row in rows):
        values = registry.get(first).decode_many([row[2] for row in rows])
        page.extend(
            zip([row[0] for row in rows], [first] * len(rows), values, strict=True)
        )
        page.kind = first
        return page
    get = registry.get
    page.extend((ts, kind, get(kind).decode(raw)) for ts, kind, raw in rows)
    return page


class PagedReads:
    """``read_points`` for a store that implements ``read_pages``."""

    def read_pages(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
        fetch_size: int = 5000,
    ) -> Iterator[list[Point]]:
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
        pages = self.read_pages(project, series, start, end, order=order, limit=limit)
        return itertools.chain.from_iterable(pages)

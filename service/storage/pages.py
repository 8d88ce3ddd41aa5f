"""Decoding a page of stored cells into points, shared by both drivers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.datatypes import TypeRegistry
from service.records import Point


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

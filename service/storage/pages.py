"""Decoding a page of stored cells into points, shared by both drivers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.datatypes import TypeRegistry
from service.records import Point


def decode_page(rows: Sequence[Sequence[Any]], registry: TypeRegistry) -> list[Point]:
    """``(ts, type, encoded)`` rows as ``(ts, type, value)`` points.

    A page of one type (the usual case) is decoded in one call to the type's
    ``decode_many``; a mixed page cell by cell.
    """
    if not rows:
        return []
    first = rows[0][1]
    if all(row[1] == first for row in rows):
        values = registry.get(first).decode_many([row[2] for row in rows])
        return [(row[0], first, value) for row, value in zip(rows, values, strict=True)]
    get = registry.get
    return [(ts, kind, get(kind).decode(raw)) for ts, kind, raw in rows]

"""The common shapes of a KairosDB write, taken in bulk.

Nearly every request is metric objects with a string name, string tags and
``datapoints`` of ``[int, int]`` or ``[int, float]`` pairs. Such an array becomes
numpy columns in a few C-level passes (``map(type, ...)``, ``zip(*...)``,
``np.array``) instead of a Python loop per point, and such an envelope is taken
without marshmallow. Each function here only *accepts*: it answers None whenever
anything is out of the ordinary, and the parser then takes the per-point path, so
what is accepted and every error message stay exactly those of that path (the
property tests in tests/unit/test_kairos_columns.py hold the two together).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from service.columnar import FEW
from service.config import MAX_TTL_SECONDS
from service.records import Points, name_too_long

_LONG = np.dtype(np.int64)
_DOUBLE = np.dtype(np.float64)
# Types a ``type`` field may name and still take the bulk path: the value kinds
# they accept from JSON numbers without conversion.
_BULK_TYPES = {None: ("long", "double"), "long": ("long",), "double": ("double",)}


def pairs_to_points(raw: list[Any], type_name: str | None) -> Points | None:
    """``datapoints`` as columns when every element is an ``[int, value]`` pair whose
    values are all longs in range or all finite doubles (of the declared type, when
    one is declared); None for anything else, empty arrays included."""
    kinds = _BULK_TYPES.get(type_name)
    if kinds is None or not raw:
        return None
    # Every element a pair: zip(strict) refuses elements of different lengths and
    # anything not iterable; the only other iterables JSON has, strings and
    # objects, give strings (characters, keys), which the type check of the
    # timestamps refuses. (Types, not isinstance: bool is an int and must not pass.)
    try:
        columns = list(zip(*raw, strict=True))
    except (TypeError, ValueError):
        return None
    if len(columns) != 2:
        return None
    ts, values = columns
    if set(map(type, ts)) != {int}:
        return None
    value_types = set(map(type, values))
    try:
        # numpy refuses (OverflowError) an int outside the 64-bit range
        ts_arr = np.array(ts, dtype=_LONG)
        if value_types == {int} and "long" in kinds:
            return Points(ts_arr, np.array(values, dtype=_LONG), ("long",))
    except OverflowError:
        return None
    if value_types == {float} and "double" in kinds:
        arr = np.array(values, dtype=_DOUBLE)
        if (
            all(map(math.isfinite, values))  # (a few floats: no numpy call)
            if len(values) <= FEW
            else np.isfinite(arr).all()
        ):
            return Points(ts_arr, arr, ("double",))
    return None


def plain_envelope(metric: dict[str, Any]) -> dict[str, Any] | None:
    """A metric's name, tags, type and ttl as the envelope schema loads them, when
    they are plainly valid: a non-empty name within the limit, tags of string names
    and short non-empty string values (their limits are still checked by the
    caller's ``tag_problems``), an int ttl in range or none, a string type or none.
    None otherwise (the schema then decides, with its messages)."""
    name = metric.get("name")
    if type(name) is not str or not name or name_too_long(name):
        return None
    type_name = metric.get("type")
    if type_name is not None and type(type_name) is not str:
        return None
    ttl = metric.get("ttl", 0)
    if ttl is not None and not (type(ttl) is int and 0 <= ttl <= MAX_TTL_SECONDS):
        return None
    tags = metric.get("tags")
    if type(tags) is not dict or not tags:
        return None
    return {"name": name, "tags": tags, "type": type_name, "ttl": ttl}

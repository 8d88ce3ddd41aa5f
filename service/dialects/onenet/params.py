"""OneNET's query and path parameters: ids, time windows and cursors, each checked
against what the store can take (a 64-bit millisecond, a key far under Cassandra's
64 KiB), so that no parameter reaches a store unchecked. Integers and lists are read
by ``service.web.params``."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import falcon

from service import errors, times
from service.dialects.onenet.parse import (
    MAX_IDS,
    check_device_id,
    parse_time,
    stream_id,
)
from service.domain.points import Cursor
from service.records import LONG_MAX, LONG_MIN
from service.web import params

# A duration in milliseconds must fit 64 bits.
_MAX_SECONDS = LONG_MAX // 1000


def check_path(
    req: falcon.Request, resp: falcon.Response, resource: Any, found: dict[str, Any]
) -> None:
    """Ids in a path go to store keys: one no device or stream can have is errno 5
    (and never a key past Cassandra's limits)."""
    if "device_id" in found:
        check_device_id(found["device_id"])
    if "stream_id" in found:
        stream_id(found["stream_id"])


def stream_ids(raw: str | None) -> list[str] | None:
    ids = params.id_list(raw)
    if ids is not None:
        if len(ids) > MAX_IDS:
            raise errors.InvalidInput(
                f"invalid parameter: at most {MAX_IDS} datastream ids"
            )
        for stream in ids:
            stream_id(stream)
    return ids


def device_ids(raw: str | None) -> list[str]:
    ids = params.id_list(raw)
    if not ids:
        raise errors.InvalidInput("missing parameter: devIds")
    if len(ids) > MAX_IDS:
        raise errors.InvalidInput(f"invalid parameter: at most {MAX_IDS} devIds")
    for device_id in ids:
        check_device_id(device_id)
    return ids


def seconds(raw: str) -> int:
    try:
        # (the length test first: int() refuses strings of over 4,300 digits)
        value = int(raw) if len(raw) <= 20 else _MAX_SECONDS + 1
    except ValueError:
        raise errors.InvalidInput(
            "invalid parameter: duration must be seconds"
        ) from None
    if value < 0:
        raise errors.InvalidInput("invalid parameter: duration must not be negative")
    if value > _MAX_SECONDS:
        raise errors.InvalidInput(
            f"invalid parameter: duration must be at most {_MAX_SECONDS} seconds"
        )
    return value


def _bounds(
    req: falcon.Request, tz: ZoneInfo
) -> tuple[int | None, int | None, int | None]:
    """``start`` and ``end`` in ms, and ``duration`` in ms, as far as given."""
    start_raw, end_raw = req.get_param("start"), req.get_param("end")
    duration = req.get_param("duration")
    return (
        parse_time(start_raw, tz, "start", stored=False) if start_raw else None,
        parse_time(end_raw, tz, "end", stored=False) if end_raw else None,
        seconds(duration) * 1000 if duration else None,
    )


def window(req: falcon.Request, tz: ZoneInfo) -> tuple[int, int, bool] | None:
    """A read's start, end and order (True: descending), or None when it names no
    window (a read of the latest points). start+duration counts forward
    (ascending), end+duration backward (descending), duration alone ends now;
    ``sort`` (ASC or DESC) decides the order when given."""
    sort = (req.get_param("sort") or "").upper()
    if sort not in ("", "ASC", "DESC"):
        raise errors.InvalidInput("invalid parameter: sort must be ASC or DESC")
    if all(req.get_param(name) is None for name in ("start", "end", "duration")):
        return None
    start, end, desc = _window(*_bounds(req, tz))
    return start, end, (sort == "DESC") if sort else desc


def _window(
    start: int | None, end: int | None, span: int | None
) -> tuple[int, int, bool]:
    if start is not None and end is not None:
        if end < start:
            raise errors.InvalidInput("invalid parameter: end is before start")
        return start, end, False
    # (a window reaching past 64 bits stops at their end)
    if start is not None:
        return start, LONG_MAX if span is None else min(start + span, LONG_MAX), False
    if end is not None:
        if span is None:
            return LONG_MIN, end, False
        return max(end - span, LONG_MIN), end, True
    now = times.now_ms()
    return max(now - (span or 0), LONG_MIN), now, False


def delete_window(req: falcon.Request, tz: ZoneInfo) -> tuple[int, int]:
    """What a delete covers: from ``start`` (or the beginning of time), to ``end``
    (or the end of time), or for ``duration`` from ``start``."""
    start, end, span = _bounds(req, tz)
    if start is not None and span is not None:
        end = min(start + span, LONG_MAX)
    return LONG_MIN if start is None else start, LONG_MAX if end is None else end


def cursor(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    found = params.position(raw)
    if isinstance(found, list) and len(found) == 2:
        index, last = found
        if (
            type(index) is int
            and 0 <= index < 2**31
            and (last is None or (type(last) is int and LONG_MIN <= last <= LONG_MAX))
        ):
            return index, last
    raise errors.InvalidInput("invalid parameter: cursor is not one this server gave")

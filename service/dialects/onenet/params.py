"""OneNET's query and path parameters: ids, integers, time windows and cursors, each
checked against what the store can take (a 64-bit millisecond, a key far under
Cassandra's 64 KiB), so that no parameter reaches a store unchecked."""

from __future__ import annotations

import base64
import time
from typing import Any

import falcon
import ujson

from service import errors
from service.dialects.onenet.parse import (
    MAX_IDS,
    check_device_id,
    parse_time,
    stream_id,
)
from service.records import LONG_MAX, LONG_MIN


def check_path(
    req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
) -> None:
    """Ids in a path go to store keys: one no device or stream can have is errno 5
    (and never a key past Cassandra's limits)."""
    if "device_id" in params:
        check_device_id(params["device_id"])
    if "stream_id" in params:
        stream_id(params["stream_id"])


def id_list(raw: str | None) -> list[str] | None:
    if raw is None or raw == "":
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def stream_ids(raw: str | None) -> list[str] | None:
    ids = id_list(raw)
    if ids is not None:
        if len(ids) > MAX_IDS:
            raise errors.InvalidInput(
                f"invalid parameter: at most {MAX_IDS} datastream ids"
            )
        for stream in ids:
            stream_id(stream)
    return ids


def int_param(
    req: falcon.Request, name: str, *, default: int, low: int, high: int
) -> int:
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidInput(
            f"invalid parameter: {name} must be an integer"
        ) from None
    if not low <= value <= high:
        raise errors.InvalidInput(
            f"invalid parameter: {name} must be between {low} and {high}"
        )
    return value


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


# A duration in milliseconds must fit 64 bits.
_MAX_SECONDS = LONG_MAX // 1000


def window(
    start_raw: str | None, end_raw: str | None, duration: str | None, tz: Any
) -> tuple[int, int, bool]:
    """OneNET's start/end/duration: start+duration counts forward (ascending), end+duration
    backward (descending), duration alone ends now."""
    start = parse_time(start_raw, tz, "start", stored=False) if start_raw else None
    end = parse_time(end_raw, tz, "end", stored=False) if end_raw else None
    span = seconds(duration) * 1000 if duration else None
    if start is not None and end is not None:
        if end < start:
            raise errors.InvalidInput("invalid parameter: end is before start")
        return start, end, False
    # (a window reaching past 64 bits stops at their end)
    if start is not None:
        return (
            start,
            min(start + span, LONG_MAX) if span is not None else LONG_MAX,
            False,
        )
    if end is not None:
        return (
            (max(end - span, LONG_MIN) if span is not None else LONG_MIN),
            end,
            span is not None,
        )
    now = int(time.time() * 1000)
    return max(now - (span or 0), LONG_MIN), now, False


def cursor(raw: str | None) -> tuple[int, int | None] | None:
    if not raw:
        return None
    try:
        index, last = ujson.loads(base64.urlsafe_b64decode(raw.encode()))
        if (
            type(index) is int
            and 0 <= index < 2**31
            and (last is None or (type(last) is int and LONG_MIN <= last <= LONG_MAX))
        ):
            return index, last
    except (ValueError, TypeError):
        pass
    raise errors.InvalidInput("invalid parameter: cursor is not one this server gave")

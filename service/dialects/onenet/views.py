"""OneNET's answers: ``{"errno": 0, "error": "succ", "data": ...}`` holding devices,
datastreams and datapoints, times in the project's time zone as OneNET shows them
(``2015-03-22 22:31:12.000``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from service import times
from service.datatypes import REGISTRY
from service.domain.points import Cursor
from service.records import Device, Point, Stream
from service.web import params


def ok(data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"errno": 0, "error": "succ"}
    if data is not None:
        body["data"] = data
    return body


def format_time(ms: int, tz: ZoneInfo, *, millis: bool = True) -> str:
    """The local time OneNET shows; any stored time, even one outside the years 1 to
    9999, can be shown."""
    return times.render(ms, tz, _local_millis if millis else _local_seconds)


def _local_millis(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


def _local_seconds(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def value(point: Point) -> Any:
    _, kind, stored = point
    return REGISTRY.get(kind).to_json(stored)


def datapoint(point: Point, tz: ZoneInfo) -> dict[str, Any]:
    return {"at": format_time(point[0], tz), "value": value(point)}


def stream(s: Stream, latest: Point | None, tz: ZoneInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.id,
        "tags": list(s.tags),
        "unit": s.unit,
        "unit_symbol": s.unit_symbol,
        "create_time": format_time(s.create_time, tz, millis=False),
    }
    if latest is not None:
        body["current_value"] = value(latest)
        body["update_at"] = format_time(latest[0], tz)
    return body


def device(d: Device, tz: ZoneInfo, streams: Sequence[Stream] | None) -> dict[str, Any]:
    """A device; with its datastreams' metadata when ``streams`` are given."""
    body: dict[str, Any] = {
        "id": d.id,
        "title": d.title,
        "desc": d.description,
        "tags": list(d.tags),
        "location": d.location,
        "private": d.private,
        "protocol": d.protocol,
        "auth_info": d.auth_info,
        "other": d.other,
        "create_time": format_time(d.created_at, tz, millis=False),
    }
    if streams is not None:
        body["datastreams"] = [
            {
                "id": s.id,
                "create_time": format_time(s.create_time, tz, millis=False),
                "unit": s.unit,
                "unit_symbol": s.unit_symbol,
            }
            for s in streams
        ]
    return body


def device_page(
    total: int, page: int, per_page: int, devices: list[Device], tz: ZoneInfo
) -> dict[str, Any]:
    return {
        "total_count": total,
        "page": page,
        "per_page": per_page,
        "devices": [device(d, tz, None) for d in devices],
    }


def latest(current: list[tuple[Stream, Point | None]], tz: ZoneInfo) -> dict[str, Any]:
    """The latest datapoint of each stream that has one."""
    streams = [
        {"id": s.id, "datapoints": [datapoint(p, tz)]}
        for s, p in current
        if p is not None
    ]
    return {"count": len(streams), "datastreams": streams}


def datapoints(
    found: list[tuple[str, list[Point]]], more: Cursor | None, tz: ZoneInfo
) -> dict[str, Any]:
    """A page of a read, and the cursor of the next when more remain."""
    data: dict[str, Any] = {
        "count": sum(len(points) for _, points in found),
        "datastreams": [
            {"id": s, "datapoints": [datapoint(p, tz) for p in points]}
            for s, points in found
        ],
    }
    if more is not None:
        data["cursor"] = params.cursor(list(more))
    return data


def device_latest(
    d: Device, current: list[tuple[Stream, Point | None]], tz: ZoneInfo
) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "datastreams": [
            {"id": s.id, **datapoint(p, tz)} for s, p in current if p is not None
        ],
    }

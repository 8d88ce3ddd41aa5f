"""China Mobile OneNET's HTTP API: devices, datastreams and datapoints."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import falcon
import ujson

from service import errors
from service.datatypes import REGISTRY
from service.dialects.onenet.params import (
    check_path,
    cursor,
    id_list,
    int_param,
    seconds,
    stream_ids,
    window,
)
from service.dialects.onenet.parse import (
    DEVICE_SCHEMA,
    MAX_IDS,
    STREAM_SCHEMA,
    check_device_id,
    format_time,
    load,
    parse_time,
    parse_upload,
    stream_id,
)
from service.iot import Access, Iot
from service.records import LONG_MAX, LONG_MIN, Device, Point, Stream
from service.web.body import read_body, read_json

if TYPE_CHECKING:
    from service.web.app import Services

# errno -> error; 0, 1, 3 and 7 are OneNET's own numbers, the others this service's.
ERRNO = {
    0: "succ",
    1: "auth failed",
    3: "parameter required",
    5: "invalid parameter",
    7: "service internal error",
    11: "device not found",
    12: "datastream not found",
    13: "payload too large",
    14: "already exists",
    15: "not found",
}


def errno_of(status: int, messages: list[str]) -> int:
    text = messages[0] if messages else ""
    if status in (401, 403):
        return 1
    if status == 404:
        if text.startswith("device not found"):
            return 11
        return 12 if text.startswith("datastream not found") else 15
    if status == 409:
        return 14
    if status == 413:
        return 13
    if status >= 500:
        return 7
    return 3 if text.startswith("missing parameter") else 5


class OneNetEnvelope:
    """``{"errno": N, "error": "..."}``. Request errors come with HTTP 200, as OneNET
    sends them and its SDKs expect (they read the errno of a 200 and treat any other
    status as a transport failure); DATAPOINTS_ONENET_HTTP_STATUS=rest sends the 4xx
    instead. A failure to store is always a 5xx: never a 2xx for data not written."""

    def __init__(self, rest_statuses: bool) -> None:
        self.rest = rest_statuses

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        errno = errno_of(status, messages)
        keep = self.rest or status >= 500
        resp.status = falcon.code_to_http_status(status if keep else 200)
        label, detail = ERRNO[errno], "; ".join(messages)
        if status >= 500 or not detail or detail == label:
            error = label
        elif detail.startswith(
            (label, "missing parameter", "invalid parameter", "invalid format")
        ):
            error = detail
        else:
            error = f"{label}: {detail}"
        resp.media = {"errno": errno, "error": error}


def ok(resp: falcon.Response, data: Any = None) -> None:
    body: dict[str, Any] = {"errno": 0, "error": "succ"}
    if data is not None:
        body["data"] = data
    resp.media = body


class OneNetResource:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.iot: Iot = services.iot
        self.envelope = OneNetEnvelope(services.config.onenet_rest_statuses)

    def access(self, req: falcon.Request) -> Access:
        return self.iot.authenticate(req.get_header("api-key"))


class UnknownPath(OneNetResource):
    """A sink for paths under /devices that no route takes: OneNET's errno 15, in
    OneNET's envelope (no resource matched, so the middleware cannot name it)."""

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        req.context.envelope = self.envelope
        raise errors.NotFound("not found")


def stream_json(access: Access, s: Stream, latest: Point | None) -> dict[str, Any]:
    tz = access.project.zone
    body: dict[str, Any] = {
        "id": s.id,
        "tags": list(s.tags),
        "unit": s.unit,
        "unit_symbol": s.unit_symbol,
        "create_time": format_time(s.create_time, tz, millis=False),
    }
    if latest is not None:
        body["current_value"] = _value(latest)
        body["update_at"] = format_time(latest[0], tz)
    return body


def device_json(
    iot: Iot, access: Access, d: Device, *, streams: bool
) -> dict[str, Any]:
    tz = access.project.zone
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
    if streams:
        body["datastreams"] = [
            {
                "id": s.id,
                "create_time": format_time(s.create_time, tz, millis=False),
                "unit": s.unit,
                "unit_symbol": s.unit_symbol,
            }
            for s in iot.store.list_streams(access.project.id, d.id)
        ]
    return body


def _value(point: tuple[int, str, Any]) -> Any:
    _, kind, value = point
    return REGISTRY.get(kind).to_json(value)


def _device_fields(doc: Any, *, creating: bool) -> dict[str, Any]:
    body = load(DEVICE_SCHEMA, doc)
    if creating and "title" not in body:
        raise errors.InvalidInput("missing parameter: title")
    mapping = {
        "title": "title",
        "desc": "description",
        "location": "location",
        "other": "other",
        "private": "private",
        "protocol": "protocol",
    }
    fields = {mapping[k]: v for k, v in body.items() if k in mapping}
    if "tags" in body:
        fields["tags"] = tuple(body["tags"])
    if "auth_info" in body:
        info = body["auth_info"]
        fields["auth_info"] = info if isinstance(info, str) else ujson.dumps(info)
    return fields


class Devices(OneNetResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        fields = _device_fields(
            read_json(req, self.services.config.limits), creating=True
        )
        device, key = self.iot.create_device(access, fields)
        ok(resp, {"device_id": device.id, "key": key})

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        access.need_project_key()  # listing the project's devices is project-level
        page = int_param(req, "page", default=1, low=1, high=10_000)
        per_page = int_param(req, "per_page", default=30, low=1, high=100)
        total, devices = self.iot.list_devices(
            access,
            page=page,
            per_page=per_page,
            tag=req.get_param("tag") or None,
            title=req.get_param("title") or None,
        )
        ok(
            resp,
            {
                "total_count": total,
                "page": page,
                "per_page": per_page,
                "devices": [
                    device_json(self.iot, access, d, streams=False) for d in devices
                ],
            },
        )


@falcon.before(check_path)
class OneDevice(OneNetResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        ok(
            resp,
            device_json(
                self.iot, access, self.iot.device(access, device_id), streams=True
            ),
        )

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        fields = _device_fields(
            read_json(req, self.services.config.limits), creating=False
        )
        self.iot.update_device(access, device_id, fields)
        ok(resp)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        access.need_project_key()
        self.iot.delete_device(access, device_id)
        ok(resp)


@falcon.before(check_path)
class Streams(OneNetResource):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        body = load(STREAM_SCHEMA, read_json(req, self.services.config.limits))
        if not body.get("id"):
            raise errors.InvalidInput("missing parameter: id")
        stream = Stream(
            id=stream_id(body["id"]),
            tags=tuple(body.get("tags", ())),
            unit=body.get("unit", ""),
            unit_symbol=body.get("unit_symbol", ""),
        )
        self.iot.create_stream(access, device_id, stream)
        ok(resp, {"ds_uuid": f"{device_id}-{stream.id}"})

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        ids = id_list(req.get_param("datastream_ids"))
        _, streams = self.iot.current(access, device_id, ids)
        ok(resp, [stream_json(access, s, latest) for s, latest in streams])


@falcon.before(check_path)
class OneStream(OneNetResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, stream_id: str
    ) -> None:
        access = self.access(req)
        _, found = self.iot.current(access, device_id, [stream_id])
        if not found:
            raise errors.NotFound(f"datastream not found: {stream_id}")
        ok(resp, stream_json(access, *found[0]))

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, stream_id: str
    ) -> None:
        access = self.access(req)
        body = load(STREAM_SCHEMA, read_json(req, self.services.config.limits))
        changes: dict[str, Any] = {
            k: body[k] for k in ("unit", "unit_symbol") if k in body
        }
        if "tags" in body:
            changes["tags"] = tuple(body["tags"])
        self.iot.update_stream(access, device_id, stream_id, changes)
        ok(resp)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, stream_id: str
    ) -> None:
        access = self.access(req)
        self.iot.delete_stream(access, device_id, stream_id)
        ok(resp)


@falcon.before(check_path)
class Datapoints(OneNetResource):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        limits = self.services.config.limits
        kind = req.get_param("type")
        body = read_body(req, limits, json=kind != "5")  # 5 is text, not JSON
        items = parse_upload(
            kind,
            body,
            access.project.zone,
            int(time.time() * 1000),
            max_points=limits.max_points_per_request,
        )
        if len(items) > limits.max_points_per_request:
            raise errors.PayloadTooLarge(
                f"more than {limits.max_points_per_request} data points in one request"
            )
        self.iot.upload(access, device_id, items)
        ok(resp)

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        tz = access.project.zone
        ids = stream_ids(req.get_param("datastream_id"))
        start_raw, end_raw = req.get_param("start"), req.get_param("end")
        duration = req.get_param("duration")
        sort = (req.get_param("sort") or "").upper()
        if sort not in ("", "ASC", "DESC"):
            raise errors.InvalidInput("invalid parameter: sort must be ASC or DESC")
        if start_raw is None and end_raw is None and duration is None:
            # no window: the latest point of each stream
            _, current = self.iot.current(access, device_id, ids)
            streams = [
                {
                    "id": s.id,
                    "datapoints": [{"at": format_time(p[0], tz), "value": _value(p)}],
                }
                for s, p in current
                if p is not None
            ]
            ok(resp, {"count": len(streams), "datastreams": streams})
            return
        start, end, desc = window(start_raw, end_raw, duration, tz)
        if sort:
            desc = sort == "DESC"
        limit = int_param(req, "limit", default=100, low=1, high=6000)
        found, more = self.iot.read(
            access,
            device_id,
            ids,
            start=start,
            end=end,
            desc=desc,
            limit=limit,
            after=cursor(req.get_param("cursor")),
        )
        data: dict[str, Any] = {
            "count": sum(len(points) for _, points in found),
            "datastreams": [
                {
                    "id": s,
                    "datapoints": [
                        {"at": format_time(p[0], tz), "value": _value(p)}
                        for p in points
                    ],
                }
                for s, points in found
            ],
        }
        if more is not None:
            data["cursor"] = base64.urlsafe_b64encode(
                ujson.dumps(list(more)).encode()
            ).decode()
        ok(resp, data)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        tz = access.project.zone
        ids = stream_ids(req.get_param("datastream_id"))
        start_raw, end_raw = req.get_param("start"), req.get_param("end")
        start = parse_time(start_raw, tz, "start", stored=False) if start_raw else None
        end = parse_time(end_raw, tz, "end", stored=False) if end_raw else LONG_MAX
        duration = req.get_param("duration")
        span = seconds(duration) * 1000 if duration else None
        if start is not None and span is not None:
            end = min(start + span, LONG_MAX)
        self.iot.delete_points(
            access, device_id, ids, LONG_MIN if start is None else start, end
        )
        ok(resp)


class LatestOfDevices(OneNetResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        ids = id_list(req.get_param("devIds") or req.get_param("devids"))
        if not ids:
            raise errors.InvalidInput("missing parameter: devIds")
        if len(ids) > MAX_IDS:
            raise errors.InvalidInput(f"invalid parameter: at most {MAX_IDS} devIds")
        for device_id in ids:
            check_device_id(device_id)
        tz = access.project.zone
        devices = []
        for device_id in ids:
            device, current = self.iot.current(access, device_id)
            streams = [
                {"id": s.id, "at": format_time(p[0], tz), "value": _value(p)}
                for s, p in current
                if p is not None
            ]
            devices.append(
                {"id": device.id, "title": device.title, "datastreams": streams}
            )
        ok(resp, {"devices": devices})

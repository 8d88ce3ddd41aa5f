"""China Mobile OneNET's HTTP API: devices, datastreams and datapoints. Each resource
reads and parses a request, calls the IoT service and renders its answer."""

from __future__ import annotations

from typing import Any

import falcon

from service import errors, times
from service.dialects.onenet import metadata, params, views
from service.dialects.onenet.envelope import OneNetEnvelope
from service.dialects.onenet.parse import parse_upload
from service.domain import Services
from service.domain.iot import Access
from service.web import params as web_params
from service.web.body import read_body, read_json


class OneNetResource:
    def __init__(self, services: Services) -> None:
        self.iot = services.iot
        self.limits = services.config.limits
        self.envelope = OneNetEnvelope(services.config.onenet_rest_statuses)

    def access(self, req: falcon.Request) -> Access:
        return self.iot.authenticate(req.get_header("api-key"))


class UnknownPath(OneNetResource):
    """A sink for paths under /devices that no route takes: OneNET's errno 15, in
    OneNET's envelope (no resource matched, so the middleware cannot name it)."""

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        req.context.envelope = self.envelope
        raise errors.NotFound("not found")


class Devices(OneNetResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        fields = metadata.device_fields(read_json(req, self.limits), creating=True)
        device, key = self.iot.create_device(access, fields)
        resp.media = views.ok({"device_id": device.id, "key": key})

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        access.need_project_key()  # listing the project's devices is project-level
        page = web_params.integer(req, "page", default=1, low=1, high=10_000)
        per_page = web_params.integer(req, "per_page", default=30, low=1, high=100)
        total, devices = self.iot.list_devices(
            access,
            page=page,
            per_page=per_page,
            tag=req.get_param("tag") or None,
            title=req.get_param("title") or None,
        )
        tz = access.project.zone
        resp.media = views.ok(views.device_page(total, page, per_page, devices, tz))


@falcon.before(params.check_path)
class OneDevice(OneNetResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        device, streams = self.iot.device_with_streams(access, device_id)
        resp.media = views.ok(views.device(device, access.project.zone, streams))

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        fields = metadata.device_fields(read_json(req, self.limits), creating=False)
        self.iot.update_device(access, device_id, fields)
        resp.media = views.ok()

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        access.need_project_key()
        self.iot.delete_device(access, device_id)
        resp.media = views.ok()


@falcon.before(params.check_path)
class Streams(OneNetResource):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        stream = metadata.new_stream(read_json(req, self.limits))
        self.iot.create_stream(access, device_id, stream)
        resp.media = views.ok({"ds_uuid": f"{device_id}-{stream.id}"})

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        ids = web_params.id_list(req.get_param("datastream_ids"))
        _, streams = self.iot.current(access, device_id, ids)
        tz = access.project.zone
        resp.media = views.ok([views.stream(s, latest, tz) for s, latest in streams])


@falcon.before(params.check_path)
class OneStream(OneNetResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, stream_id: str
    ) -> None:
        access = self.access(req)
        _, found = self.iot.current(access, device_id, [stream_id])
        if not found:
            raise errors.NotFound(f"datastream not found: {stream_id}")
        stream, latest = found[0]
        resp.media = views.ok(views.stream(stream, latest, access.project.zone))

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, stream_id: str
    ) -> None:
        access = self.access(req)
        changes = metadata.stream_changes(read_json(req, self.limits))
        self.iot.update_stream(access, device_id, stream_id, changes)
        resp.media = views.ok()

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, device_id: str, stream_id: str
    ) -> None:
        access = self.access(req)
        self.iot.delete_stream(access, device_id, stream_id)
        resp.media = views.ok()


@falcon.before(params.check_path)
class Datapoints(OneNetResource):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        most = self.limits.max_points_per_request
        kind = req.get_param("type")
        body = read_body(req, self.limits, json=kind != "5")  # 5 is text, not JSON
        items = parse_upload(
            kind, body, access.project.zone, times.now_ms(), max_points=most
        )
        if len(items) > most:
            raise errors.PayloadTooLarge(f"more than {most} data points in one request")
        self.iot.upload(access, device_id, items)
        resp.media = views.ok()

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        tz = access.project.zone
        ids = params.stream_ids(req.get_param("datastream_id"))
        window = params.window(req, tz)
        if window is None:  # no window: the latest point of each stream
            _, current = self.iot.current(access, device_id, ids)
            resp.media = views.ok(views.latest(current, tz))
            return
        start, end, desc = window
        limit = web_params.integer(req, "limit", default=100, low=1, high=6000)
        found, more = self.iot.read(
            access,
            device_id,
            ids,
            start=start,
            end=end,
            desc=desc,
            limit=limit,
            after=params.cursor(req.get_param("cursor")),
        )
        resp.media = views.ok(views.datapoints(found, more, tz))

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, device_id: str
    ) -> None:
        access = self.access(req)
        ids = params.stream_ids(req.get_param("datastream_id"))
        start, end = params.delete_window(req, access.project.zone)
        self.iot.delete_points(access, device_id, ids, start, end)
        resp.media = views.ok()


class LatestOfDevices(OneNetResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        ids = params.device_ids(req.get_param("devIds") or req.get_param("devids"))
        tz = access.project.zone
        devices = []
        for device_id in ids:
            device, current = self.iot.current(access, device_id)
            devices.append(views.device_latest(device, current, tz))
        resp.media = views.ok({"devices": devices})

"""The China Mobile OneNET dialect (``/devices/...``)."""

from __future__ import annotations

from typing import Any

import falcon

from service.dialects.onenet import resources as r
from service.domain import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    app.add_route("/devices", r.Devices(services))
    app.add_route("/devices/datapoints", r.LatestOfDevices(services))
    app.add_route("/devices/{device_id}", r.OneDevice(services))
    app.add_route("/devices/{device_id}/datapoints", r.Datapoints(services))
    app.add_route("/devices/{device_id}/datastreams", r.Streams(services))
    app.add_route("/devices/{device_id}/datastreams/{stream_id}", r.OneStream(services))
    app.add_sink(r.UnknownPath(services), prefix=r"/devices(/|$)")

"""The Mobile Data Anywhere dialect (``/api/v1/...`` sessions, attachments, devices)."""

from __future__ import annotations

from typing import Any

import falcon

from service.dialects.mda import resources as r
from service.domain import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    base = "/api/v1"
    # MDA documents both /projects/... and, for attachments, the singular /project/...
    for projects in ("projects", "project"):
        app.add_route(
            f"{base}/{projects}/{{project_id}}/sessions", r.Sessions(services)
        )
        app.add_route(
            f"{base}/{projects}/{{project_id}}/sessions/{{uuid}}",
            r.OneSession(services),
        )
        app.add_route(
            f"{base}/{projects}/{{project_id}}/sessions/{{uuid}}/attachments/{{point}}",
            r.Attachments(services),
        )
    app.add_route(f"{base}/sessions/batch", r.Batch(services))
    app.add_route(f"{base}/time", r.Time(services))
    app.add_route(f"{base}/devices", r.Devices(services))
    app.add_route(f"{base}/devices/{{unit_id}}", r.OneDevice(services))
    app.add_sink(
        r.UnknownPath(services), prefix=r"/api/v1/(projects?|sessions|devices)(/|$)"
    )

"""The Liquid dialect: collect API and analyze API."""

from __future__ import annotations

from typing import Any

import falcon

from service.dialects.liquid import resources as r
from service.domain import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    # The documented host (collect.lqd.io/data_points) and the SDKs' one
    # (api.lqd.io/collect/data_points) both work.
    for prefix in ("", "/collect"):
        app.add_route(f"{prefix}/data_points", r.DataPoints(services))
        app.add_route(f"{prefix}/aliases", r.Aliases(services))
    app.add_route("/analyze/users/{unique_id}", r.AnalyzeUser(services))
    app.add_route(
        "/analyze/users/{unique_id}/sessions", r.AnalyzeUserSessions(services)
    )
    app.add_route("/analyze/sessions/{session_id}", r.AnalyzeSession(services))
    app.add_route("/analyze/devices/{unique_id}", r.AnalyzeDevice(services))
    app.add_sink(r.UnknownAnalyzePath(services), prefix=r"/analyze(/|$)")

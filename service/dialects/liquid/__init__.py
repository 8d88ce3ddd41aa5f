"""The Liquid dialect: collect API and analyze API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.dialects.liquid import resources as r

if TYPE_CHECKING:
    import falcon

    from service.web.app import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    # The documented host (collect.lqd.io/data_points) and the SDKs' one
    # (api.lqd.io/collect/data_points) both work.
    for prefix in ("", "/collect"):
        app.add_route(f"{prefix}/data_points", r.DataPoints(services))
        app.add_route(f"{prefix}/aliases", r.Aliases(services))
    app.add_route(
        "/analyze/users/{unique_id}", r.AnalyzeOne(services, "user", "User not found.")
    )
    app.add_route(
        "/analyze/users/{unique_id}/sessions", r.AnalyzeUserSessions(services)
    )
    app.add_route(
        "/analyze/sessions/{session_id}",
        r.AnalyzeOne(services, "session", "Session not found."),
    )
    app.add_route(
        "/analyze/devices/{unique_id}",
        r.AnalyzeOne(services, "device", "Device not found."),
    )
    app.add_sink(r.UnknownAnalyzePath(services), prefix=r"/analyze(/|$)")

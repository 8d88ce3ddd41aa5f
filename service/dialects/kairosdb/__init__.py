"""The KairosDB REST dialect (``/api/v1/...``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.dialects.kairosdb import resources

if TYPE_CHECKING:
    import falcon

    from service.web.app import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    app.add_route("/api/v1/datapoints", resources.Datapoints(services))
    app.add_route("/api/v1/version", resources.Version())
    app.add_route("/api/v1/health/status", resources.HealthStatus(services))
    app.add_route("/api/v1/health/check", resources.HealthCheck(services))
    app.add_route("/api/v1/metricnames", resources.MetricNames(services))

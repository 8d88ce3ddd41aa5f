"""The KairosDB REST dialect (``/api/v1/...``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.dialects.kairosdb import query_resources, resources

if TYPE_CHECKING:
    import falcon

    from service.web.app import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    app.add_route("/api/v1/datapoints", resources.Datapoints(services))
    app.add_route("/api/v1/version", resources.Version())
    app.add_route("/api/v1/health/status", resources.HealthStatus(services))
    app.add_route("/api/v1/health/check", resources.HealthCheck(services))
    app.add_route("/api/v1/metricnames", resources.MetricNames(services))
    app.add_route("/api/v1/datapoints/query", query_resources.QueryResource(services))
    app.add_route("/api/v1/datapoints/query/tags", query_resources.QueryTags(services))
    app.add_route("/api/v1/datapoints/delete", query_resources.DeletePoints(services))
    app.add_route("/api/v1/metric/{name}", query_resources.DeleteMetric(services))
    app.add_route("/api/v1/tagnames", query_resources.TagNames(services))
    app.add_route("/api/v1/tagvalues", query_resources.TagValues(services))

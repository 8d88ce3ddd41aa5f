"""The KairosDB REST dialect (``/api/v1/...``)."""

from __future__ import annotations

from typing import Any

import falcon

from service.dialects.kairosdb import resources as r
from service.domain import Services


def register(app: falcon.App[Any, Any], services: Services) -> None:
    app.add_route("/api/v1/datapoints", r.Datapoints(services))
    app.add_route("/api/v1/version", r.Version())
    app.add_route("/api/v1/health/status", r.HealthStatus(services))
    app.add_route("/api/v1/health/check", r.HealthCheck(services))
    app.add_route("/api/v1/metricnames", r.MetricNames(services))
    app.add_route("/api/v1/datapoints/query", r.Query(services))
    app.add_route("/api/v1/datapoints/query/tags", r.QueryTags(services))
    app.add_route("/api/v1/datapoints/delete", r.DeletePoints(services))
    app.add_route("/api/v1/metric/{name}", r.DeleteMetric(services))
    app.add_route("/api/v1/tagnames", r.TagNames(services))
    app.add_route("/api/v1/tagvalues", r.TagValues(services))

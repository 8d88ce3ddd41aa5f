"""KairosDB's REST resources: each reads and parses a request, calls the point
service and renders its answer."""

from __future__ import annotations

from typing import Any

import falcon

from service import errors
from service.dialects.kairosdb import views
from service.dialects.kairosdb.auth import project_of
from service.dialects.kairosdb.envelope import KairosEnvelope
from service.dialects.kairosdb.parse import Parser
from service.dialects.kairosdb.query_parser import parse_query
from service.domain import Services
from service.records import NAME_TOO_LONG, name_too_long
from service.web.body import parse_json, read_json

ENVELOPE = KairosEnvelope()
# KairosDB before 1.3 took gzip as a content type rather than a content encoding.
LEGACY_GZIP_TYPES = ("application/gzip", "application/x-gzip")


class KairosResource:
    envelope = ENVELOPE

    def __init__(self, services: Services) -> None:
        self.points = services.points
        self.projects = services.projects
        self.config = services.config
        self.limits = services.config.limits

    def project(self, req: falcon.Request) -> str:
        return project_of(req, self.projects, public=self.config.kairosdb_public)


def name_param(req: falcon.Request, name: str) -> str | None:
    """A query parameter naming a metric, tag or prefix: bounded like the names
    it is compared with (a longer one would reach the store's keys)."""
    value = req.get_param(name) or None
    if value is not None and name_too_long(value):
        raise errors.InvalidInput(f"{name} {NAME_TOO_LONG}.")
    return value


class Datapoints(KairosResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        doc = read_json(req, self.limits, gzip_types=LEGACY_GZIP_TYPES)
        batches = Parser(max_points=self.limits.max_points_per_request).parse(doc)
        self.points.write(self.project(req), batches)
        resp.status = falcon.HTTP_204


class Version:
    envelope = ENVELOPE

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = views.version()


class HealthStatus(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.points.check()
            ok = True
        except errors.ServiceError:
            ok = False
        resp.media = views.health(ok)


class HealthCheck(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.points.check()  # Unavailable -> 503
        resp.status = falcon.HTTP_204


class Query(KairosResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._run(req, resp, read_json(req, self.limits))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        text = req.get_param("query")
        if not text:
            raise errors.InvalidInput("query json must not be null or empty")
        self._run(
            req, resp, parse_json(text.encode(), max_values=self.limits.json_values)
        )

    def _run(self, req: falcon.Request, resp: falcon.Response, doc: Any) -> None:
        project = self.project(req)  # the key is checked once per query
        resp.media = views.queries(self.points.query(project, parse_query(doc)))


class QueryTags(KairosResource):
    """Tags of the series that hold points in the query's range, exactly."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = parse_query(read_json(req, self.limits))
        resp.media = views.query_tags(self.points.query_tags(self.project(req), query))


class DeletePoints(KairosResource):
    """Deletes exactly the points the query's name, tags and range select."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = parse_query(read_json(req, self.limits))
        self.points.delete(self.project(req), query)
        resp.status = falcon.HTTP_204


class DeleteMetric(KairosResource):
    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        project = self.project(req)
        if name_too_long(name):
            raise errors.InvalidInput(f"metric name {NAME_TOO_LONG}.")
        self.points.delete_metric(project, name)
        resp.status = falcon.HTTP_204


class MetricNames(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.project(req)
        names = self.points.metric_names(project, name_param(req, "prefix"))
        resp.media = views.results(names)


class TagNames(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        names = self.points.tag_names(self.project(req), name_param(req, "metric"))
        resp.media = views.results(names)


class TagValues(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = self.points.tag_values(
            self.project(req),
            name_param(req, "metric"),
            name_param(req, "tag") or name_param(req, "name"),
        )
        resp.media = views.results(values)

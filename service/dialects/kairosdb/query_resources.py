"""KairosDB's read, delete and metadata resources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import falcon

from service import errors
from service.datatypes import REGISTRY, InvalidValue
from service.dialects.kairosdb.query_parser import parse_query
from service.dialects.kairosdb.resources import KairosResource, name_param
from service.query.engine import QueryEngine
from service.query.stages import Pt
from service.records import (
    NAME_TOO_LONG,
    PointBatch,
    SeriesKey,
    canonical_tags,
    name_too_long,
    tags_problem,
)
from service.web.body import parse_json, read_json

if TYPE_CHECKING:
    pass


def _typed(value: Any) -> tuple[str, Any]:
    """What save_as stores for a value a query produced: its JSON type, except that
    a complex number (shown as {"real", "imaginary"}) is one again."""
    if isinstance(value, dict) and set(value) == {"real", "imaginary"}:
        try:
            return "complex-number", REGISTRY.get("complex-number").parse(value)
        except InvalidValue:
            pass  # not numbers: a JSON object like any other
    return REGISTRY.of_json(value)


class QueryResource(KairosResource):
    def engine(self, project: str) -> QueryEngine:
        ingestor = self.services.ingestor

        def save(metric: str, tags: dict[str, str], ttl: int, points: list[Pt]) -> None:
            # (the group's tags, the save_as tags and saved_from, together)
            problem = tags_problem(tags)
            if problem:
                raise errors.InvalidInput(f"save_as: the new series' {problem}")
            try:
                typed = [(ts, *_typed(value)) for ts, value in points]
            except InvalidValue as exc:  # e.g. an infinity from div by zero
                raise errors.InvalidInput(f"save_as: a value {exc}") from None
            batch = PointBatch(SeriesKey(metric, canonical_tags(tags)), typed, ttl)
            ingestor.write_points(project, [batch])

        return QueryEngine(
            self.services.backend.points,
            max_points=self.services.config.max_query_points,
            save=save,
        )

    def run(self, req: falcon.Request, resp: falcon.Response, doc: Any) -> None:
        project = self.project(req)  # the key is checked once per query
        query = parse_query(doc)
        resp.media = {"queries": self.engine(project).run(project, query)}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.run(req, resp, read_json(req, self.services.config.limits))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        text = req.get_param("query")
        if not text:
            raise errors.InvalidInput("query json must not be null or empty")
        limit = self.services.config.limits.json_values
        self.run(req, resp, parse_json(text.encode(), max_values=limit))


class QueryTags(KairosResource):
    """Tags of the series that hold points in the query's range, exactly."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = parse_query(read_json(req, self.services.config.limits))
        points, project = self.services.backend.points, self.project(req)
        results = []
        for mq in query.metrics:
            found = points.find_series(
                project, mq.name, mq.tags, query.start, query.end
            )
            live = points.series_with_points(project, found, query.start, query.end)
            tags: dict[str, set[str]] = {}
            for key in live:
                for name, value in key.tags:
                    tags.setdefault(name, set()).add(value)
            results.append(
                {
                    "name": mq.name,
                    "tags": {n: sorted(v) for n, v in sorted(tags.items())},
                    "values": [],
                }
            )
        resp.media = {"queries": [{"results": [r]} for r in results]}


class DeletePoints(KairosResource):
    """Deletes exactly the points the query's name, tags and range select."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = parse_query(read_json(req, self.services.config.limits))
        points, project = self.services.backend.points, self.project(req)
        for mq in query.metrics:
            found = points.find_series(
                project, mq.name, mq.tags, query.start, query.end
            )
            points.delete_points(project, found, query.start, query.end)
        resp.status = falcon.HTTP_204


class DeleteMetric(KairosResource):
    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        project = self.project(req)
        if name_too_long(name):
            raise errors.InvalidInput(f"metric name {NAME_TOO_LONG}.")
        self.services.backend.points.delete_metric(project, name)
        resp.status = falcon.HTTP_204


class TagNames(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        names = self.services.backend.points.tag_names(
            self.project(req), name_param(req, "metric")
        )
        resp.media = {"results": names}


class TagValues(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = self.services.backend.points.tag_values(
            self.project(req),
            name_param(req, "metric"),
            name_param(req, "tag") or name_param(req, "name"),
        )
        resp.media = {"results": values}

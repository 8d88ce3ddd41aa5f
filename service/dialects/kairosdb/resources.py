"""KairosDB's REST resources."""

from __future__ import annotations

from typing import TYPE_CHECKING

import falcon

from service import __version__, errors
from service.dialects.kairosdb.ingest import Parser
from service.records import NAME_TOO_LONG, PUBLIC_PROJECT, name_too_long
from service.web.auth import basic, token
from service.web.body import read_json
from service.web.errors import KairosEnvelope

if TYPE_CHECKING:
    from service.web.app import Services

ENVELOPE = KairosEnvelope()
# KairosDB before 1.3 took gzip as a content type rather than a content encoding.
LEGACY_GZIP_TYPES = ("application/gzip", "application/x-gzip")


class KairosResource:
    envelope = ENVELOPE

    def __init__(self, services: Services) -> None:
        self.services = services

    def project(self, req: falcon.Request) -> str:
        """The project a request reads and writes: the one its key names
        (``Authorization: Token <key>``, or Basic with the project id as user and
        the key as password), else the shared ``public`` project of clients that
        do not authenticate."""
        key = token(req)
        if key is not None:
            return self.services.directory.by_key(key).id
        credentials = basic(req)
        if credentials is not None:
            user, key = credentials
            project = self.services.directory.by_key(key).id
            if user != project:
                # A user field that names another project is a client confused
                # about which tenant it writes to: refuse rather than guess.
                raise errors.Unauthorized(
                    "Basic authorization: the user must be the id of the project "
                    "the key belongs to."
                )
            return project
        if req.get_header("Authorization"):
            raise errors.Unauthorized(
                "Unsupported or malformed Authorization; use Token <key>, or Basic "
                "with the project id and key."
            )
        if not self.services.config.kairosdb_public:
            raise errors.Unauthorized(
                "An API key is required: Authorization: Token <key>."
            )
        return PUBLIC_PROJECT


class Datapoints(KairosResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        limits = self.services.config.limits
        doc = read_json(req, limits, gzip_types=LEGACY_GZIP_TYPES)
        batches = Parser(max_points=limits.max_points_per_request).parse(doc)
        self.services.ingestor.write_points(self.project(req), batches)
        resp.status = falcon.HTTP_204


class Version:
    envelope = ENVELOPE

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # Tools that check for KairosDB read the first word; the rest says who we are.
        resp.media = {"version": f"KairosDB 1.3.0 (datapoints {__version__})"}


class HealthStatus(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.services.backend.check()
            state = "OK"
        except errors.ServiceError:
            state = "FAIL"
        resp.media = [f"Datastore-Query: {state}"]


class HealthCheck(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.services.backend.check()  # Unavailable -> 503
        resp.status = falcon.HTTP_204


def name_param(req: falcon.Request, name: str) -> str | None:
    """A query parameter naming a metric, tag or prefix: bounded like the names
    it is compared with (a longer one would reach the store's keys)."""
    value = req.get_param(name) or None
    if value is not None and name_too_long(value):
        raise errors.InvalidInput(f"{name} {NAME_TOO_LONG}.")
    return value


class MetricNames(KairosResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.project(req)
        names = self.services.backend.points.metric_names(
            project, name_param(req, "prefix")
        )
        resp.media = {"results": names}

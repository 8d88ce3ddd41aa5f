"""Liquid's collect API (/data_points, /aliases) and its analyze API (/analyze/...)."""

from __future__ import annotations

import dataclasses
from typing import Any

import falcon

from service import errors, times
from service.dialects.liquid import views
from service.dialects.liquid.envelope import AnalyzeEnvelope, LiquidEnvelope
from service.dialects.liquid.parse import (
    MAX_DATA_POINT_BYTES,
    check_accept,
    check_id,
    parse_alias,
    parse_data_point,
)
from service.domain import Services
from service.domain.analytics import Analytics
from service.records import LONG_MAX, LONG_MIN, Project
from service.web import params
from service.web.auth import token
from service.web.body import read_json


class LiquidResource:
    envelope: Any = LiquidEnvelope()

    def __init__(self, services: Services) -> None:
        self.projects = services.projects
        self.events = services.events
        self.limits = services.config.limits

    def authenticate(self, req: falcon.Request) -> Project:
        key = token(req)
        if key is None:
            raise errors.Unauthorized(
                "Missing API key: send Authorization: Token <api key>."
            )
        project = self.projects.by_key(key)
        req.context.project = project  # (its mode decides how errors are shown)
        return project


class DataPoints(LiquidResource):
    def __init__(self, services: Services) -> None:
        super().__init__(services)
        # One data point per request: its body is read, inflated and decoded no
        # further than the data point's own limit.
        self.limits = dataclasses.replace(
            self.limits,
            max_body_bytes=min(self.limits.max_body_bytes, MAX_DATA_POINT_BYTES),
            max_decompressed_bytes=MAX_DATA_POINT_BYTES,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.authenticate(req)
        check_accept(req.get_header("Accept"))
        event = parse_data_point(read_json(req, self.limits), now_ms=times.now_ms())
        self.events.write(project.id, [event])
        resp.status = falcon.HTTP_200
        resp.data = b""


class Aliases(LiquidResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.authenticate(req)
        check_accept(req.get_header("Accept"))
        user, alias = parse_alias(read_json(req, self.limits))
        try:
            target = self.events.alias(project, user, alias)
        except errors.Conflict as exc:  # Liquid answers these 422
            raise errors.Unprocessable(*exc.messages) from None
        resp.status = falcon.HTTP_201
        resp.media = views.alias(target, alias)


class AnalyzeResource(LiquidResource):
    envelope = AnalyzeEnvelope()

    def analytics(self, req: falcon.Request) -> tuple[Analytics, views.Views]:
        project = self.authenticate(req)
        return self.events.analytics(project), views.Views(project)


class UnknownAnalyzePath(AnalyzeResource):
    """A sink for paths under /analyze that no route takes (``/analyze/users/``
    without an id...): a 404 in the analyze API's envelope, not KairosDB's."""

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        req.context.envelope = self.envelope
        raise errors.NotFound("Not found.")


class AnalyzeUser(AnalyzeResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, unique_id: str
    ) -> None:
        analytics, view = self.analytics(req)
        found = analytics.user(check_id(unique_id))
        if found is None:
            raise errors.NotFound("User not found.")
        resp.media = view.user(found)


class AnalyzeUserSessions(AnalyzeResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, unique_id: str
    ) -> None:
        analytics, view = self.analytics(req)
        user = analytics.known(check_id(unique_id))
        if user is None:
            raise errors.NotFound("User not found.")
        start = params.moment(req, "from", default=LONG_MIN)
        end = params.moment(req, "to", default=LONG_MAX)
        if end < start:
            raise errors.InvalidInput("to must not be before from")
        resp.media = view.user_sessions(user, analytics.sessions(user, start, end))


class AnalyzeSession(AnalyzeResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, session_id: str
    ) -> None:
        analytics, view = self.analytics(req)
        found = analytics.session(session_id)
        if found is None:
            raise errors.NotFound("Session not found.")
        resp.media = view.session_events(found)


class AnalyzeDevice(AnalyzeResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, unique_id: str
    ) -> None:
        analytics, view = self.analytics(req)
        found = analytics.device(check_id(unique_id))
        if found is None:
            raise errors.NotFound("Device not found.")
        resp.media = view.device(found)

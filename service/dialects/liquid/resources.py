"""Liquid's collect API (/data_points, /aliases) and its analyze API (/analyze/...)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from typing import TYPE_CHECKING, Any

import falcon

from service import errors
from service.analytics import Analytics
from service.dialects.liquid.collect import (
    MAX_DATA_POINT_BYTES,
    parse_alias,
    parse_data_point,
)
from service.projects import Project
from service.records import LONG_MAX, LONG_MIN
from service.sessions import MAX_ID
from service.web.auth import project_by_token
from service.web.body import read_json

if TYPE_CHECKING:
    from service.web.app import Services

# application/vnd.lqd.v1+json pins version 1; another version is a 406.
_VERSIONED = re.compile(r"application/vnd\.lqd\.v(\d+)\+json")
_ACCEPTED = ("*/*", "application/*", "application/json", "application/vnd.lqd.v1+json")


class LiquidEnvelope:
    """Liquid's errors: ``{"error", "details"}`` on a 422 for development projects
    and no body for production ones; ``{"error"}`` for the other statuses."""

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        resp.status = falcon.code_to_http_status(status)
        project: Project | None = getattr(req.context, "project", None)
        development = project is not None and project.development
        if status in (400, 422) and not development:
            resp.data = b""  # production apps see no details
            return
        if status == 422:
            resp.media = {
                "error": "Data point is invalid",
                "details": "; ".join(messages),
            }
        else:
            resp.media = {"error": messages[0]}


class AnalyzeEnvelope:
    """Liquid's analyze API answers errors as ``{"message": ...}``."""

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        resp.status = falcon.code_to_http_status(status)
        resp.media = {"message": "; ".join(messages)}


class LiquidResource:
    envelope: Any = LiquidEnvelope()

    def __init__(self, services: Services) -> None:
        self.services = services

    def authenticate(self, req: falcon.Request) -> Project:
        project = project_by_token(req, self.services.directory)
        req.context.project = project
        return project


def check_accept(req: falcon.Request) -> None:
    header = req.get_header("Accept")
    if not header:
        return
    for part in header.split(","):
        media = part.split(";")[0].strip().lower()
        versioned = _VERSIONED.fullmatch(media)
        if media in _ACCEPTED or (versioned and versioned.group(1) == "1"):
            return
    raise errors.NotAcceptable(
        "Only application/json and application/vnd.lqd.v1+json are served."
    )


class DataPoints(LiquidResource):
    def __init__(self, services: Services) -> None:
        super().__init__(services)
        # One data point per request: its body is read, inflated and decoded no
        # further than the data point's own limit.
        limits = services.config.limits
        self.limits = dataclasses.replace(
            limits,
            max_body_bytes=min(limits.max_body_bytes, MAX_DATA_POINT_BYTES),
            max_decompressed_bytes=MAX_DATA_POINT_BYTES,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.authenticate(req)
        check_accept(req)
        doc = read_json(req, self.limits)
        event = parse_data_point(doc, now_ms=int(time.time() * 1000))
        self.services.ingestor.write_events(project.id, [event])
        resp.status = falcon.HTTP_200
        resp.data = b""


class Aliases(LiquidResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.authenticate(req)
        check_accept(req)
        user, alias = parse_alias(read_json(req, self.services.config.limits))
        analytics = Analytics(self.services.backend.events, project)
        target = analytics.canonical(user)
        if analytics.canonical(alias) == target:
            raise errors.Unprocessable(
                "unique_id_alias is already an alias of unique_id"
            )
        try:
            self.services.backend.events.add_alias(project.id, alias, target)
        except errors.Conflict as exc:
            raise errors.Unprocessable(*exc.messages) from None
        resp.status = falcon.HTTP_201
        resp.media = {"unique_id": target, "unique_id_alias": alias}


class AnalyzeResource(LiquidResource):
    envelope = AnalyzeEnvelope()

    def analytics(self, req: falcon.Request) -> Analytics:
        return Analytics(self.services.backend.events, self.authenticate(req))


class UnknownAnalyzePath(AnalyzeResource):
    """A sink for paths under /analyze that no route takes (``/analyze/users/``
    without an id...): a 404 in the analyze API's envelope, not KairosDB's."""

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        req.context.envelope = self.envelope
        raise errors.NotFound("Not found.")


class AnalyzeOne(AnalyzeResource):
    """One user, session or device, by the id in the path: ``report`` names the
    Analytics method that describes it, ``missing`` the 404's message."""

    def __init__(self, services: Services, report: str, missing: str) -> None:
        super().__init__(services)
        self.report, self.missing = report, missing

    def on_get(self, req: falcon.Request, resp: falcon.Response, **path: str) -> None:
        (key,) = path.values()  # the route's one field: unique_id or session_id
        analytics = self.analytics(req)
        if "unique_id" in path:
            _check_id(key)
        body = getattr(analytics, self.report)(key)
        if body is None:
            raise errors.NotFound(self.missing)
        resp.media = body


class AnalyzeUserSessions(AnalyzeResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, unique_id: str
    ) -> None:
        analytics = self.analytics(req)
        _check_id(unique_id)
        user = analytics.canonical(unique_id)
        if not analytics.devices(analytics.ids(user)):
            raise errors.NotFound("User not found.")
        start = _moment(req.get_param("from"), "from", LONG_MIN)
        end = _moment(req.get_param("to"), "to", LONG_MAX)
        if end < start:
            raise errors.InvalidInput("to must not be before from")
        resp.media = {
            "user_id": user,
            "sessions": analytics.session_list(user, start, end),
        }


def _check_id(unique_id: str) -> None:
    # (no such id can be stored; on Cassandra a key past 64 KiB would be an error)
    if len(unique_id) > MAX_ID:
        raise errors.InvalidInput(f"An id is at most {MAX_ID} characters.")


def _moment(raw: str | None, name: str, default: int) -> int:
    """Milliseconds since the epoch, or an ISO 8601 date and time with an offset."""
    if raw is None or raw == "":
        return default
    if re.fullmatch(r"-?[0-9]+", raw):
        # (the length test first: int() refuses strings of over 4,300 digits)
        value = int(raw) if len(raw) <= 20 else LONG_MAX + 1
        if not LONG_MIN <= value <= LONG_MAX:
            raise errors.InvalidInput(
                f"{name} must be milliseconds within the signed 64-bit range"
            )
        return value
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidInput(
            f"{name} must be milliseconds since the epoch or an ISO 8601 date and time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
        milliseconds=1
    )

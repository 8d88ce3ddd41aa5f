"""Liquid's error envelopes: the collect API's and the analyze API's."""

from __future__ import annotations

import falcon

from service.records import Project


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

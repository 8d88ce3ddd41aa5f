"""Turning exceptions into each dialect's own error envelope.

A resource names its dialect's :class:`Envelope` in its ``envelope`` attribute; the
middleware copies it into ``req.context`` so the handlers below can render any error,
including Falcon's own (404, 405, ...), the way that dialect's clients expect; a path
no route took is answered in the envelope of the dialect it belongs to
(``service.web.paths``). No response ever carries a stack trace or an internal name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import falcon

from service import errors
from service.web.paths import NAMES, dialect_of

log = logging.getLogger(__name__)


class Envelope(Protocol):
    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        """Set the response's status, headers and body for an error."""


class EnvelopeMiddleware:
    """Records which dialect's envelope errors of this request should use."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: Any
    ) -> None:
        envelope = getattr(resource, "envelope", None)
        if envelope is not None:
            req.context.envelope = envelope


def printable(messages: list[str]) -> list[str]:
    """Messages fit to send: at most ``MAX_MESSAGES`` (and a count of the rest), each
    cut to ``MAX_MESSAGE_CHARS``, with anything that is not Unicode text (a lone
    surrogate a client sent, echoed back) escaped so the response can be encoded."""
    # (a list already capped by errors.Problems ends in its own count: keep it)
    keep = (
        len(messages)
        if len(messages) <= errors.MAX_MESSAGES + 1
        else errors.MAX_MESSAGES
    )
    out = []
    for text in messages[:keep]:
        if len(text) > errors.MAX_MESSAGE_CHARS:
            text = text[: errors.MAX_MESSAGE_CHARS] + "..."
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        out.append(text)
    extra = len(messages) - keep
    if extra > 0:
        out.append(f"... and {extra} more problems.")
    return out


class Handlers:
    """Falcon's error handlers, rendering in the envelope of the request's resource,
    or (no route took the request) of the dialect its path belongs to."""

    def __init__(self, by_dialect: Mapping[str, Envelope]) -> None:
        self.by_dialect = complete(by_dialect)

    def envelope(self, req: falcon.Request) -> Envelope:
        envelope: Envelope | None = getattr(req.context, "envelope", None)
        if envelope is None:
            envelope = self.by_dialect[dialect_of(req.path)]
        return envelope

    def service_error(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        ex: errors.ServiceError,
        params: Any,
    ) -> None:
        messages = printable(ex.messages)
        if ex.status >= 500:
            log.warning("%s %s: %s", req.method, req.path, "; ".join(messages))
        self.envelope(req).render(req, resp, ex.status, messages)
        if ex.retry_after is not None:
            resp.set_header("Retry-After", str(ex.retry_after))

    def http_error(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        ex: falcon.HTTPError,
        params: Any,
    ) -> None:
        message = ex.description or ex.title or "Error"
        self.envelope(req).render(req, resp, ex.status_code, printable([message]))
        for name, value in dict(ex.headers or {}).items():
            resp.set_header(name, value)

    def unexpected(
        self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any
    ) -> None:
        # (Falcon sends HTTPErrors to http_error: the most specific handler wins)
        log.exception("unhandled error on %s %s", req.method, req.path)
        self.envelope(req).render(
            req,
            resp,
            500,
            ["Internal server error; the request may not have been applied. Retry it."],
        )


def complete(by_dialect: Mapping[str, Envelope]) -> Mapping[str, Envelope]:
    """``by_dialect``, once checked to hold an envelope for every dialect a path can
    belong to (an error handler must never fail to find one)."""
    missing = [name for name in NAMES if name not in by_dialect]
    if missing:
        raise ValueError(f"no error envelope for {', '.join(missing)}")
    return by_dialect


def install(app: falcon.App[Any, Any], by_dialect: Mapping[str, Envelope]) -> None:
    handlers = Handlers(by_dialect)
    # Falcon picks the most specific handler for an exception's class.
    app.add_error_handler(Exception, handlers.unexpected)
    app.add_error_handler(falcon.HTTPError, handlers.http_error)
    app.add_error_handler(errors.ServiceError, handlers.service_error)

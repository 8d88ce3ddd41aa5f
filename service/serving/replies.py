"""Errors the worker answers itself, in the envelope of the path's dialect.

gunicorn answers a request it cannot parse (a request line too long, a malformed
header...) with an HTML page; the worker answers these, its timeouts and its 503s
instead, rendered by the same envelope objects the app uses, so a client sees one
error format per dialect whoever answered.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Mapping
from typing import Any

import falcon
from gunicorn.http import errors as http_errors
from gunicorn.util import http_date

from service.web.errors import Envelope, printable
from service.web.paths import dialect_of


def reply(
    envelopes: Mapping[str, Envelope],
    *,
    path: str,
    status: int,
    message: str,
    retry_after: float | None = None,
) -> bytes:
    """A whole HTTP/1.1 response that closes the connection."""
    code, headers, body = rendered(
        envelopes, path=path, status=status, message=message, retry_after=retry_after
    )
    lines = [f"HTTP/1.1 {falcon.code_to_http_status(code)}", f"Date: {http_date()}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def rendered(
    envelopes: Mapping[str, Envelope],
    *,
    path: str,
    status: int,
    message: str,
    retry_after: float | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body of an error answer in ``path``'s dialect, for a
    connection that closes after it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }
    req, resp = falcon.Request(environ), falcon.Response()
    envelope = envelopes[dialect_of(path)]
    envelope.render(req, resp, status, printable([message]))
    body = resp.render_body() or b""
    headers = [("Connection", "close"), ("Content-Length", str(len(body)))]
    if body:
        headers.append(("Content-Type", resp.content_type or falcon.MEDIA_JSON))
    if retry_after is not None:
        headers.append(("Retry-After", str(max(1, math.ceil(retry_after)))))
    return resp.status_code, headers, body


# A connection answered and shut for writing stays this long at most, its input
# drained (up to LINGER_BYTES), so that the close does not reset the connection
# before the client has read the answer.
LINGER = 2.0
LINGER_BYTES = 64 * 1024

# What both workers answer for the same fault, in the same words (never echoing the
# request: it may hold anything, credentials included).
HEAD_LATE = "The request's headers did not arrive in time."
BODY_LATE = "The request body did not arrive in time: send it at a steady rate."
BODY_MALFORMED = "The request body is malformed or was cut short."
BAD_TRANSFER_CODING = "Transfer-Encoding must be chunked (or absent)."
BAD_EXPECT = "Only Expect: 100-continue is supported."
BAD_REQUEST_LINE = "Invalid request line."
BAD_VERSION = "Invalid HTTP version: HTTP/1.1 and HTTP/1.0 are served."
BAD_HEADER = "Invalid header (or a header that may not be repeated)."
BAD_REQUEST = "Invalid request."


def line_too_long(limit: int) -> str:
    return f"The request line is longer than {limit} bytes."


def headers_too_large(fields: int, field_size: int) -> str:
    return (
        f"The request headers are too large: at most {fields} fields of "
        f"{field_size} bytes each."
    )


_E = http_errors
# Errors of gunicorn's parser whose answer does not depend on its settings, the more
# specific classes first (the first that matches answers).
_PARSE_ERRORS: tuple[
    tuple[type[Exception] | tuple[type[Exception], ...], int, str], ...
] = (
    (_E.UnsupportedTransferCoding, 501, BAD_TRANSFER_CODING),
    (_E.ExpectationFailed, 417, BAD_EXPECT),
    (_E.ForbiddenProxyRequest, 403, "Request forbidden."),
    (_E.ConfigurationProblem, 500, "Internal server error."),
    ((_E.InvalidRequestLine, _E.InvalidRequestMethod), 400, BAD_REQUEST_LINE),
    (_E.InvalidHTTPVersion, 400, BAD_VERSION),
    (_E.InvalidHeaderName, 400, "Invalid header name."),
    (
        _E.ObsoleteFolding,
        400,
        "Invalid header: a header line continued on the next line.",
    ),
    (_E.InvalidHeader, 400, BAD_HEADER),
    (_E.ParseException, 400, BAD_REQUEST),
)


def parse_error(exc: Exception, cfg: Any) -> tuple[int, str]:
    """The status and message for an error of gunicorn's parser. The messages name
    the rule, never echo the request (it may hold anything, credentials included)."""
    if isinstance(exc, _E.LimitRequestLine):
        return 414, line_too_long(cfg.limit_request_line)
    if isinstance(exc, _E.LimitRequestHeaders):
        return 431, headers_too_large(
            cfg.limit_request_fields, cfg.limit_request_field_size
        )
    for kind, status, message in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return status, message
    return 500, "Internal server error; the request may not have been applied."

"""Mobile Data Anywhere's authentication, beside ``Authorization: Token <key>``.

MDA signs each request: header ``HTTP-X-API-TIMESTAMP`` (unix seconds, within five
minutes of the server's clock, see ``GET /api/v1/time``) and Basic auth whose user is
the project id and whose password is
``Base64(HMAC-SHA256(key=api_key, "name:" + user + ";timestamp:" + ts + ";"))``.
The server re-derives the project's key (it stores only a hash and a nonce) to check
the signature, in constant time. Every failure is a 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import falcon

from service import errors
from service.domain.projects import Directory
from service.records import Project
from service.web.auth import basic, token

WINDOW_S = 300
TIMESTAMP_HEADERS = ("HTTP-X-API-TIMESTAMP", "X-API-TIMESTAMP")


def signature(user: str, timestamp: str, key: str) -> str:
    message = f"name:{user};timestamp:{timestamp};".encode()
    return base64.b64encode(
        hmac.new(key.encode(), message, hashlib.sha256).digest()
    ).decode()


def authenticate(req: falcon.Request, directory: Directory) -> Project:
    key = token(req)
    if key is not None:
        try:
            return directory.by_key(key)
        except errors.Unauthorized as exc:
            raise errors.Forbidden(*exc.messages) from None
    credentials = basic(req)
    stamp = next((v for h in TIMESTAMP_HEADERS if (v := req.get_header(h))), None)
    if credentials is None or stamp is None:
        raise errors.Forbidden(
            "Authenticate with Authorization: Token <api key>, or with "
            "HTTP-X-API-TIMESTAMP and a signed Basic authorization."
        )
    user, password = credentials
    try:
        skew = abs(int(stamp) - time.time())
    except ValueError:
        raise errors.Forbidden("HTTP-X-API-TIMESTAMP must be unix seconds") from None
    if skew > WINDOW_S:
        raise errors.Forbidden(
            "HTTP-X-API-TIMESTAMP is more than 5 minutes from the server's time "
            "(GET /api/v1/time)"
        )
    project = directory.get(user)
    # compute and compare even for an unknown project, so timing tells nothing
    key = directory.key_of(project) if project else "\0"
    expected = signature(user, stamp, key)
    if not hmac.compare_digest(expected.encode(), password.encode()) or project is None:
        raise errors.Forbidden("The request signature does not match.")
    return project

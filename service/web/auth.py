"""Reading credentials from requests; the checks themselves live in the service
layer (``service.domain.projects``)."""

from __future__ import annotations

import base64
import binascii

import falcon


def token(req: falcon.Request) -> str | None:
    """The key of ``Authorization: Token <key>`` (also ``Token token="<key>"``, as Rails
    clients send it, and ``Bearer <key>``)."""
    header = req.get_header("Authorization") or ""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer"):
        return None
    rest = rest.strip()
    if rest.startswith("token="):
        rest = rest[len("token=") :].strip('"')
    return rest or None


def basic(req: falcon.Request) -> tuple[str, str] | None:
    header = req.get_header("Authorization") or ""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = (
            base64.b64decode(rest.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None

"""Query parameters, read and checked the same way for every dialect: integers within
a range, flags, lists of ids, moments, and the opaque cursors of paged reads.

Each raises ``errors.InvalidInput`` naming the parameter, so a dialect's envelope
words it; nothing a client sends reaches a store unchecked (a number past 64 bits,
a string ``int()`` would spend seconds on).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import falcon
import ujson

from service import errors, times
from service.records import LONG_MAX, LONG_MIN

# Longer than any 64-bit integer's digits (and sign): not a number worth reading
# (``int()`` refuses strings of over 4,300 digits, slowly).
_MAX_DIGITS = 20
_INTEGER = re.compile(r"-?[0-9]+")


def _bounded_int(raw: str) -> int:
    """``raw`` as an integer, or one past the 64-bit range when it has too many
    characters to be in it; ValueError when it is no integer."""
    return int(raw) if len(raw) <= _MAX_DIGITS else LONG_MAX + 1


def integer(
    req: falcon.Request,
    name: str,
    *,
    default: int,
    low: int = LONG_MIN,
    high: int = LONG_MAX,
) -> int:
    """The integer parameter ``name`` (``default`` when absent or empty), within
    ``low`` to ``high``."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    try:
        value = _bounded_int(raw)
    except ValueError:
        raise errors.InvalidInput(f"{name} must be an integer") from None
    if not low <= value <= high:
        if (low, high) == (LONG_MIN, LONG_MAX):
            raise errors.InvalidInput(f"{name} must be within the signed 64-bit range")
        raise errors.InvalidInput(f"{name} must be between {low} and {high}")
    return value


def flag(req: falcon.Request, name: str) -> bool:
    """True when the parameter says so (``1``, ``true``, ``yes``, any case)."""
    return (req.get_param(name) or "").lower() in ("1", "true", "yes")


def id_list(raw: str | None) -> list[str] | None:
    """Comma-separated ids, blanks dropped; None when the parameter is absent or
    empty."""
    if raw is None or raw == "":
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def moment(req: falcon.Request, name: str, *, default: int) -> int:
    """Milliseconds since the epoch, or an ISO 8601 date and time (UTC without an
    offset), in the parameter ``name``."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    if _INTEGER.fullmatch(raw):
        value = _bounded_int(raw)
        if not LONG_MIN <= value <= LONG_MAX:
            raise errors.InvalidInput(
                f"{name} must be milliseconds within the signed 64-bit range"
            )
        return value
    try:
        parsed = times.parse_iso(raw)
    except ValueError:
        raise errors.InvalidInput(
            f"{name} must be milliseconds since the epoch or an ISO 8601 date and time"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return times.to_ms(parsed)


def cursor(position: list[Any]) -> str:
    """The opaque text a paged read gives its client to resume at ``position``."""
    return base64.urlsafe_b64encode(ujson.dumps(position).encode()).decode()


def position(text: str) -> Any:
    """What :func:`cursor` encoded in ``text``; None when it encodes nothing (the
    caller checks it is a position it could have given)."""
    try:
        return ujson.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, TypeError):
        return None

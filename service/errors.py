"""The service's exception hierarchy.

Every layer raises these, never a library's own exceptions: the storage drivers
translate driver failures into :class:`Unavailable`, so the HTTP layer maps them to
503 without importing cassandra, and each dialect renders them in its own envelope.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

# A response lists at most this many problems (and how many more there were), each
# cut to MAX_MESSAGE_CHARS: an error answer stays small whatever the request held.
MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 1000
# Parsers stop looking for more problems past this many: enough to act on, and a
# body of millions of bad elements costs no more CPU than this.
MAX_COUNTED = 10_000
# What a message quotes of a client's input (a name, a value) at most, in characters.
MAX_QUOTED_CHARS = 64


def clip(text: str, chars: int = MAX_QUOTED_CHARS) -> str:
    """``text`` to quote in a message: whole if short, else its start and its length,
    so a message about a 70 KiB name says which one without repeating it."""
    if len(text) <= chars:
        return text
    return f"{text[:chars]}...({len(text)} characters)"


# Where a validation message is about: field names and list indexes, outermost first.
Path = tuple[str | int, ...]


def flatten(messages: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, message) for every message of a marshmallow ``ValidationError``'s
    nested ``messages`` (dicts by field name or index, lists of messages), in order.
    marshmallow's ``_schema`` key (a schema-wide message) adds nothing to the path.
    Each dialect words the pairs its own way."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from flatten(value, path if key == "_schema" else (*path, key))
    elif isinstance(messages, list):
        for value in messages:
            yield from flatten(value, path)
    else:
        yield path, str(messages)


class ServiceError(Exception):
    """Base of every error the service reports to a client."""

    status = 500
    # Seconds after which a retry may succeed (sent as Retry-After), when known.
    retry_after: int | None = None

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages: list[str] = list(messages) or [self.__class__.__doc__ or ""]


class InvalidInput(ServiceError):
    """The request is malformed or breaks a validation rule."""

    status = 400


class Unauthorized(ServiceError):
    """Authentication is missing or wrong."""

    status = 401


class Forbidden(ServiceError):
    """The credentials are valid but do not reach this resource."""

    status = 403


class NotFound(ServiceError):
    """No such resource."""

    status = 404


class NotAcceptable(ServiceError):
    """The client asked for a representation this service does not produce."""

    status = 406


class RequestTimeout(ServiceError):
    """The client did not send its request (or its body) in time."""

    status = 408


class Conflict(ServiceError):
    """The request conflicts with the current state."""

    status = 409


class PayloadTooLarge(ServiceError):
    """The request passes a configured size limit."""

    status = 413


class UnsupportedMediaType(ServiceError):
    """The request body has a content type this endpoint does not read."""

    status = 415


class Unprocessable(ServiceError):
    """The request parsed but its content is invalid (Liquid's 422)."""

    status = 422


class Unavailable(ServiceError):
    """The store did not answer in time; the client may retry."""

    status = 503


class Overloaded(Unavailable):
    """The worker holds as many request bodies as its memory budget allows; a
    retry in a moment finds room."""

    retry_after = 1


class SchemaMissing(ServiceError):
    """The store has no schema, or an older one than this code needs."""

    status = 503


class Problems(list[str]):
    """The problems found in one request: the first ``MAX_MESSAGES`` are kept and
    the rest only counted, so a body with millions of bad elements costs no more
    memory for its errors than one with a hundred."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def append(self, message: str) -> None:
        if len(self) < MAX_MESSAGES:
            super().append(message)
        else:
            self.dropped += 1

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.append(message)

    def __iadd__(self, messages: Iterable[str]) -> Problems:  # type: ignore[override,misc]
        self.extend(messages)
        return self

    @property
    def total(self) -> int:
        return len(self) + self.dropped

    @property
    def enough(self) -> bool:
        """True once a parser should stop looking for more."""
        return self.total >= MAX_COUNTED

    def messages(self) -> list[str]:
        out = list(self)
        if self.dropped:
            least = "at least " if self.enough else ""
            out.append(f"... and {least}{self.dropped} more problems.")
        return out

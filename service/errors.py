"""The service's exception hierarchy.

Every layer raises these, never a library's own exceptions: the storage drivers
translate driver failures into :class:`Unavailable`, so the HTTP layer maps them to
503 without importing cassandra, and each dialect renders them in its own envelope.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the service reports to a client."""

    status = 500

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


class SchemaMissing(ServiceError):
    """The store has no schema, or an older one than this code needs."""

    status = 503

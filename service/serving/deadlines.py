"""Deadlines on what a thread reads from a client.

A thread reads the rest of a head the main loop could not buffer (within the head's
deadline) and the body (within a deadline that a client sending at the minimum rate
never meets). A missed deadline raises :class:`Expired`, a ``TimeoutError``, which
gunicorn's own body drain already treats as "close the connection"; the app sees it
through :class:`GuardedInput` as a 408 in its dialect's envelope.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.http.unreader import SocketUnreader

from service import errors
from service.serving.replies import BODY_LATE, BODY_MALFORMED


class Expired(TimeoutError):
    """The client missed a deadline."""


class DeadlineUnreader(SocketUnreader):  # type: ignore[misc]
    """gunicorn's socket reader, with a deadline on every ``recv``."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.deadline: float | None = None
        self.per_byte = 0.0  # seconds of extra time each byte received earns
        self.request: Any = None

    def head_by(self, deadline: float) -> None:
        self.deadline, self.per_byte, self.request = deadline, 0.0, None

    def body_from(
        self, start: float, *, timeout: float, min_rate: int, request: Any
    ) -> None:
        self.deadline, self.per_byte, self.request = (
            start + timeout,
            1 / min_rate,
            request,
        )

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.deadline is None:
            data: bytes = super().chunk(size_hint)
            return data
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self._expired()
        prior = self.sock.gettimeout()
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            data = super().chunk(size_hint)
        except TimeoutError:
            # (the deadline's, or the socket's own idle timeout: a stall either way)
            self._expired()
        finally:
            self.sock.settimeout(prior)
        self.deadline += len(data) * self.per_byte
        return data

    def _expired(self) -> None:
        if self.request is not None:
            self.request.force_close()  # the rest of the body is unknown
        raise Expired("the client did not send in time")


class GuardedInput:
    """``wsgi.input`` as the app reads it: a missed deadline is a 408 and a body
    gunicorn cannot frame (a malformed chunk, a connection closed mid-body) a 400,
    each in the dialect's envelope, instead of an unexpected error (500)."""

    def __init__(self, body: Any, request: Any) -> None:
        self.body = body
        self.request = request

    def read(self, size: int | None = None) -> bytes:
        data: bytes = self._guard(self.body.read, size)
        return data

    def readline(self, size: int | None = None) -> bytes:
        line: bytes = self._guard(self.body.readline, size)
        return line

    def readlines(self, hint: int | None = None) -> list[bytes]:
        lines: list[bytes] = self._guard(self.body.readlines, hint)
        return lines

    def __iter__(self) -> GuardedInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _guard(self, read: Any, size: int | None) -> Any:
        try:
            return read(size)
        except TimeoutError:
            raise errors.RequestTimeout(BODY_LATE) from None
        except (http_errors.ParseException, http_errors.NoMoreData):
            if self.request is not None:
                self.request.force_close()
            raise errors.InvalidInput(BODY_MALFORMED) from None

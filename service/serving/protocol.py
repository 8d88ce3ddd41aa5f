"""HTTP/1.1 on the loop worker's connections: uvicorn's httptools protocol with the
service's rules for clients.

uvicorn parses requests with httptools (llhttp, in C) and frames answers; on top of
it this protocol

* gives every head ``header_timeout`` seconds from the accept (or from the first byte
  of a kept-alive connection's next request): a client too slow gets a 408 (a close
  if it sent nothing), and holds nothing but its socket meanwhile;
* gives every body a deadline that grows with the bytes received (``body_timeout``
  plus one second per ``body_min_rate`` bytes): the request reading it then sees a
  408, a body httptools cannot frame (a malformed chunk) a 400, both in the dialect's
  envelope (``service.serving.bridge``), and the connection closes after the answer;
* refuses what gunicorn refuses, with gunicorn's statuses, in the envelope of the
  path's dialect (``service.serving.replies``) instead of a plain-text page: a
  request line over 8190 bytes (414), a header field over 8190 bytes or more than 100
  of them (431), a malformed request line, header or version (400), a transfer
  coding other than chunked (501), an expectation other than 100-continue (417).

It serves plain HTTP/1.x: TLS and HTTP/2 end at the proxy in front.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HttpToolsProtocol,
    RequestResponseCycle,
)

from service.serving import head as heads
from service.serving.replies import (
    BAD_EXPECT,
    BAD_HEADER,
    BAD_REQUEST,
    BAD_REQUEST_LINE,
    BAD_TRANSFER_CODING,
    BAD_VERSION,
    BODY_LATE,
    BODY_MALFORMED,
    HEAD_LATE,
    LINGER,
    LINGER_BYTES,
    headers_too_large,
    line_too_long,
    reply,
)

# gunicorn's limits (limit_request_line, limit_request_field_size and
# limit_request_fields), which clients of the service met before this worker.
LINE_LIMIT = 8190
FIELD_LIMIT = 8190
FIELDS = 100
# A head bigger than every field at its limit is refused before it is all buffered.
HEAD_LIMIT = LINE_LIMIT + FIELDS * (FIELD_LIMIT + 4) + 4
# Heads are buffered up to this per connection; past it, only ``big_heads`` (the
# worker's threads) connections at once read on, the others wait their turn within
# their deadline: a worker's memory for heads stays bounded however many trickle.
HEAD_BUFFER = 32 * 1024


class Refused(Exception):
    """A request this protocol answers itself: (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Cycle(RequestResponseCycle):
    """uvicorn's request-response cycle, with the two ways a body can fail."""

    failure: str | None  # BODY_LATE or BODY_MALFORMED

    async def receive(self) -> Any:
        if self.failure is None:
            message = await super().receive()
            if self.failure is None:
                return message
        return {"type": "http.request", "body": b"", "failure": self.failure}

    def fail(self, failure: str) -> None:
        """The body cannot be read on: the reader sees ``failure``, and the
        connection closes after the answer (the rest of the body is unknown)."""
        self.failure = failure
        self.keep_alive = False
        self.message_event.set()


class Protocol(HttpToolsProtocol):
    cycle: Cycle
    # (per process: a worker's connections share them)
    big_heads: ClassVar[int] = 0
    waiting_heads: ClassVar[deque[Protocol]] = deque()

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        settings = config.datapoints
        self.serving = settings.serving
        self.envelopes = settings.envelopes
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.write_timer: asyncio.TimerHandle | None = None
        self.body_deadline = 0.0
        self.in_head = False  # between a request's first byte and its headers' end
        self.in_body = False  # between its headers' end and its body's
        self.head_bytes = 0
        self.head_started = 0.0
        self.fields = 0
        self.refused: Refused | None = None  # to answer once the answer before is out
        self.lingering = -1  # bytes drained since the answer; -1 while serving
        self.big = False  # reading a head past HEAD_BUFFER
        self.big_limit: int = settings.big_heads

    # -- connection --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_started = self.loop.time()
        self._arm_head()  # a client that connects and sends nothing is closed

    def connection_lost(self, exc: Exception | None) -> None:
        self._small_again()
        self.head_timer = _cancelled(self.head_timer)
        self.body_timer = _cancelled(self.body_timer)
        self.write_timer = _cancelled(self.write_timer)
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        # A client that does not read its answer: no send waits on it longer than
        # the body timeout (then the connection is cut).
        super().pause_writing()
        if self.write_timer is None:
            self.write_timer = self.loop.call_later(
                self.serving.body_timeout, self.transport.close
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_timer = _cancelled(self.write_timer)

    def data_received(self, data: bytes) -> None:
        if self.lingering >= 0:  # answered and shut: drain, then close
            self.lingering += len(data)
            if self.lingering >= LINGER_BYTES:
                self.transport.close()
            return
        if self.refused is not None or self.parser is None:
            return  # (a refusal waits for the answer before it: read no further)
        self._unset_keepalive_if_required()
        if self.in_head or not self.cycle or self.cycle.response_complete:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__
            if not isinstance(refusal, Refused):
                raise
            self._refuse(refusal)
            return
        except httptools.HttpParserUpgrade:
            self._refuse(Refused(400, "Protocol upgrades are not served."))
            return
        except httptools.HttpParserError as exc:
            self._parse_error(exc)
            return
        if self.in_head:
            self._head_in_progress()

    def _head_in_progress(self) -> None:
        """A head not complete yet: within its limit, its deadline and its buffer."""
        if self.head_bytes > HEAD_LIMIT:
            self._refuse(_too_large())
            return
        if self.head_timer is None:
            self._arm_head()
        if self.head_bytes > HEAD_BUFFER and not self.big:
            self._grow()

    # -- heads past the buffer -------------------------------------------------------

    def _grow(self) -> None:
        cls = type(self)
        if cls.big_heads < self.big_limit:
            cls.big_heads += 1
            self.big = True
        elif self not in cls.waiting_heads:
            self.flow.pause_reading()
            cls.waiting_heads.append(self)

    def _small_again(self) -> None:
        """This connection's big head is done (or gone): the next waiting reads on."""
        cls = type(self)
        if not self.big:
            if self in cls.waiting_heads:
                cls.waiting_heads.remove(self)
            return
        self.big = False
        cls.big_heads -= 1
        while cls.waiting_heads:
            following = cls.waiting_heads.popleft()
            if not following.transport.is_closing():
                cls.big_heads += 1
                following.big = True
                following.flow.resume_reading()
                break

    # -- the head ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.fields = 0
        if self.head_timer is None:  # (a new connection's runs from the accept)
            self.head_started = self.loop.time()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > LINE_LIMIT:
            raise Refused(414, line_too_long(LINE_LIMIT))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields += 1
        if self.fields > FIELDS or len(name) + len(value) > FIELD_LIMIT:
            raise _too_large()
        if name.lower() == b"expect" and value.lower() != b"100-continue":
            raise Refused(417, BAD_EXPECT)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        self._small_again()
        self.head_timer = _cancelled(self.head_timer)
        if self.parser.get_http_version() not in ("1.1", "1.0"):
            raise Refused(400, BAD_VERSION)
        for name, value in self.headers:
            if name == b"transfer-encoding" and any(
                coding.strip().lower() != b"chunked" for coding in value.split(b",")
            ):
                raise Refused(501, BAD_TRANSFER_CODING)
        super().on_headers_complete()
        # uvicorn makes its cycle just now; ours is the same with a way to fail
        self.cycle.__class__ = Cycle
        self.cycle.failure = None
        if _has_body(self.headers):
            self.in_body = True
            self.body_deadline = self.loop.time() + self.serving.body_timeout
            self._arm_body()

    def on_body(self, body: bytes) -> None:
        self.body_deadline += len(body) / self.serving.body_min_rate
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.in_body = False
        self.body_timer = _cancelled(self.body_timer)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.refused is not None and not self.transport.is_closing():
            refusal, self.refused = self.refused, None
            self._refuse(refusal)

    # -- deadlines -------------------------------------------------------------------

    def _arm_head(self) -> None:
        self.head_timer = self.loop.call_at(
            self.head_started + self.serving.header_timeout, self._head_late
        )

    def _head_late(self) -> None:
        self.head_timer = None
        if self.in_head:
            self._refuse(Refused(408, HEAD_LATE))
        elif self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # nothing sent: nothing to answer
        # (else a request is in progress: its next head's time starts later)

    def _arm_body(self) -> None:
        self.body_timer = self.loop.call_at(self.body_deadline, self._body_late)

    def _body_late(self) -> None:
        self.body_timer = None
        if self.loop.time() < self.body_deadline:  # bytes came meanwhile
            self._arm_body()
            return
        cycle = self.cycle
        if cycle.response_complete:  # answered without its body: nothing to read on
            self.transport.close()
            return
        self.parser = None  # type: ignore[assignment]  # (nothing more is parsed)
        cycle.fail(BODY_LATE)

    # -- refusals ----------------------------------------------------------------------

    def _parse_error(self, exc: Exception) -> None:
        if self.in_body:
            # a body that cannot be framed: its reader answers, then the close
            self.in_body = False
            self.body_timer = _cancelled(self.body_timer)
            self.parser = None  # type: ignore[assignment]
            if self.cycle.response_complete:
                self.transport.close()
            else:
                self.cycle.fail(BODY_MALFORMED)
            return
        self._refuse(_classified(exc, self.url))

    def _refuse(self, refusal: Refused) -> None:
        """Answer ``refusal`` in the path's envelope, then shut the connection."""
        self._small_again()
        self.head_timer = _cancelled(self.head_timer)
        self.body_timer = _cancelled(self.body_timer)
        self.parser = None  # type: ignore[assignment]
        if self.cycle is not None and not self.cycle.response_complete:
            self.refused = refusal  # after the answer in progress
            self.cycle.keep_alive = False
            return
        # (the path chooses the envelope; any method reads it the same)
        target = heads.target(b"GET " + self.url) if self.url else None
        data = reply(
            self.envelopes,
            path=target.path if target is not None else "/",
            status=refusal.status,
            message=refusal.message,
        )
        self.transport.write(data)
        self._linger()

    def _linger(self) -> None:
        self.lingering = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)


def _too_large() -> Refused:
    return Refused(431, headers_too_large(FIELDS, FIELD_LIMIT))


def _cancelled(timer: asyncio.TimerHandle | None) -> asyncio.TimerHandle | None:
    """Cancel ``timer`` if there is one; what to keep in its place (no timer)."""
    if timer is not None:
        timer.cancel()
    return None


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def _classified(exc: Exception, url: bytes) -> Refused:
    """The status and message gunicorn gives the same fault (httptools names it
    in its own words; the answer never echoes the request)."""
    text = str(exc).lower()
    if (
        isinstance(
            exc,
            httptools.HttpParserInvalidMethodError
            | httptools.HttpParserInvalidURLError,
        )
        or not url
    ):
        return Refused(400, BAD_REQUEST_LINE)
    if "transfer-encoding" in text and "invalid" in text:
        return Refused(501, BAD_TRANSFER_CODING)
    if "version" in text:
        return Refused(400, BAD_VERSION)
    if "header" in text or "content-length" in text:
        return Refused(400, BAD_HEADER)
    return Refused(400, BAD_REQUEST)

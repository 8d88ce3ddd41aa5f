"""The loop worker's ASGI app: the service's WSGI app, run where each request costs
least.

* A small write (``service.web.paths.is_small_write``: KairosDB's datapoints,
  Liquid's collect, OneNET's upload, MDA's session create, with a body of at most
  ``SMALL_BODY`` bytes) runs on the loop's own thread, in a greenlet
  (``service.cooperative``), when the store waits cooperatively (Cassandra): the
  app's waits on Cassandra switch back to the loop, which serves other connections
  meanwhile. This is the path of phones, devices and SDKs posting a point or an event
  at a time, and it hands no request to a thread.
* Heavy requests (``service.web.paths.is_heavy``: queries, listings, range deletes)
  first wait their turn in a first-come first-served queue of the loop (holding no
  thread, their bodies unread) while ``heavy_slots`` of them run; one that waits
  ``heavy_wait`` gets a 503 with Retry-After in its dialect's envelope.
* Those and large bodies (whose decoding would hold the loop) run on a pool of
  ``threads`` threads, as does everything when the store blocks (SQLite).

Either way the app reads its body from ``wsgi.input`` within the protocol's deadlines
(``service.serving.protocol``): a late body is a 408, a malformed one a 400, in the
dialect's envelope. No answer waits on a slow reader longer than ``body_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service import cooperative, errors
from service.config import Config
from service.serving import head as heads
from service.serving.admission import Admission, Verdict
from service.serving.replies import BODY_LATE, BODY_MALFORMED, rendered
from service.web.paths import is_heavy, is_small_write

log = logging.getLogger(__name__)

# The largest body a request may have to run on the loop: decoding it takes well
# under a millisecond. Larger ones go to a thread, so the loop never stalls on one.
SMALL_BODY = 16 * 1024
BUSY = (
    "Too many queries (or listings, or deletes) are running; retry after the time "
    "in Retry-After."
)

INTERNAL = "Internal server error; the request may not have been applied."

Send = Callable[[dict[str, Any]], Any]
Receive = Callable[[], Any]


class Bridge:
    def __init__(
        self, app: Any, config: Config, *, threads: int, envelopes: dict[str, Any]
    ) -> None:
        self.app = app
        self.serving = config.serving
        self.envelopes = envelopes
        self.on_loop = bool(getattr(app, "cooperative", False))
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")
        self.admission: Admission[asyncio.Future[bool]] = Admission(
            slots=self.serving.heavy_slots(threads), wait=self.serving.heavy_wait
        )

    async def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        if scope["type"] != "http":
            return  # (lifespan is off; nothing else is served)
        loop = asyncio.get_running_loop()
        environ = _environ(scope)
        method = environ["REQUEST_METHOD"]
        path = heads.routed(environ["PATH_INFO"])
        body = _Body(receive, loop)
        environ["wsgi.input"] = body
        try:
            if is_heavy(method, path):
                if not await self._admitted(loop):
                    log.info("503 for %s %s: heavy requests are all busy", method, path)
                    await self._error(send, path, 503, BUSY, self.serving.heavy_wait)
                    return
                try:
                    await self._threaded(loop, environ, body, send)
                finally:
                    self._leave()
            elif self.on_loop and is_small_write(method, path) and _small(environ):
                answer = await cooperative.run(self._call, environ, body)
                await self._answer(send, answer, body)
            else:
                await self._threaded(loop, environ, body, send)
        except Exception:  # (Falcon answers the app's own errors: this is ours)
            log.exception("error serving %s %s", method, path)
            if not body.answered:
                await self._error(send, path, 500, INTERNAL, None)

    # -- running the app -------------------------------------------------------------

    def _call(self, environ: dict[str, Any], body: _Body) -> list[dict[str, Any]]:
        """The app's whole answer (on the loop: for small requests)."""
        return list(_messages(self.app, environ, body))

    async def _threaded(
        self,
        loop: asyncio.AbstractEventLoop,
        environ: dict[str, Any],
        body: _Body,
        send: Send,
    ) -> None:
        """Run the app on a pool thread, its answer sent as it comes."""
        body.thread = True

        def run() -> None:
            # (closed at once if a send fails: the app's iterable with it)
            with contextlib.closing(_messages(self.app, environ, body)) as messages:
                for message in messages:
                    body.answered = True
                    asyncio.run_coroutine_threadsafe(send(message), loop).result()

        await loop.run_in_executor(self.pool, run)

    async def _answer(
        self, send: Send, messages: list[dict[str, Any]], body: _Body
    ) -> None:
        """A small answer: its head, then its body in one piece."""
        head, *chunks = messages
        body.answered = True
        await send(head)
        await send(
            {"type": "http.response.body", "body": b"".join(m["body"] for m in chunks)}
        )

    async def _error(
        self,
        send: Send,
        path: str,
        status: int,
        message: str,
        retry_after: float | None,
    ) -> None:
        code, headers, body = rendered(
            self.envelopes,
            path=path,
            status=status,
            message=message,
            retry_after=retry_after,
        )
        await send(_start(code, headers))
        await send({"type": "http.response.body", "body": body})

    # -- admission of heavy requests -------------------------------------------------

    async def _admitted(self, loop: asyncio.AbstractEventLoop) -> bool:
        turn: asyncio.Future[bool] = loop.create_future()
        verdict = self.admission.enter(turn, loop.time())
        if verdict is Verdict.RUN:
            return True
        if verdict is Verdict.REJECT:
            return False
        loop.call_at(loop.time() + self.admission.wait, self._expire, loop)
        return await turn

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        # (a timer may run a little before its time: the loop's clock resolution)
        for turn in self.admission.expired(loop.time() + 0.005):
            if not turn.done():
                turn.set_result(False)

    def _leave(self) -> None:
        following = self.admission.leave()
        if following is not None and not following.done():
            following.set_result(True)


class _Body:
    """``wsgi.input`` over the connection: the app reads its body as it arrives,
    from a greenlet on the loop or from a pool thread."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self.receive = receive
        self.loop = loop
        self.thread = False
        self.buffer = bytearray()
        self.more = True
        self.failure: str | None = None
        self.answered = False  # the answer's head is sent

    def read(self, size: int | None = -1) -> bytes:
        while self.more and (size is None or size < 0 or len(self.buffer) < size):
            self._fill()
        if size is None or size < 0 or size >= len(self.buffer):
            data = bytes(self.buffer)
            self.buffer.clear()
        else:
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        while self.more and b"\n" not in self.buffer:
            if size is not None and 0 <= size <= len(self.buffer):
                break
            self._fill()
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterable[bytes]:
        return iter(self.readline, b"")

    def _fill(self) -> None:
        if self.thread:
            message = asyncio.run_coroutine_threadsafe(
                self.receive(), self.loop
            ).result()
        else:
            message = cooperative.wait(self.receive())
        failure = message.get("failure")
        if failure is not None or message["type"] != "http.request":
            self.more = False
            self.failure = failure or "gone"
            if failure == BODY_LATE:
                raise errors.RequestTimeout(BODY_LATE)
            raise errors.InvalidInput(BODY_MALFORMED)
        self.buffer += message["body"]
        self.more = bool(message.get("more_body", False))


def _environ(scope: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environment of a request, as gunicorn makes it."""
    server = scope.get("server") or ("localhost", 80)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": heads.path_info(raw_path.decode("latin-1")),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        text = value.decode("latin-1")
        if key in environ:
            text = environ[key] + "," + text
        environ[key] = text
    return environ


def _small(environ: dict[str, Any]) -> bool:
    length = environ.get("CONTENT_LENGTH")
    if length is None:
        return "HTTP_TRANSFER_ENCODING" not in environ
    try:
        return int(length) <= SMALL_BODY
    except ValueError:
        return False


def _messages(
    app: Any, environ: dict[str, Any], body: _Body
) -> Generator[dict[str, Any], None, None]:
    """The WSGI app's answer as ASGI messages: the head once the app has produced its
    first chunk (WSGI lets it change its status until then), each chunk, the end.
    The app's iterable is closed however the iteration ends."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        started[:] = [status, headers]

    result = app(environ, start_response)
    try:
        chunks = iter(result)
        first = next(chunks, b"")
        status, headers = started
        yield _start(int(status[:3]), _closing(headers, body))
        for chunk in itertools.chain((first,), chunks):
            if chunk:
                yield {"type": "http.response.body", "body": chunk, "more_body": True}
        yield {"type": "http.response.body", "body": b"", "more_body": False}
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _closing(headers: list[tuple[str, str]], body: _Body) -> list[tuple[str, str]]:
    """The app's headers, with a close when its body failed (its rest is unknown)."""
    if body.failure is not None:
        return [*headers, ("Connection", "close")]
    return headers


def _start(status: int, headers: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers
        ],
    }

"""gunicorn's gthread worker with deadlines for slow clients and admission for heavy
requests.

The gthread worker hands a connection to a pool thread as soon as it is accepted (or
readable again), and the thread then waits on the client for as long as the client
takes to send its head and its body: as many slow clients as threads stall the whole
worker. This worker instead

* reads each request's head (request line and headers) in the main loop, holding no
  thread, within ``header_timeout``: a client too slow gets a 408 (a close if it sent
  nothing), and the requests of everyone else go on meanwhile;
* hands a request to a thread once its head is complete. The thread reads the body
  within a deadline that grows with the bytes received (``body_timeout`` plus one
  second per ``body_min_rate`` bytes), and no send blocks longer than
  ``body_timeout``;
* keeps heavy requests (``service.web.paths.is_heavy``: queries, listings, range
  deletes) in a first-come first-served queue of the main loop while
  ``heavy_slots`` of them run, so a waiting query holds no thread and ingest always
  finds one; one that waits ``heavy_wait`` gets a 503 with Retry-After;
* answers gunicorn's own errors (414, 431, malformed requests...) in the envelope of
  the path's dialect instead of an HTML page, and closes connections without ever
  blocking the main loop (gthread lingers on each close in it for up to 2 s).

It serves plain HTTP/1.x: TLS and HTTP/2 end at the proxy in front. It is built on
gunicorn 27.0's ``ThreadWorker`` (setup.cfg pins that version).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from service.app import envelopes
from service.config import Config
from service.serving import head as heads
from service.serving.admission import Admission, Verdict
from service.serving.deadlines import DeadlineUnreader, Expired, GuardedInput
from service.serving.replies import HEAD_LATE, LINGER, LINGER_BYTES, parse_error, reply
from service.web.paths import is_heavy


def _reading(deadline: float, conn: Any) -> bool:
    """Whether the main loop still reads this connection's head by ``deadline``."""
    return bool(conn.stage == "head" and conn.head_deadline == deadline)


def _peer(conn: Any) -> str:
    return str(conn.client[0] if isinstance(conn.client, tuple) else conn.client)


def _lingering(deadline: float, conn: Any) -> bool:
    return bool(conn.stage == "linger" and conn.linger_deadline == deadline)


class DeadlineWorker(ThreadWorker):  # type: ignore[misc]
    wsgi: Any  # the app, set by gunicorn's load_wsgi

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = getattr(self.app, "config", None)
        self.config = config if isinstance(config, Config) else Config.from_env()
        self.serving = self.config.serving
        self.admission: Admission[Any] = Admission(
            slots=self.serving.heavy_slots(self.cfg.threads),
            wait=self.serving.heavy_wait,
        )
        # (deadline, connection), in deadline order: the deadlines are all "now +
        # a constant". An entry whose connection moved on is skipped when it expires.
        self.heads: deque[tuple[float, Any]] = deque()
        self.lingering: deque[tuple[float, Any]] = deque()
        line = self.cfg.limit_request_line
        self.line_limit = line if 0 < line < 8190 else 8190
        self.local = threading.local()
        self._envelopes: dict[str, Any] | None = None

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or "h2" in cfg.http_protocols:
            raise RuntimeError(
                "DeadlineWorker serves plain HTTP/1.x: end TLS and HTTP/2 at a proxy"
            )

    def init_process(self) -> None:
        if self.admission.slots >= self.cfg.threads > 1:
            self.log.warning(
                "DATAPOINTS_HEAVY_CONCURRENCY (%d) is not below the threads (%d): "
                "heavy requests can take every thread, and ingest wait behind them",
                self.admission.slots,
                self.cfg.threads,
            )
        super().init_process()

    @property
    def envelopes(self) -> dict[str, Any]:
        if self._envelopes is None:
            self._envelopes = envelopes(self.config)
        return self._envelopes

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app: Any = self.wsgi
        local = self.local

        def guarded(environ: dict[str, Any], start_response: Any) -> Any:
            request = getattr(local, "request", None)
            environ["wsgi.input"] = GuardedInput(environ["wsgi.input"], request)
            return app(environ, start_response)

        self.wsgi = guarded

    # -- the main loop: heads, admission, deadlines, closes ------------------------

    def enqueue_req(self, conn: Any) -> None:
        """Called by gthread for a new connection, a kept-alive one that became
        readable and one whose next request is already buffered: read its head here,
        without a thread."""
        conn.heavy = False
        conn.target = None
        conn.watched = False
        conn.head = bytearray()
        if conn.parser is not None:
            conn.head += conn.parser.unreader.take_buffered()
        conn.stage = "head"
        conn.head_deadline = time.monotonic() + self.serving.header_timeout
        if conn.head and heads.ready(conn.head, 0, self.line_limit):
            self._head_read(conn)
        else:
            self._read_head(conn)

    def _read_head(self, conn: Any, _: Any = None) -> None:
        start = len(conn.head)
        try:
            data = conn.sock.recv(heads.MAX_BUFFERED - start)
        except (BlockingIOError, InterruptedError):
            self._wait_for_head(conn)
            return
        except OSError:
            data = b""
        if not data:  # the client left
            self._close(conn)
            return
        conn.head += data
        if heads.ready(conn.head, start, self.line_limit):
            self._head_read(conn)
        else:
            self._wait_for_head(conn)

    def _wait_for_head(self, conn: Any) -> None:
        if not conn.watched:
            # (only now: most heads arrive whole, and need no deadline kept)
            self.heads.append((conn.head_deadline, conn))
            self._watch(conn, self._read_head)

    def _head_read(self, conn: Any) -> None:
        self._unwatch(conn)
        conn.target = heads.target(conn.head)
        if conn.target is not None and is_heavy(*conn.target):
            verdict = self.admission.enter(conn, time.monotonic())
            if verdict is Verdict.WAIT:
                conn.stage = "waiting"
                return
            if verdict is Verdict.REJECT:
                self._busy(conn)
                return
            conn.heavy = True
        self._dispatch(conn)

    def _dispatch(self, conn: Any) -> None:
        conn.stage = "thread"
        super().enqueue_req(conn)

    def _busy(self, conn: Any) -> None:
        self.log.info("503 for %s %s: heavy requests are all busy", *conn.target)
        self._answer(
            conn,
            503,
            "Too many queries (or listings, or deletes) are running; retry after the time in Retry-After.",
            retry_after=self.serving.heavy_wait,
        )

    def _answer(
        self, conn: Any, status: int, message: str, retry_after: float | None = None
    ) -> None:
        """Send a small error answer from the main loop, then close."""
        path = conn.target.path if conn.target is not None else "/"
        try:
            data = reply(
                self.envelopes,
                path=path,
                status=status,
                message=message,
                retry_after=retry_after,
            )
        except Exception:  # (never let the main loop die of it)
            self.log.exception("could not render a %d for %s", status, path)
            self._close(conn)
            return
        try:
            conn.sock.setblocking(False)
            # (a connection whose answer is not out yet has an empty send buffer:
            # a few hundred bytes always fit; if not, the client was not reading)
            if conn.sock.send(data) < len(data):
                raise BlockingIOError
        except OSError:
            self._close(conn)
            return
        self._linger(conn)

    def _linger(self, conn: Any) -> None:
        self._unwatch(conn)
        conn.stage = "linger"
        conn.drained = 0
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            self._close(conn)
            return
        conn.linger_deadline = time.monotonic() + LINGER
        self.lingering.append((conn.linger_deadline, conn))
        self._watch(conn, self._drain)

    def _drain(self, conn: Any, _: Any = None) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained >= LINGER_BYTES:
            self._close(conn)

    def _watch(self, conn: Any, callback: Callable[..., None]) -> None:
        if not conn.watched:
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(callback, conn)
            )
            conn.watched = True

    def _unwatch(self, conn: Any) -> None:
        if conn.watched:
            conn.watched = False
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)

    def _close(self, conn: Any) -> None:
        self._unwatch(conn)
        conn.stage = "closed"
        self.nr_conns -= 1
        conn.close()

    def finish_request(self, conn: Any, fs: Any) -> None:
        """A thread is done with a connection (called in the main loop)."""
        if conn.heavy:
            conn.heavy = False
            following = self.admission.leave()
            if following is not None:
                following.heavy = True
                self._dispatch(following)
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keep = False
        if not keep:
            self._linger(conn)
            return
        if conn.parser.unreader.buf.getvalue():
            self.enqueue_req(conn)  # the next request is here already
            return
        # Kept alive, as gthread does it
        conn.stage = "idle"
        conn.sock.setblocking(False)
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        self.keepalived_conns.append(conn)
        self.poller.register(
            conn.sock,
            selectors.EVENT_READ,
            partial(self.on_client_socket_readable, conn),
        )

    def murder_pending(self) -> None:
        """(gthread calls this on every turn of its loop) Enforce the deadlines."""
        super().murder_pending()
        now = time.monotonic()
        while self.heads and self.heads[0][0] <= now:
            deadline, conn = self.heads.popleft()
            if not _reading(deadline, conn):
                continue
            if conn.head.strip(b"\r\n"):
                conn.target = heads.target(conn.head)
                self.log.debug("408 for %s: its head was late", _peer(conn))
                self._answer(conn, 408, HEAD_LATE)
            else:
                self._close(conn)  # nothing sent: nothing to answer
        for conn in self.admission.expired(now):
            self._busy(conn)
        while self.lingering and self.lingering[0][0] <= now:
            deadline, conn = self.lingering.popleft()
            if _lingering(deadline, conn):
                self._close(conn)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # Wake up for the next deadline, not only once a second; deadlines of
        # connections that moved on are dropped first, not waited for.
        heads, lingering = self.heads, self.lingering
        while heads and not _reading(*heads[0]):
            heads.popleft()
        while lingering and not _lingering(*lingering[0]):
            lingering.popleft()
        soonest = [d for d in (self.admission.next_deadline(),) if d is not None]
        for queue in (heads, lingering):
            if queue:
                soonest.append(queue[0][0])
        if soonest:
            timeout = min(timeout, max(0.0, min(soonest) - time.monotonic()) + 0.001)
        super().wait_for_and_dispatch_events(timeout)

    # -- a pool thread: one request ------------------------------------------------

    def handle(self, conn: Any) -> bool:
        req = None
        try:
            conn.sock.setblocking(True)
            conn.init()
            unreader = conn.parser.unreader
            if not isinstance(unreader, DeadlineUnreader):
                unreader = conn.parser.unreader = DeadlineUnreader(conn.sock)
            unreader.unread(bytes(conn.head))
            conn.head = bytearray()  # (the parser holds it now)
            unreader.head_by(conn.head_deadline)
            req = next(conn.parser)
            unreader.body_from(
                time.monotonic(),
                timeout=self.serving.body_timeout,
                min_rate=self.serving.body_min_rate,
                request=req,
            )
            if not getattr(conn, "send_timeout", False):
                # No send blocks longer than the body timeout. A kernel timeout,
                # not a socket timeout: Python would poll() before every send.
                seconds = self.serving.body_timeout
                conn.sock.setsockopt(
                    socket.SOL_SOCKET,
                    socket.SO_SNDTIMEO,
                    struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)),
                )
                conn.send_timeout = True
            self.local.request = req
            keep = self.handle_request(req, conn)
        except Expired:
            if req is None:
                self._reply(conn, 408, HEAD_LATE)
            return False
        except (http_errors.NoMoreData, StopIteration):
            return False
        except (TimeoutError, BlockingIOError):  # (a send past SO_SNDTIMEO)
            self.log.debug("closing the connection of a client too slow to read")
            return False
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.debug("the client left: %s", exc)
            else:
                self.log.exception("socket error while handling a request")
            return False
        except Exception as exc:
            status, message = parse_error(exc, self.cfg)
            if status >= 500:
                self.log.exception("error handling a request")
            else:
                self.log.warning("Invalid request from ip=%s: %r", _peer(conn), exc)
            self._reply(conn, status, message)
            return False
        finally:
            self.local.request = None
        try:
            return bool(self._keepalive_after(conn, keep))
        except Exception:  # the rest of the body is unreadable: just close
            return False

    def _reply(self, conn: Any, status: int, message: str) -> None:
        path = conn.target.path if conn.target is not None else "/"
        data = reply(self.envelopes, path=path, status=status, message=message)
        try:
            conn.sock.settimeout(min(self.serving.body_timeout, 5.0))
            conn.sock.sendall(data)
        except OSError:
            pass

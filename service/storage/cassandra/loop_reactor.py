"""cassandra-driver's connections on the serving worker's own event loop.

The driver's usual reactor (libev) runs every connection's I/O on a thread of its
own: each request's statement is handed to that thread, and its answer handed back
to the loop, so every write crosses threads twice (two wake-ups and the GIL passed
back and forth). Under the loop worker the connections live on the worker's event
loop instead: a statement sent from a request's greenlet goes to the socket at once,
and the answer is read, decoded and its callbacks run on the loop, where the request
waits. Connections are still opened (a blocking connect and handshake) by the
driver's own threads, never on the loop (``CassandraSession`` sees to that).
"""

from __future__ import annotations

import asyncio
import errno
from collections import deque
from collections.abc import Callable
from typing import Any

from service import cooperative

_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class _Timer:
    """A driver timer (a request's timeout) as a handle of the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timeout: float,
        callback: Callable[[], Any],
    ) -> None:
        self.loop = loop
        self.handle: asyncio.TimerHandle | None = None
        self.cancelled = False
        _on_loop(loop, self._start, timeout, callback)

    def _start(self, timeout: float, callback: Callable[[], Any]) -> None:
        if not self.cancelled and not self.loop.is_closed():
            self.handle = self.loop.call_later(timeout, callback)

    def cancel(self) -> None:
        self.cancelled = True
        _on_loop(self.loop, self._cancel)

    def _cancel(self) -> None:
        if self.handle is not None and not self.loop.is_closed():
            self.handle.cancel()


class LoopIO:
    """The I/O of a driver connection on the loop: mixed into the driver's own
    ``Connection`` by ``CassandraSession`` (the one module that imports the driver),
    which also gives ``shutdown``, the driver's ConnectionShutdown."""

    loop: asyncio.AbstractEventLoop | None = None
    shutdown: type[Exception] = ConnectionError
    # (the driver's Connection's)
    is_closed: bool
    is_defunct: bool
    lock: Any
    endpoint: Any
    in_buffer_size: int
    _socket: Any
    _iobuf: Any
    _connect_socket: Callable[[], None]
    _send_options_message: Callable[[], None]
    defunct: Callable[[BaseException], None]
    process_io_buffer: Callable[[], None]
    error_all_requests: Callable[[BaseException], None]

    @classmethod
    def initialize_reactor(cls) -> None:
        pass  # (the loop runs already: it is the worker's)

    @classmethod
    def create_timer(cls, timeout: float, callback: Callable[[], Any]) -> _Timer:
        assert cls.loop is not None
        return _Timer(cls.loop, timeout, callback)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: deque[bytes | memoryview] = deque()
        self._connect_socket()
        self._socket.setblocking(False)
        self._fd = self._socket.fileno()
        assert self.loop is not None
        _on_loop(self.loop, self.loop.add_reader, self._fd, self._readable)
        self._send_options_message()

    # -- writes ------------------------------------------------------------------------

    def push(self, data: bytes) -> None:
        assert self.loop is not None
        _on_loop(self.loop, self._write, data)

    def _write(self, data: bytes | memoryview) -> None:
        if self.is_closed:
            return
        if self._unsent:  # (the socket is full: in turn, when it drains)
            self._unsent.append(data)
            return
        try:
            sent = self._socket.send(data)
        except OSError as exc:
            if exc.errno not in _AGAIN:
                self.defunct(exc)
                return
            sent = 0
        if sent < len(data):
            self._unsent.append(memoryview(data)[sent:])
            assert self.loop is not None
            self.loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        while self._unsent:
            data = self._unsent[0]
            try:
                sent = self._socket.send(data)
            except OSError as exc:
                if exc.errno in _AGAIN:
                    return
                self.defunct(exc)
                return
            if sent < len(data):
                self._unsent[0] = memoryview(data)[sent:]
                return
            self._unsent.popleft()
        assert self.loop is not None
        self.loop.remove_writer(self._fd)

    # -- reads ---------------------------------------------------------------------------

    def _readable(self) -> None:
        try:
            while True:
                buf = self._socket.recv(self.in_buffer_size)
                self._iobuf.write(buf)
                if len(buf) < self.in_buffer_size:
                    break
        except OSError as exc:
            if exc.errno not in _AGAIN:
                self.defunct(exc)
                return
            if not self._iobuf.tell():
                return
        if self._iobuf.tell():
            self.process_io_buffer()
        else:  # (the node closed the connection)
            self.close()

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        with self.lock:
            if self.is_closed:
                return
            self.is_closed = True
        assert self.loop is not None
        _on_loop(self.loop, self._forget)
        if not self.is_defunct:
            self.error_all_requests(
                self.shutdown(f"Connection to {self.endpoint} was closed")
            )

    def _forget(self) -> None:
        assert self.loop is not None
        if not self.loop.is_closed():
            self.loop.remove_reader(self._fd)
            self.loop.remove_writer(self._fd)
        self._unsent.clear()
        self._socket.close()


def _on_loop(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any
) -> None:
    """Call ``fn`` on the loop's thread: now if this is it, else as soon as it can."""
    if cooperative.on_loop_thread() or loop.is_closed():
        # (a closed loop runs nothing more: the driver's shutdown at exit closes
        # its connections here)
        fn(*args)
    else:
        loop.call_soon_threadsafe(fn, *args)

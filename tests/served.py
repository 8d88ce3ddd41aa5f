"""``datapoints serve`` (a real gunicorn) for tests, and a raw HTTP/1.1 client.

The serving layer (deadlines, admission of heavy requests, gunicorn's own errors) lives
in the gunicorn worker, below Falcon: only a real server shows it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    seconds: float  # from the first byte sent to the whole answer read

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    host: str
    port: int
    proc: subprocess.Popen[bytes]

    def connect(self, timeout: float = 30) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def exchange(self, request: bytes, timeout: float = 30) -> Answer:
        """Send ``request`` on a new connection and read the answer."""
        with self.connect(timeout) as sock:
            start = time.monotonic()
            sock.sendall(request)
            return read_answer(sock, start)


def read_answer(sock: socket.socket, start: float | None = None) -> Answer:
    """One HTTP/1.1 answer (with a Content-Length, as this service sends them),
    read to its last byte and no further: the next answer stays on the socket."""
    start = time.monotonic() if start is None else start
    data = b""
    while True:
        peeked = sock.recv(65536, socket.MSG_PEEK)
        if not peeked:
            raise ConnectionError(f"closed without an answer; got {data!r}")
        end = (data + peeked).find(b"\r\n\r\n")
        if end >= 0:
            data += sock.recv(end + 4 - len(data))
            break
        data += sock.recv(len(peeked))
    lines = data[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    status = int(lines[0].split(" ")[1])
    return Answer(status, headers, body, time.monotonic() - start)


def request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("latin-1") + body


@contextlib.contextmanager
def served(store_url: str, secret: str, **env: str) -> Iterator[Served]:
    """``datapoints serve`` on the store, with 1 worker unless ``env`` says more;
    stopped (by its pid) when the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATAPOINTS_STORE": store_url,
            "DATAPOINTS_SECRET_KEY": secret,
            "DATAPOINTS_BIND": f"127.0.0.1:{port}",
            "DATAPOINTS_WORKERS": "1",
            "DATAPOINTS_LOG_LEVEL": "WARNING",
            **env,
        },
    )
    server = Served("127.0.0.1", port, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if server.exchange(request("GET", "/api/v1/version"), 5).status == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"datapoints serve exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("datapoints serve did not answer within 60 s")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

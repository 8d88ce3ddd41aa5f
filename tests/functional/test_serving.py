"""The serving layer, through a real ``datapoints serve`` (gunicorn, one worker of 4
threads): slow clients lose their own request and nobody else's, heavy queries wait
their turn (or get a 503) while ingest keeps its latency, and gunicorn's own errors
answer in the dialect's envelope.

tests/integration/dialects/test_serving.py runs this module again on Cassandra.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import open_backend
from tests.served import Answer, Served, read_answer, request, served

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.0
MIN_RATE = 400  # bytes/s
HEAVY_WAIT = 1.0
SETTINGS = {
    "DATAPOINTS_THREADS": "4",
    "DATAPOINTS_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "DATAPOINTS_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "DATAPOINTS_BODY_MIN_RATE": str(MIN_RATE),
    "DATAPOINTS_HEAVY_CONCURRENCY": "1",
    "DATAPOINTS_HEAVY_WAIT": str(HEAVY_WAIT),
}
# A request that did not wait for a slow client is answered well within this.
PROMPT = 1.0


@pytest.fixture(scope="module")
def server(served_config: Config) -> Iterator[Served]:
    assert served_config.secret_key
    with served(served_config.store_url, served_config.secret_key, **SETTINGS) as s:
        yield s


def metric() -> str:
    return "serving." + uuid.uuid4().hex[:12]


def write_body(name: str, count: int = 1, first: int = 1) -> bytes:
    points = [[first + i, i] for i in range(count)]
    return json.dumps(
        [{"name": name, "tags": {"host": "a"}, "datapoints": points}]
    ).encode()


def ingest(server: Served, name: str, *, at: int = 1) -> Answer:
    body = write_body(name, first=at)
    return server.exchange(
        request(
            "POST", "/api/v1/datapoints", body, {"Content-Type": "application/json"}
        )
    )


def query_body(name: str) -> bytes:
    return json.dumps({"start_absolute": 0, "metrics": [{"name": name}]}).encode()


def stored(server: Served, name: str) -> int:
    answer = server.exchange(
        request("POST", "/api/v1/datapoints/query", query_body(name))
    )
    assert answer.status == 200, answer.body
    return int(answer.json()["queries"][0]["sample_size"])


def kairos_error(answer: Answer, status: int) -> str:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    (message,) = answer.json()["errors"]
    assert isinstance(message, str) and message
    return message


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


# -- slow clients -------------------------------------------------------------------


def test_slow_headers_lose_their_own_request_and_nobody_waits_for_them(
    server: Served,
) -> None:
    name = metric()
    # 16 slowloris connections (four times the threads) sending a header line every
    # 0.2 s, and 4 that connect and send nothing
    slow = [server.connect() for _ in range(16)]
    silent = [server.connect() for _ in range(4)]
    started = time.monotonic()
    for sock in slow:
        sock.sendall(b"POST /api/v1/datapoints HTTP/1.1\r\nHost: test\r\n")
    stop = threading.Event()

    def trickle() -> None:
        n = 0
        while not stop.wait(0.2):
            n += 1
            for sock in slow:
                with contextlib.suppress(OSError):  # answered and closed already
                    sock.sendall(f"X-Slow-{n}: yes\r\n".encode())

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        time.sleep(0.3)
        # meanwhile, new clients are served at once
        for i in range(10):
            version = server.exchange(request("GET", "/api/v1/version"))
            assert version.status == 200 and version.seconds < PROMPT
            written = ingest(server, name, at=i + 1)
            assert written.status == 204 and written.seconds < PROMPT
        assert time.monotonic() - started < HEADER_TIMEOUT  # all before any cut-off
        # each slow client gets a 408 in KairosDB's envelope, then a close
        for sock in slow:
            sock.settimeout(HEADER_TIMEOUT + 3)
            answer = read_answer(sock, started)
            assert "did not arrive in time" in kairos_error(answer, 408)
            assert answer.headers["connection"] == "close"
            assert HEADER_TIMEOUT - 0.1 < answer.seconds < HEADER_TIMEOUT + 2
        for sock in silent:  # nothing asked, nothing answered: closed
            sock.settimeout(HEADER_TIMEOUT + 3)
            assert sock.recv(100) == b""
        assert time.monotonic() - started < HEADER_TIMEOUT + 2
    finally:
        stop.set()
        trickler.join()
        for sock in slow + silent:
            sock.close()
    assert stored(server, name) == 10


def test_a_stalled_body_loses_its_request_and_nothing_of_it_is_stored(
    server: Served,
) -> None:
    name = metric()
    body = write_body(name, count=50)
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(request("POST", "/api/v1/datapoints", body)[: -len(body) // 2])
        answer = read_answer(sock, start)
        assert sock.recv(100) == b""  # closed: the rest of the body is unknown
    assert "body did not arrive in time" in kairos_error(answer, 408)
    assert BODY_TIMEOUT - 0.1 < answer.seconds < BODY_TIMEOUT + 2
    assert stored(server, name) == 0


def test_a_slow_body_sent_at_the_minimum_rate_is_never_cut_off(
    server: Served,
) -> None:
    name = metric()
    body = write_body(name, count=3).ljust(1200)  # JSON allows trailing blanks
    piece = 100  # every 0.2 s: 500 bytes/s, above the 400 bytes/s minimum
    whole = request("POST", "/api/v1/datapoints", body)
    head = whole[: -len(body)]
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(head)
        for i in range(0, len(body), piece):
            time.sleep(0.2)
            sock.sendall(body[i : i + piece])
        answer = read_answer(sock, start)
    assert answer.status == 204, answer.body
    assert answer.seconds > 2 * BODY_TIMEOUT  # longer than the timeout alone
    assert stored(server, name) == 3


def test_a_stalled_body_answers_in_the_dialects_envelope(
    server: Served, served_config: Config
) -> None:
    backend = open_backend(served_config)
    try:
        directory = Directory(backend.projects, Keys(served_config.secret()))
        project, key = directory.create("serving")
    finally:
        backend.close()
    path = f"/api/v1/projects/{project.id}/sessions"
    body = json.dumps({"session": {"unit_id": "u1", "data": {"p": "v"}}}).encode()
    whole = request(
        "POST",
        path,
        body,
        {"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    answer = server.exchange(whole[: -len(body) // 2])
    assert answer.status == 408, answer.body
    assert "did not arrive in time" in answer.json()["result"]["errors"][0]
    listed = server.exchange(
        request("GET", path, headers={"Authorization": f"Token {key}"})
    )
    assert listed.status == 200 and listed.json()["result"] == []  # nothing stored
    assert server.exchange(whole).status == 200  # and sent whole, it is


def test_a_head_longer_than_the_loop_buffers_is_read_on_by_a_thread(
    server: Served,
) -> None:
    big = {f"X-Big-{i}": "b" * 7000 for i in range(6)}  # 42 KB, within the limits
    answer = server.exchange(request("GET", "/api/v1/version", headers=big))
    assert answer.status == 200, answer.body
    whole = request("GET", "/api/v1/version", headers=big)
    with server.connect() as sock:  # the same, stalled after 40 KB
        start = time.monotonic()
        sock.sendall(whole[:40_000])
        answer = read_answer(sock, start)
    assert "did not arrive in time" in kairos_error(answer, 408)
    assert HEADER_TIMEOUT - 0.1 < answer.seconds < HEADER_TIMEOUT + 2


# -- heavy requests -----------------------------------------------------------------


class SlowQuery:
    """A heavy request that holds its slot for as long as the test wants: its body
    comes at a steady 500 bytes/s (above the minimum rate) until ``finish``."""

    def __init__(self, server: Served, name: str) -> None:
        self.body = query_body(name).ljust(8000)
        self.sock = server.connect()
        whole = request("POST", "/api/v1/datapoints/query", self.body)
        self.sock.sendall(whole[: -len(self.body)])
        self.sent = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._trickle)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.done.wait(0.2) and self.sent < len(self.body) - 100:
            self.sock.sendall(self.body[self.sent : self.sent + 100])
            self.sent += 100

    def finish(self) -> Answer:
        self.done.set()
        self.thread.join()
        self.sock.sendall(self.body[self.sent :])
        with self.sock:
            return read_answer(self.sock)


def test_heavy_requests_wait_in_turn_then_get_a_503_while_ingest_goes_on(
    server: Served,
) -> None:
    name = metric()
    assert ingest(server, name).status == 204
    holder = SlowQuery(server, name)  # the worker's one heavy slot
    try:
        time.sleep(0.2)
        query = query_body(name)
        turned_away = [
            lambda: server.exchange(request("POST", "/api/v1/datapoints/query", query)),
            # percent-encoded, as Falcon routes it: the same heavy query
            lambda: server.exchange(
                request("POST", "/api/v1/datapoints/%71uery", query)
            ),
            lambda: server.exchange(request("GET", "/devices/d1/datapoints?limit=5")),
            lambda: server.exchange(request("GET", "/api/v1/projects/p1/sessions")),
            lambda: server.exchange(request("GET", "/analyze/users/u1")),
        ]
        pool = ThreadPoolExecutor(len(turned_away))
        futures = [pool.submit(call) for call in turned_away]
        # ingest and light requests do not wait behind the heavy ones
        time.sleep(0.1)
        for i in range(5):
            assert ingest(server, name, at=10 + i).seconds < PROMPT
        assert server.exchange(request("GET", "/api/v1/metricnames")).status == 200
        kairos, encoded, onenet, mda, analyze = [f.result() for f in futures]
        pool.shutdown()
        for answer in (kairos, encoded, onenet, mda, analyze):
            assert answer.status == 503, answer.body
            assert answer.headers["retry-after"] == "1"
            assert HEAVY_WAIT - 0.1 < answer.seconds < HEAVY_WAIT + 2  # waited first
        assert "Retry-After" in kairos_error(kairos, 503)
        kairos_error(encoded, 503)
        assert onenet.json()["errno"] == 7
        assert mda.json()["status"] == "service unavailable"
        assert mda.json()["result"]["errors"]
        assert analyze.json()["message"]
        # three more queue up behind it, each with the last byte of its body held
        # back: only the one let in reads its body, so answers that come as soon as
        # their last byte is sent, in arrival order, show who was let in, and when
        queued = []
        for _ in range(3):
            queued.append(server.connect())
            queued[-1].sendall(request("POST", "/api/v1/datapoints/query", query)[:-1])
            time.sleep(0.1)
    finally:
        held = holder.finish()
    assert held.status == 200 and held.json()["queries"][0]["sample_size"] == 6
    for sock in queued:
        with sock:
            sock.sendall(query[-1:])
            answer = read_answer(sock)
        assert answer.status == 200, answer.body
        assert answer.seconds < HEAVY_WAIT / 2  # it was the one let in
        assert answer.json()["queries"][0]["sample_size"] == 6


def test_many_heavy_queries_at_once_leave_ingest_its_latency(server: Served) -> None:
    big, name = metric(), metric()
    points = 30_000
    loaded = server.exchange(
        request("POST", "/api/v1/datapoints", write_body(big, count=points))
    )
    assert loaded.status == 204, loaded.body
    query = request("POST", "/api/v1/datapoints/query", query_body(big))
    pool = ThreadPoolExecutor(24)
    futures = [pool.submit(server.exchange, query, 60) for _ in range(24)]
    time.sleep(0.2)
    latencies = []
    for i in range(15):
        written = ingest(server, name, at=i + 1)
        assert written.status == 204, written.body
        latencies.append(written.seconds)
        time.sleep(0.05)
    answers = [f.result() for f in futures]
    pool.shutdown()
    assert max(latencies) < PROMPT, latencies
    answered = [a for a in answers if a.status == 200]
    assert answered, "no query ran"
    for answer in answered:
        assert answer.json()["queries"][0]["sample_size"] == points
    for answer in answers:
        if answer.status != 200:
            kairos_error(answer, 503)
            assert answer.headers["retry-after"] == "1"
    assert stored(server, name) == 15


# -- gunicorn's own errors ----------------------------------------------------------

# a path of each dialect, and how its envelope looks
PATHS = {
    "/api/v1/datapoints": "kairosdb",
    "/nowhere/at/all": "kairosdb",
    "/api/v1/projects/p1/sessions": "mda",
    "/api/v1/time": "mda",
    "/api/v1/devices": "mda",
    "/devices/d1/datapoints": "onenet",
    "/devices": "onenet",
    "/data_points": "liquid",
    "/collect/data_points": "liquid",
    "/aliases": "liquid",
    "/analyze/users/u1": "analyze",
}


def check_envelope(dialect: str, answer: Answer, status: int) -> None:
    assert b"<html" not in answer.body.lower() and b"Traceback" not in answer.body
    assert answer.headers["connection"] == "close"
    if dialect == "liquid" and status == 400:
        # Liquid answers a 400 with no body unless the project is in development
        # mode; here no project is known yet
        assert answer.status == 400 and answer.body == b""
        return
    assert answer.headers["content-type"].startswith("application/json")
    doc = answer.json()
    if dialect == "onenet":  # HTTP 200 with the errno, as OneNET answers
        assert answer.status == (200 if status < 500 else status)
        assert isinstance(doc["errno"], int) and doc["errno"] > 0 and doc["error"]
        return
    assert answer.status == status
    if dialect == "kairosdb":
        assert [type(m) for m in doc["errors"]] == [str]
    elif dialect == "mda":
        assert isinstance(doc["status"], str)
        assert [type(m) for m in doc["result"]["errors"]] == [str]
    elif dialect == "liquid":
        assert isinstance(doc["error"], str) and doc["error"]
    else:
        assert isinstance(doc["message"], str) and doc["message"]


BAD_REQUESTS: dict[str, tuple[int, Callable[[str], bytes]]] = {
    "request line too long": (
        414,
        lambda path: request("GET", path + "?q=" + "a" * 9000),
    ),
    "header too large": (
        431,
        lambda path: request("GET", path, headers={"X-Big": "b" * 9000}),
    ),
    "too many headers": (
        431,
        lambda path: request("GET", path, headers={f"X-{i}": "1" for i in range(120)}),
    ),
    "invalid header name": (
        400,
        lambda path: request("GET", path, headers={"Bad Name": "x"}),
    ),
    "bare LF": (400, lambda path: f"GET {path} HTTP/1.1\nHost: x\n\n".encode()),
    "HTTP/2.0 request line": (
        400,
        lambda path: f"GET {path} HTTP/2.0\r\nHost: x\r\n\r\n".encode(),
    ),
    "bad Content-Length": (
        400,
        lambda path: request("GET", path, headers={"Content-Length": "12x"}),
    ),
    "unknown transfer coding": (
        501,
        lambda path: request("GET", path, headers={"Transfer-Encoding": "magic"}),
    ),
}


@pytest.mark.parametrize("kind", list(BAD_REQUESTS))
def test_gunicorn_errors_answer_in_the_paths_dialect(server: Served, kind: str) -> None:
    status, build = BAD_REQUESTS[kind]
    for path, dialect in PATHS.items():
        answer = server.exchange(build(path))
        check_envelope(dialect, answer, status)


def test_a_malformed_request_line_answers_in_kairosdbs_envelope(
    server: Served,
) -> None:
    for line in (b"GET  HTTP/1.1", b"GARBAGE", b"get /x HTTP/1.1"):
        answer = server.exchange(line + b"\r\nHost: x\r\n\r\n")
        assert "Invalid request line" in kairos_error(answer, 400)


def test_a_malformed_chunked_body_is_a_400_not_a_500(server: Served) -> None:
    name = metric()
    body = write_body(name)
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\nzz\r\n\r\n"
    answer = server.exchange(
        request(
            "POST", "/api/v1/datapoints", headers={"Transfer-Encoding": "chunked"}
        ).replace(b"Content-Length: 0\r\n", b"")
        + chunked
    )
    assert "malformed" in kairos_error(answer, 400)
    assert stored(server, name) == 0
    # and a well-formed one is stored
    answer = server.exchange(
        request(
            "POST", "/api/v1/datapoints", headers={"Transfer-Encoding": "chunked"}
        ).replace(b"Content-Length: 0\r\n", b"")
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    assert answer.status == 204, answer.body
    assert stored(server, name) == 1


def test_kept_alive_pipelined_http10_and_100_continue_requests_are_served(
    server: Served,
) -> None:
    name = metric()
    with server.connect() as sock:  # three requests in one write, answered in order
        sock.sendall(
            request("GET", "/api/v1/version")
            + request("POST", "/api/v1/datapoints", write_body(name, count=2))
            + request("POST", "/api/v1/datapoints/query", query_body(name))
        )
        assert read_answer(sock).status == 200
        assert read_answer(sock).status == 204
        assert read_answer(sock).json()["queries"][0]["sample_size"] == 2
    with server.connect() as sock:
        sock.sendall(b"GET /api/v1/version HTTP/1.0\r\n\r\n")
        answer = read_answer(sock)
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert sock.recv(10) == b""
    body = write_body(name, count=3, first=100)
    with server.connect() as sock:
        sock.sendall(
            b"POST /api/v1/datapoints HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        assert read_answer(sock).status == 204
    assert stored(server, name) == 5

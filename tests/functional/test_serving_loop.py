"""What the loop worker adds to the serving rules of test_serving.py: an expectation
it cannot meet is refused, and heads past the loop's buffer are read by a bounded
number of connections at once while the others wait their turn (within their own
deadline), so many slow, large heads cannot fill a worker's memory."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from service.config import Config
from tests.functional.test_serving import HEADER_TIMEOUT, SETTINGS, kairos_error
from tests.served import Served, read_answer, request, served

THREADS = 2  # so two connections may read heads past the buffer at once


@pytest.fixture(scope="module")
def server(served_config: Config) -> Iterator[Served]:
    assert served_config.secret_key
    settings = {**SETTINGS, "DATAPOINTS_THREADS": str(THREADS)}
    with served(served_config.store_url, served_config.secret_key, **settings) as s:
        yield s


def test_an_expectation_other_than_100_continue_is_a_417(server: Served) -> None:
    answer = server.exchange(request("GET", "/api/v1/version", headers={"Expect": "x"}))
    assert "100-continue" in kairos_error(answer, 417)
    assert answer.headers["connection"] == "close"


def test_large_heads_take_turns_and_each_is_answered(server: Served) -> None:
    big = {f"X-Big-{i}": "b" * 7000 for i in range(6)}  # 42 KB, within the limits
    whole = request("GET", "/api/v1/version", headers=big)
    socks = [server.connect() for _ in range(THREADS + 2)]
    try:
        for sock in socks:  # each past the buffer, none complete
            sock.sendall(whole[:40_000])
        time.sleep(0.3)
        # meanwhile small requests are answered at once
        assert server.exchange(request("GET", "/api/v1/version")).status == 200
        for sock in socks:
            sock.sendall(whole[40_000:])
        for sock in socks:
            answer = read_answer(sock)
            assert answer.status == 200, answer.body
            assert answer.seconds < HEADER_TIMEOUT
    finally:
        for sock in socks:
            sock.close()


def test_a_large_head_waiting_its_turn_still_has_its_deadline(server: Served) -> None:
    big = {f"X-Big-{i}": "b" * 7000 for i in range(6)}
    whole = request("GET", "/api/v1/version", headers=big)
    socks = [server.connect() for _ in range(THREADS + 1)]
    try:
        start = time.monotonic()
        for sock in socks:  # stalled past the buffer: two read on, one waits
            sock.sendall(whole[:40_000])
        for sock in socks:
            sock.settimeout(HEADER_TIMEOUT + 3)
            answer = read_answer(sock, start)
            assert "did not arrive in time" in kairos_error(answer, 408)
            assert HEADER_TIMEOUT - 0.1 < answer.seconds < HEADER_TIMEOUT + 2
    finally:
        for sock in socks:
            sock.close()

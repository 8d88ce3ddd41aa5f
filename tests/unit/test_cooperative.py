"""Running synchronous code in greenlets on an event loop (service.cooperative): what
it waits for is awaited on the loop, which runs other work meanwhile; values and
errors travel both ways as they would in plain blocking code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from service import cooperative


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    cooperative.install(loop)
    try:
        yield loop
    finally:
        cooperative.install(None)
        loop.close()


def test_waits_return_what_was_awaited_while_the_loop_runs_others(
    loop: asyncio.AbstractEventLoop,
) -> None:
    order: list[str] = []

    def request(name: str, delay: float) -> str:
        assert cooperative.active()
        order.append(f"{name} starts")
        got = cooperative.wait(asyncio.sleep(delay, result=name.upper()))
        order.append(f"{name} resumes")
        return got + "!"

    async def both() -> list[str]:
        return list(
            await asyncio.gather(
                cooperative.run(request, "a", 0.05), cooperative.run(request, "b", 0.0)
            )
        )

    assert loop.run_until_complete(both()) == ["A!", "B!"]
    # b ran and finished while a waited: neither blocked the loop
    assert order == ["a starts", "b starts", "b resumes", "a resumes"]


def test_an_error_awaited_is_raised_where_it_was_awaited(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def failing() -> None:
        raise KeyError("k")

    def request() -> str:
        try:
            cooperative.wait(failing())
        except KeyError:
            return "caught in the request"
        return "not raised"

    assert loop.run_until_complete(cooperative.run(request)) == "caught in the request"


def test_an_error_of_the_request_reaches_the_caller(
    loop: asyncio.AbstractEventLoop,
) -> None:
    def request() -> None:
        cooperative.wait(asyncio.sleep(0))
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        loop.run_until_complete(cooperative.run(request))


def test_futures_completed_from_another_thread_wake_the_request(
    loop: asyncio.AbstractEventLoop,
) -> None:
    def request() -> str:
        fut = cooperative.future()
        threading.Timer(0.02, cooperative.complete, (fut,)).start()
        cooperative.wait(fut)
        failed = cooperative.future()
        threading.Timer(0.02, cooperative.complete, (failed, OSError("down"))).start()
        with pytest.raises(OSError, match="down"):
            cooperative.wait(failed)
        return "woken twice"

    assert loop.run_until_complete(cooperative.run(request)) == "woken twice"


def test_outside_a_request_greenlet_nothing_is_cooperative() -> None:
    assert not cooperative.active()
    never_awaited: asyncio.Future[None] = asyncio.Future(loop=asyncio.new_event_loop())
    with pytest.raises(AssertionError):
        cooperative.wait(never_awaited)
    never_awaited.get_loop().close()

"""The write coalescer under the loop worker, on real Cassandra: requests run in
greenlets on one event loop (service.cooperative), the loop's thread flushes, and
the rows of requests that arrive together leave together; a bad row still fails its
own request only, and a pool thread's write (a large request) goes the same way. The
driver's connections live on that loop too (``loop_reactor``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service import cooperative, errors
from service.config import Config
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.coalesce import Coalescer
from service.storage.cassandra.loop_reactor import LoopIO
from service.storage.cassandra.session import Role
from tests.integration.test_coalescer import (
    PROBE_TABLE,
    TOO_LONG,
    probe_rows,
    probe_write,
)


class Counting(Coalescer):
    """The service's coalescer, counting the batches it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches = 0

    def _execute(self, members: Any) -> None:
        self.batches += 1
        super()._execute(members)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The serving worker's loop, running on a thread of its own as it runs in the
    worker: the backend's connections live on it too."""
    import uvloop

    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(_install(loop), loop).result(10)
    try:
        yield loop
    finally:
        asyncio.run_coroutine_threadsafe(_install(None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _install(loop: asyncio.AbstractEventLoop | None) -> None:
    cooperative.install(loop)  # (on the loop's thread, as the worker does)


@pytest.fixture(scope="module")
def backend(
    cassandra_config: Config, loop: asyncio.AbstractEventLoop
) -> Iterator[CassandraBackend]:
    backend = CassandraBackend(cassandra_config)
    backend.context.coalescer = Counting(backend.session)
    # (connects with the loop's connection class: the loop is installed)
    backend.session.execute_schema(PROBE_TABLE)
    yield backend
    backend.close()


def together(
    loop: asyncio.AbstractEventLoop, requests: list[Callable[[], None]]
) -> list[BaseException | None]:
    """Run each request in its greenlet, all arriving in the same turn of the loop;
    the outcome of each, in order."""

    async def outcome(request: Callable[[], None]) -> BaseException | None:
        try:
            await cooperative.run(request)
        except Exception as exc:
            return exc
        return None

    async def everything() -> list[BaseException | None]:
        return list(await asyncio.gather(*(outcome(r) for r in requests)))

    return asyncio.run_coroutine_threadsafe(everything(), loop).result(60)


def test_requests_arriving_together_share_batches(
    backend: CassandraBackend, loop: asyncio.AbstractEventLoop, unique: str
) -> None:
    coalescer = backend.context.coalescer
    assert isinstance(coalescer, Counting)
    keys = [f"{unique}-{i}" for i in range(30)]
    # (the statement prepared first: a first use waits for its prepare on a pool
    # thread, and the requests would come back from it one by one)
    assert together(loop, [probe_write(backend, f"{unique}-warm", [("c", 0)])]) == [
        None
    ]
    before = coalescer.batches
    outcomes = together(
        loop,
        [probe_write(backend, k, [("c", i)]) for i, k in enumerate(keys)],
    )
    assert outcomes == [None] * len(keys)
    # 30 one-row requests in batches of at most 10 partitions: 3 batches, not 30
    assert coalescer.batches - before == 3
    for i, key in enumerate(keys):
        assert probe_rows(backend, key) == [("c", i)]


def test_a_bad_row_fails_its_own_request_only(
    backend: CassandraBackend, loop: asyncio.AbstractEventLoop, unique: str
) -> None:
    keys = [f"{unique}-{i}" for i in range(8)]
    bad = {3, 6}
    outcomes = together(
        loop,
        [
            probe_write(backend, k, [(TOO_LONG if i in bad else "c", i)])
            for i, k in enumerate(keys)
        ],
    )
    for i, key in enumerate(keys):
        if i in bad:
            assert isinstance(outcomes[i], errors.InvalidInput), outcomes[i]
            assert probe_rows(backend, key) == []
        else:
            assert outcomes[i] is None, outcomes[i]
            assert probe_rows(backend, key) == [("c", i)]


def test_a_pool_threads_write_is_flushed_by_the_loop(
    backend: CassandraBackend, unique: str
) -> None:
    outcome: list[BaseException | None] = []

    def in_thread() -> None:
        try:
            probe_write(backend, unique, [("a", 1), ("b", 2)])()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=in_thread)  # (not the loop's)
    thread.start()
    thread.join(60)
    assert outcome == [None]
    assert probe_rows(backend, unique) == [("a", 1), ("b", 2)]


def test_the_driver_reads_and_writes_on_the_loop(
    backend: CassandraBackend, loop: asyncio.AbstractEventLoop
) -> None:
    cluster = backend.session._cluster
    assert cluster is not None
    assert issubclass(cluster.connection_class, LoopIO)
    # an answer's callbacks run on the loop's thread (no I/O thread of the driver's)
    loop_thread = asyncio.run_coroutine_threadsafe(_ident(), loop).result(10)
    answered_on: list[int] = []
    done = threading.Event()
    future = backend.session._driver().execute_async("SELECT now() FROM system.local")
    future.add_callback(
        lambda _: (answered_on.append(threading.get_ident()), done.set())
    )
    assert done.wait(10)
    assert answered_on == [loop_thread]


async def _ident() -> int:
    return threading.get_ident()


def test_reads_in_a_greenlet_leave_the_loop_free(
    backend: CassandraBackend, loop: asyncio.AbstractEventLoop, unique: str
) -> None:
    assert together(loop, [probe_write(backend, unique, [("a", 1)])]) == [None]
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def read() -> list[tuple[str, int]]:
        ticker = asyncio.ensure_future(ticking())
        try:
            return await cooperative.run(probe_rows, backend, unique)
        finally:
            ticker.cancel()

    assert asyncio.run_coroutine_threadsafe(read(), loop).result(60) == [("a", 1)]
    assert ticks > 1  # the loop ran other work while Cassandra answered


def test_a_blocking_call_on_the_loops_thread_is_refused_not_hung(
    backend: CassandraBackend, loop: asyncio.AbstractEventLoop
) -> None:
    """Outside a request's greenlet the loop's thread cannot wait for Cassandra (the
    loop itself reads the answer): such a call fails at once instead of hanging the
    worker."""

    async def plain() -> Any:
        return backend.session.execute("SELECT now() FROM system.local", role=Role.READ)

    with pytest.raises(RuntimeError, match="serving loop"):
        asyncio.run_coroutine_threadsafe(plain(), loop).result(10)

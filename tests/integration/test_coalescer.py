"""The write coalescer on real Cassandra: small writes of many requests share its
batches, and one request's bad row fails that request only.

Each test holds the coalescer's in-flight slots while its requests queue, so the rows of
all of them are sent together, in the same batches, when the slots are given back: the
case the issue saw (one client's bad names failing 338 other projects' writes) is then
certain, not a matter of timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from service import errors
from service.config import Config
from service.records import PointBatch, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.coalesce import MAX_IN_FLIGHT, Coalescer
from service.storage.cassandra.session import Role

WAIT = 30.0
ALL = (-(2**63), 2**63 - 1)
TOO_LONG = "x" * 70_000  # Cassandra refuses key components over 65,535 bytes
PROBE_TABLE = (
    "CREATE TABLE IF NOT EXISTS {ks}.coalesce_probe "
    "(k text, c text, v bigint, PRIMARY KEY (k, c))"
)


class Recording(Coalescer):
    """The service's coalescer, counting the rows its flusher has taken."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken = 0

    def _send(self, taken: list[Any]) -> None:
        self.taken += len(taken)
        super()._send(taken)


@pytest.fixture(scope="module")
def backend(cassandra_config: Config) -> Iterator[CassandraBackend]:
    """A backend of this module's own, with a coalescer it can watch and hold."""
    backend = CassandraBackend(cassandra_config)
    # (every store takes the coalescer from the context it shares)
    backend.context.coalescer = Recording(backend.session)
    backend.session.execute_schema(PROBE_TABLE)
    yield backend
    backend.close()


@contextmanager
def held(coalescer: Coalescer) -> Iterator[None]:
    """Nothing is sent until the block ends (every batch needs a slot)."""
    for _ in range(MAX_IN_FLIGHT):
        assert coalescer._slots.acquire(timeout=WAIT)
    try:
        yield
    finally:
        for _ in range(MAX_IN_FLIGHT):
            coalescer._slots.release()


def run_together(
    coalescer: Coalescer,
    writes: list[Callable[[], None]],
    others: Callable[[int], int],
) -> list[BaseException | None]:
    """Run every write in its own thread (as gunicorn's threads would); the outcome
    of each, in order.

    The first write goes alone: the flusher takes its rows and waits for a slot, so
    the others gather in the queue behind it and leave together when the slots are
    given back. ``others(n)`` is how many rows they queue when the first had ``n``."""
    assert isinstance(coalescer, Recording)
    outcomes: list[BaseException | None] = [None] * len(writes)

    def run(i: int) -> None:
        try:
            writes[i]()
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writes))]
    with held(coalescer):
        before = coalescer.taken
        threads[0].start()
        deadline = time.monotonic() + WAIT
        while coalescer.taken == before:
            assert threads[0].is_alive(), f"the first write failed: {outcomes[0]}"
            assert time.monotonic() < deadline, "the flusher never took the first write"
            time.sleep(0.01)
        first = coalescer.taken - before
        for t in threads[1:]:
            t.start()
        rows = others(first)
        deadline = time.monotonic() + WAIT
        while len(coalescer._pending) < rows:
            assert coalescer.taken == before + first, "rows left before the others"
            assert time.monotonic() < deadline, (
                f"only {len(coalescer._pending)} of {rows} rows queued"
            )
            time.sleep(0.01)
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), "a write hung"
    return outcomes


def probe_rows(backend: CassandraBackend, key: str) -> list[tuple[str, int]]:
    rows = backend.session.execute(
        "SELECT c, v FROM {ks}.coalesce_probe WHERE k = ?", (key,), role=Role.READ
    )
    return sorted((row.c, row.v) for row in rows)


def probe_write(
    backend: CassandraBackend, key: str, cells: list[tuple[str, Any]]
) -> Callable[[], None]:
    insert = "INSERT INTO {ks}.coalesce_probe (k, c, v) VALUES (?, ?, ?)"
    # 64 bytes claimed, as the stores estimate their index rows: a long name is not
    # seen as long, so it shares a batch like any other row
    return lambda: backend.context.coalescer.write(
        [(insert, (key, c, v), 64) for c, v in cells]
    )


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param([("c", "not a number")], id="wrong-type"),
        pytest.param([("\ud800", 1)], id="lone-surrogate"),
        pytest.param([("ok", 1), (TOO_LONG, 2)], id="clustering-key-over-64k"),
    ],
)
def test_a_bad_row_fails_its_own_request_only(
    backend: CassandraBackend, unique: str, bad: list[tuple[str, Any]]
) -> None:
    good = {
        f"{unique}-{i}": [(f"c{j}", i * 10 + j) for j in range(3)] for i in range(8)
    }
    writes = [probe_write(backend, key, cells) for key, cells in good.items()]
    writes.insert(4, probe_write(backend, f"{unique}-bad", bad))
    # the other good requests', and the bad one's if its rows could be bound at all
    queued = 7 * 3 + (2 if len(bad) == 2 else 0)
    outcomes = run_together(backend.context.coalescer, writes, lambda first: queued)
    failed = outcomes.pop(4)
    assert outcomes == [None] * len(good)
    assert isinstance(failed, errors.InvalidInput), failed
    assert failed.status == 400 and "refused" in failed.messages[0]
    for key, cells in good.items():
        assert probe_rows(backend, key) == sorted(cells)
    # a batch of one partition is all or nothing: nothing of the bad request stayed
    assert probe_rows(backend, f"{unique}-bad") == []


def test_a_refused_batch_is_split_per_request(
    backend: CassandraBackend, unique: str
) -> None:
    """Several bad requests among good ones in one batch: each bad one fails, each
    good one is stored."""
    keys = [f"{unique}-{i}" for i in range(9)]
    bad = {2, 5}
    writes = [
        probe_write(backend, key, [(TOO_LONG if i in bad else "c", i)])
        for i, key in enumerate(keys)
    ]
    outcomes = run_together(
        backend.context.coalescer, writes, lambda first: len(keys) - 1
    )
    for i, key in enumerate(keys):
        if i in bad:
            assert isinstance(outcomes[i], errors.InvalidInput)
            assert probe_rows(backend, key) == []
        else:
            assert outcomes[i] is None
            assert probe_rows(backend, key) == [("c", i)]


def test_small_point_writes_of_other_projects_survive_a_70k_tag_name(
    backend: CassandraBackend, unique: str
) -> None:
    """Through the point store, as the dialects write: a tag name over 64 KiB (which
    the parsers refuse first; this is the store's own guard) fails its request with a
    400, and small writes of other projects in the same batches are stored."""
    points = backend.points

    def write(project: str, tags: dict[str, str]) -> Callable[[], None]:
        series = SeriesKey("m", canonical_tags(tags))
        batch = PointBatch(series, [(1_000, "long", 7)])
        return lambda: points.write_points(project, [batch], default_ttl=0)

    projects = [f"{unique}{i}" for i in range(6)]
    writes = [write(p, {"host": "a"}) for p in projects]
    writes.insert(3, write(f"{unique}bad", {TOO_LONG: "v"}))
    # the other five good writes, each as many rows as the first; the bad one none
    outcomes = run_together(backend.context.coalescer, writes, lambda first: 5 * first)
    failed = outcomes.pop(3)
    assert outcomes == [None] * len(projects)
    assert isinstance(failed, errors.InvalidInput)
    for p in projects:
        key = SeriesKey("m", canonical_tags({"host": "a"}))
        assert list(points.read_points(p, key, *ALL)) == [(1_000, "long", 7)]
        assert points.tag_names(p, "m") == ["host"]

"""Compaction on real Cassandra: a window of small blocks merged into one keeps every
point, last-write-wins, deletes and TTLs, also while writes and another compactor
run at the same time."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from service import cli
from service.config import Config
from service.records import PointBatch, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend, compaction
from service.storage.cassandra.compaction import Outcome
from service.storage.cassandra.session import Role
from service.storage.windows import WINDOW_MS, window_of

PROJECT = "compaction"
BASE = 1_700_000_000_000 - 1_700_000_000_000 % WINDOW_MS  # a window's start
ALL = (-(2**63), 2**63 - 1)


def key_of(unique: str) -> SeriesKey:
    return SeriesKey(unique, canonical_tags({"host": "a"}))


def write(
    backend: CassandraBackend, key: SeriesKey, pts: list[Any], ttl: int = 0
) -> None:
    backend.points.write_points(PROJECT, [PointBatch(key, pts, ttl=ttl)], default_ttl=0)


def read(backend: CassandraBackend, key: SeriesKey) -> list[Any]:
    return list(backend.points.read_points(PROJECT, key, *ALL))


def block_rows(backend: CassandraBackend, key: SeriesKey) -> int:
    rows = backend.session.execute(
        "SELECT data FROM {ks}.point_blocks WHERE project = ? AND metric = ? "
        "AND tag_hash = ? ALLOW FILTERING",
        (PROJECT, key.metric, key.hash),
        role=Role.READ,
    )
    return sum(1 for row in rows if row[0] is not None)


def compact(
    backend: CassandraBackend, key: SeriesKey, ts: int, *, contended: bool = False
) -> Outcome:
    rt = backend.points.row_width.ms
    window = (PROJECT, key.metric, key.hash, ts - ts % rt, window_of(ts))
    outcome = Outcome()
    done = backend.compactor.compact_window(window, outcome)
    assert done or contended  # (only another compactor holds a window's lease)
    return outcome


def test_merging_keeps_every_point_overwrite_and_delete(
    cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, key = cassandra_backend, key_of(unique)
    oracle: dict[int, tuple[str, Any]] = {}
    for i in range(60):  # one point every 10 s, as a device reports
        write(backend, key, [(BASE + i * 10_000, "long", i)])
        oracle[BASE + i * 10_000] = ("long", i)
    write(backend, key, [(BASE + 50_000, "double", 0.5)])  # an overwrite
    oracle[BASE + 50_000] = ("double", 0.5)
    backend.points.delete_points(PROJECT, [key], BASE + 100_000, BASE + 150_000)
    for t in range(BASE + 100_000, BASE + 150_001, 10_000):
        oracle.pop(t)
    expected = [(t, *oracle[t]) for t in sorted(oracle)]
    assert read(backend, key) == expected
    assert block_rows(backend, key) == 61
    done = compact(backend, key, BASE)
    assert (done.windows, done.blocks_in, done.blocks_out) == (1, 61, 1)
    assert block_rows(backend, key) == 1
    assert read(backend, key) == expected
    # later writes still win over the merged block; a delete still removes it
    write(backend, key, [(BASE, "long", -1)])
    backend.points.delete_points(PROJECT, [key], BASE + 10_000, BASE + 20_000)
    assert read(backend, key) == [(BASE, "long", -1), *expected[3:]]


def test_each_point_keeps_its_own_ttl(
    cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, key = cassandra_backend, key_of(unique)
    write(backend, key, [(BASE + 1, "long", 1)], ttl=3)
    write(backend, key, [(BASE + 2, "long", 2)], ttl=0)
    write(backend, key, [(BASE + 3, "long", 3)], ttl=3600)
    compact(backend, key, BASE)
    assert block_rows(backend, key) == 1
    assert read(backend, key) == [
        (BASE + 1, "long", 1),
        (BASE + 2, "long", 2),
        (BASE + 3, "long", 3),
    ]
    time.sleep(4.5)
    assert read(backend, key) == [(BASE + 2, "long", 2), (BASE + 3, "long", 3)]


def test_a_merged_block_of_expiring_points_expires_itself(
    cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, key = cassandra_backend, key_of(unique)
    write(backend, key, [(BASE + 1, "long", 1)], ttl=2)
    write(backend, key, [(BASE + 2, "long", 2)], ttl=3)
    compact(backend, key, BASE)
    ttl = backend.session.execute(
        "SELECT TTL(data) FROM {ks}.point_blocks WHERE project = ? AND metric = ? "
        "ALLOW FILTERING",
        (PROJECT, key.metric),
        role=Role.READ,
    ).one()[0]
    assert 0 < ttl <= 5  # Cassandra drops it once its last point has expired


def test_writes_and_a_second_compactor_during_compaction_lose_nothing(
    cassandra_config: Config, cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, key = cassandra_backend, key_of(unique)
    other_host = CassandraBackend(cassandra_config)
    expected: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            ts = BASE + (i * 4 + n) * 100
            write(backend, key, [(ts, "long", i)])
            with lock:
                expected[ts] = i
            i += 1

    def compactor(host: CassandraBackend) -> None:
        while not stop.is_set():
            compact(host, key, BASE, contended=True)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [
        threading.Thread(target=compactor, args=(h,)) for h in (backend, other_host)
    ]
    try:
        for t in threads:
            t.start()
        time.sleep(8)
    finally:
        stop.set()
        for t in threads:
            t.join()
        other_host.close()
    assert len(expected) > 50
    want = [(t, "long", expected[t]) for t in sorted(expected)]
    assert read(backend, key) == want
    compact(backend, key, BASE)
    assert read(backend, key) == want
    assert block_rows(backend, key) == 1


@pytest.fixture
def own_keyspace(cassandra_config: Config) -> Iterator[Config]:
    url = cassandra_config.store_url.rsplit("/", 1)[0]
    name = "dp_compact_" + uuid.uuid4().hex[:8]
    env = {
        "DATAPOINTS_STORE": f"{url}/{name}?consistency=ONE",
        "DATAPOINTS_DURABLE_WRITES": "false",
    }
    config = Config.from_env(env)
    backend = CassandraBackend(config)
    backend.apply_schema()
    try:
        yield config
    finally:
        backend.session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
        backend.close()


def run_cli(config: Config, monkeypatch: pytest.MonkeyPatch, *argv: str) -> Any:
    monkeypatch.setenv("DATAPOINTS_STORE", config.store_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(argv)) == 0
    return json.loads(out.getvalue())


def test_the_cli_shows_the_queue_and_works_it_off(
    own_keyspace: Config, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    backend, key = CassandraBackend(own_keyspace), key_of(unique)
    # one entry per round and shard: the run must go on until the queue is empty
    monkeypatch.setattr(compaction, "BATCH", 1)
    pts = [(BASE + w * WINDOW_MS + i, "long", i) for w in range(3) for i in range(5)]
    try:
        for p in pts:
            write(backend, key, [p])
        status = run_cli(own_keyspace, monkeypatch, "compact", "status")
        assert status["queued_windows"] == 3
        assert status["due_now"] == 0  # due after DATAPOINTS_COMPACTION_DELAY_SECONDS
        done = run_cli(own_keyspace, monkeypatch, "compact", "run")
        assert done["windows"] == 0
        done = run_cli(own_keyspace, monkeypatch, "compact", "run", "--all-now")
        assert (done["windows"], done["blocks_in"], done["blocks_out"]) == (3, 15, 3)
        assert (
            run_cli(own_keyspace, monkeypatch, "compact", "status")["queued_windows"]
            == 0
        )
        assert block_rows(backend, key) == 3
        assert read(backend, key) == pts
    finally:
        backend.close()


def test_a_shard_another_compactor_holds_is_left_queued_for_later(
    own_keyspace: Config, unique: str
) -> None:
    # One lease a shard: while another compactor holds it, a run leaves every due
    # window of that shard queued (and says so), and works them off once it is free.
    backend, key = CassandraBackend(own_keyspace), key_of(unique)
    pts = [(BASE + w * WINDOW_MS + i, "long", i) for w in range(2) for i in range(3)]
    lease = compaction.shard_lease_key(compaction.shard_of(key.hash))
    try:
        for p in pts:
            write(backend, key, [p])
        backend.session.execute(
            "INSERT INTO {ks}.compaction_leases (project, metric, tag_hash, row_time,"
            " window_start, owner) VALUES (?, ?, ?, ?, ?, 'other') IF NOT EXISTS",
            lease,
            role=Role.META,
        )
        done = backend.compactor.run(all_now=True)
        assert (done.windows, done.busy) == (0, 2)
        assert backend.compactor.status()["queued_windows"] == 2
        assert block_rows(backend, key) == 6
        backend.session.execute(
            "DELETE FROM {ks}.compaction_leases WHERE "
            + compaction._LEASE_KEY
            + " IF EXISTS",
            lease,
            role=Role.META,
        )
        done = backend.compactor.run(all_now=True)
        assert (done.windows, done.busy, done.blocks_in) == (2, 0, 6)
        assert backend.compactor.status() | {"settings": None} == {
            "queued_windows": 0,
            "due_now": 0,
            "oldest_due_ms": None,
            "leases_held": 0,
            "settings": None,
        }
        assert read(backend, key) == pts
    finally:
        backend.close()


def test_a_merge_larger_than_a_block_is_cut_and_merges_again(
    cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, key = cassandra_backend, key_of(unique)
    pts = [(BASE + i * 10, "long", i) for i in range(9_000)]
    for lo in range(0, len(pts), 900):  # ten writes of small blocks
        write(backend, key, pts[lo : lo + 900])
    done = compact(backend, key, BASE)
    assert (done.blocks_in, done.blocks_out) == (10, 2)
    assert read(backend, key) == pts
    write(backend, key, [(BASE + 5, "double", 0.5)])
    done = compact(backend, key, BASE)
    assert (done.blocks_in, done.blocks_out) == (3, 2)
    assert read(backend, key) == [*pts[:1], (BASE + 5, "double", 0.5), *pts[1:]]
    assert block_rows(backend, key) == 2


def test_a_block_written_during_a_merge_under_an_input_s_write_id_stays(
    cassandra_backend: CassandraBackend, unique: str, monkeypatch: Any
) -> None:
    # A large write sends its blocks (seq 0, 1, ...) at once: a merge may read its
    # seq 0 while its seq 1 is still in flight. The inputs' deletes name each key
    # read (by write id and seq), so the block that lands meanwhile is not deleted.
    from service.columnar import Points
    from service.storage import blocks
    from service.storage.cassandra.block_table import _INSERT

    backend, key = cassandra_backend, key_of(unique)
    for i in range(3):
        write(backend, key, [(BASE + i * 10, "long", i)])
    session = backend.session
    rt = BASE - BASE % backend.points.row_width.ms
    first = min(
        row[0]
        for row in session.execute(
            "SELECT write_id FROM {ks}.point_blocks WHERE project = ? AND metric = ?"
            " AND tag_hash = ? AND row_time = ?",
            (PROJECT, key.metric, key.hash, rt),
            role=Role.READ,
        )
    )
    late = blocks.encode(Points.of("long", [BASE + 5], [55]))
    execute = session.execute

    def execute_then_land(cql: str, params: Any = (), **kw: Any) -> Any:
        result = execute(cql, params, **kw)
        if cql == compaction._WINDOW:
            result = list(result)  # read, then the block of that write lands
            execute(
                _INSERT,
                (PROJECT, key.metric, key.hash, rt, BASE, first, 1, late, 0),
                role=Role.WRITE,
            )
        return result

    monkeypatch.setattr(session, "execute", execute_then_land)
    done = compact(backend, key, BASE)
    monkeypatch.undo()
    assert (done.blocks_in, done.blocks_out) == (3, 1)
    assert read(backend, key) == [
        (BASE, "long", 0),
        (BASE + 5, "long", 55),
        (BASE + 10, "long", 1),
        (BASE + 20, "long", 2),
    ]
    assert block_rows(backend, key) == 2  # the merged block and the late one


def test_a_merge_that_outlives_half_its_lease_renews_it_or_stops(
    cassandra_backend: CassandraBackend, unique: str, monkeypatch: Any
) -> None:
    # A merge renews its shard's lease before writing only when half the lease may
    # have passed (most take a fraction of a second); one that finds another
    # compactor holding it then writes and deletes nothing.
    import types

    backend, key = cassandra_backend, key_of(unique)
    pts = [(BASE + i * 10, "long", i) for i in range(3)]
    for p in pts:
        write(backend, key, [p])
    session = backend.session
    lease = compaction.shard_lease_key(compaction.shard_of(key.hash))
    clock = iter(range(0, 10**9, 10**6))  # a million seconds a look
    monkeypatch.setattr(
        compaction,
        "time",
        types.SimpleNamespace(time=time.time, monotonic=lambda: next(clock)),
    )
    execute = session.execute

    def execute_then_steal(cql: str, params: Any = (), **kw: Any) -> Any:
        result = execute(cql, params, **kw)
        if cql == compaction._WINDOW:
            result = list(result)
            execute(
                "UPDATE {ks}.compaction_leases SET owner = 'thief' WHERE "
                + compaction._LEASE_KEY
                + " IF EXISTS",
                lease,
                role=Role.META,
            )
        return result

    monkeypatch.setattr(session, "execute", execute_then_steal)
    done = compact(backend, key, BASE, contended=True)
    monkeypatch.setattr(session, "execute", execute)
    assert (done.busy, done.windows) == (1, 0)
    assert block_rows(backend, key) == 3
    assert read(backend, key) == pts
    # the thief's lease: every window of the shard is another compactor's
    assert compact(backend, key, BASE, contended=True).busy == 1
    execute(
        # (leases are only ever written by lightweight transactions: a plain
        # write's timestamp could shadow the next lease taken)
        "DELETE FROM {ks}.compaction_leases WHERE "
        + compaction._LEASE_KEY
        + " IF EXISTS",
        lease,
        role=Role.META,
    )
    done = compact(backend, key, BASE)  # renewed (the clock still runs fast)
    assert (done.busy, done.windows, done.blocks_in) == (0, 1, 3)
    assert read(backend, key) == pts
    assert block_rows(backend, key) == 1

"""A write's blocks on real Cassandra: small ones of one replica go in unlogged
batches of a few KiB (a statement costs the driver ~0.1-0.3 ms of CPU), large ones
alone, and every point comes back."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.columnar import Points
from service.records import PointBatch, SeriesKey, canonical_tags
from service.storage.cassandra import CassandraBackend
from service.storage.cassandra.coalesce import GROUPED_BYTES, MAX_PARTITIONS
from service.storage.cassandra.session import Role
from service.storage.windows import WINDOW_MS

PROJECT = "blockwrites"
BASE = 1_700_000_000_000 - 1_700_000_000_000 % WINDOW_MS


def _write(backend: CassandraBackend, batches: list[PointBatch]) -> int:
    """The write statements a write sent (the process's background compaction, which
    shares the session's counters, paused meanwhile)."""
    assert backend.background is not None
    with backend.background.paused():
        before = backend.session.counts[Role.WRITE.value]
        backend.points.write_points(PROJECT, batches, default_ttl=0)
        return int(backend.session.counts[Role.WRITE.value] - before)


def _series(unique: str, n: int) -> list[SeriesKey]:
    return [SeriesKey(unique, canonical_tags({"host": f"h{i}"})) for i in range(n)]


def _read(backend: CassandraBackend, key: SeriesKey) -> list[Any]:
    return list(backend.points.read_points(PROJECT, key, -(2**63), 2**63 - 1))


def test_small_blocks_of_many_series_go_in_few_batches(
    cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, keys = cassandra_backend, _series(unique, 100)
    rng = np.random.default_rng(1)
    sent = []
    for w in range(2):  # the second: the series index is known, blocks alone
        ts = BASE + (w * 100 + np.arange(100)) * 1000
        batches = [
            PointBatch(k, Points.of("double", ts, np.round(rng.normal(50, 9, 100), 3)))
            for k in keys
        ]
        sent.append(_write(backend, batches))
    # 100 blocks of ~300 bytes: 10 partitions a batch (one node here), not 100 inserts
    assert sent[1] <= 100 // MAX_PARTITIONS + 2
    for k in keys[:3] + keys[-3:]:
        got = _read(backend, k)
        assert [t for t, _, _ in got] == [BASE + i * 1000 for i in range(200)]


def test_large_blocks_go_alone_and_come_back_whole(
    cassandra_backend: CassandraBackend, unique: str
) -> None:
    backend, keys = cassandra_backend, _series(unique, 3)
    rng = np.random.default_rng(2)
    n = 8192
    ts = BASE + np.arange(n) * 100
    values = {k: rng.normal(0, 1, n) for k in keys}  # ~8 bytes a point: ~60 KiB blocks
    batches = [PointBatch(k, Points.of("double", ts, values[k])) for k in keys]
    small = PointBatch(
        SeriesKey(unique, canonical_tags({"host": "small"})),
        Points.of("long", [BASE], [7]),
    )
    _write(backend, [*batches, small])  # (index rows first)
    sent = _write(backend, [*batches, small])
    assert sent == 4  # each large block alone (a batch would pass the size limit)
    for k in keys:
        got = _read(backend, k)
        assert [v for _, _, v in got] == values[k].tolist()
    assert _read(backend, small.series) == [(BASE, "long", 7)]
    assert GROUPED_BYTES < 60_000

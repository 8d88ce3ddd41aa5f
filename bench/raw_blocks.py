"""Raw-driver ceilings for points stored as blocks, beside the per-point ones (issue 11).

    PYTHONPATH=$PWD python bench/raw_blocks.py [--quick] [--cassandra 127.0.0.1:9042]
        [--requests 100] [--series 100] [--points 100]      # the write ceilings
        [--read-series 10] [--read-points 100000]           # the read ceilings
        [--block 8192] [--rounds 3]

What a Python client reaches with cassandra-driver and no HTTP, for the same points
in two layouts, each in a table of its own that this script creates in a throwaway
keyspace (so the figures do not depend on the service's schema of the day):

* ``raw_points``: the layout before issue 11, one row per point
  (``((project, metric, tag_hash, row_time), ts) -> type, value``), written as one
  unlogged batch per partition: what bench/ingest.py and bench/query.py called "the
  raw ceiling". It no longer bounds the service once points are stored as blocks.
* ``raw_blocks``: one row per block, the key of the service's ``point_blocks``
  (schema 005: ``((project, metric, tag_hash, row_time), window_start, write_id, seq)
  -> data``, without its delete-marker columns), the block made by the service's own
  encoder (``service.storage.blocks.encode``: delta timestamps, the type's block codec,
  zstd) and read back with its decoder. Writes: what a request carries for a series,
  cut as the service cuts it (by row, by 2-hour window, 8,192 points at most), one
  insert per block. Reads: a compacted series (one block per window) in every
  partition, each block decoded to numpy arrays, concatenated per series; no
  overwrite or delete resolution (there is one write per window). The ceiling is
  "Cassandra + encoding, no HTTP, no query engine".

Both run in one process per core with `execute_concurrent` (64 in flight), libev,
protocol v5, consistency ONE; encoding and decoding are inside the timed part, and
the client CPU per point (user + system of the client processes) is printed beside
the rate. Figures are medians of alternating rounds.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.columnar import Points
from service.datatypes.builtin import DOUBLE
from service.records import canonical_tags, row_times_of, tag_hash
from service.storage import blocks

PROJECT = "public"
BASE = 1_700_000_000_000
WIDTH = 1_814_400_000  # 3 weeks, the service's default row width
WINDOW = 7_200_000  # 2 hours, the service's block window (service/storage/windows.py)
MAX_BLOCK = 8192  # points in a block at most, as the service cuts them
LAYOUTS = ("points", "blocks")

TABLES = (
    """CREATE TABLE IF NOT EXISTS {ks}.raw_points (
        project text, metric text, tag_hash bigint, row_time bigint, ts bigint,
        type text, value blob,
        PRIMARY KEY ((project, metric, tag_hash, row_time), ts))""",
    # the service's point_blocks (schema 005) without its delete-marker columns
    """CREATE TABLE IF NOT EXISTS {ks}.raw_blocks (
        project text, metric text, tag_hash bigint, row_time bigint,
        window_start bigint, write_id bigint, seq int, data blob,
        PRIMARY KEY ((project, metric, tag_hash, row_time), window_start, write_id, seq))""",
)


@dataclass
class Chunk:
    """Points of one series (doubles, in time order) that one request carries."""

    metric: str
    tag_hash: int
    ts: np.ndarray
    values: np.ndarray


@dataclass
class Figure:
    points: int
    seconds: float
    client_cpu: float  # seconds, all client processes

    @property
    def rate(self) -> float:
        return self.points / self.seconds

    @property
    def us_per_point(self) -> float:
        return self.client_cpu / self.points * 1e6


def connect(contact: str) -> Any:
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.io.libevreactor import LibevConnection
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
    from cassandra.query import tuple_factory

    host, _, port = contact.partition(":")
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=ConsistencyLevel.ONE,
        request_timeout=120,
        row_factory=tuple_factory,
    )
    return Cluster(
        [host],
        port=int(port or 9042),
        connection_class=LibevConnection,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
    )


class Keyspace:
    """A throwaway keyspace with the two tables, dropped on exit."""

    def __init__(self, contact: str) -> None:
        self.contact = contact
        self.name = "bench_raw_" + uuid.uuid4().hex[:8]

    def __enter__(self) -> Keyspace:
        cluster = connect(self.contact)
        try:
            session = cluster.connect()
            session.execute(
                f"CREATE KEYSPACE {self.name} WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}",
                timeout=120,
            )
            for cql in TABLES:
                session.execute(cql.format(ks=self.name), timeout=120)
        finally:
            cluster.shutdown()
        return self

    def __exit__(self, *exc: object) -> None:
        cluster = connect(self.contact)
        try:
            cluster.connect().execute(
                f"DROP KEYSPACE IF EXISTS {self.name}", timeout=120
            )
        finally:
            cluster.shutdown()


# ---------------------------------------------------------------- data


def write_chunks(
    prefix: str, requests: int, series: int, points: int, seed: int = 7
) -> list[Chunk]:
    """The points of bench/ingest.py's requests: `requests` x `series` x `points`,
    1 s apart, metrics prefix.m0..m9, one chunk per series per request."""
    rng = np.random.default_rng(seed)
    hashes = [
        tag_hash(canonical_tags({"host": f"h{s}", "dc": f"dc{s % 3}"}))
        for s in range(series)
    ]
    out = []
    for r in range(requests):
        ts = BASE + (r * points + np.arange(points, dtype=np.int64)) * 1000
        for s in range(series):
            values = np.round(rng.random(points) * 100, 3)
            out.append(Chunk(f"{prefix}.m{s % 10}", hashes[s], ts, values))
    return out


def read_chunks(
    metric: str, series: int, points: int, block: int = MAX_BLOCK
) -> list[Chunk]:
    """`series` series of `points` points 1 s apart, one chunk per 2-hour window
    (`block` points at most): a compacted series, a block per window."""
    rng = np.random.default_rng(1234)
    ts_all = BASE + np.arange(points, dtype=np.int64) * 1000
    windows = row_times_of(ts_all, WINDOW)
    cuts = np.flatnonzero(np.diff(windows)) + 1
    spans = []
    for lo, hi in zip(
        np.r_[0, cuts].tolist(), np.r_[cuts, points].tolist(), strict=True
    ):
        spans.extend((at, min(hi, at + block)) for at in range(lo, hi, block))
    out = []
    for s in range(series):
        h = tag_hash(canonical_tags({"host": f"h{s}"}))
        walk = np.round(rng.uniform(0, 100) + np.cumsum(rng.normal(0, 1, points)), 3)
        out.extend(Chunk(metric, h, ts_all[lo:hi], walk[lo:hi]) for lo, hi in spans)
    return out


# ---------------------------------------------------------------- writes


def _statements(
    session: Any, ks: str, layout: str, chunks: list[Chunk]
) -> Iterator[Any]:
    """What the layout writes for the chunks; encoding happens here, lazily, inside
    the timed part."""
    from cassandra import ConsistencyLevel
    from cassandra.query import BatchStatement, BatchType

    if layout == "blocks":
        insert = session.prepare(
            f"INSERT INTO {ks}.raw_blocks (project, metric, tag_hash, row_time, "
            "window_start, write_id, seq, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "USING TTL ?"
        )
        write_id = time.time_ns() // 1_000_000 << 20
        for c in chunks:
            # as the service cuts a write: by row, by 2-hour window, 8,192 at most
            windows = row_times_of(c.ts, WINDOW)
            cuts = np.flatnonzero(np.diff(windows)) + 1
            for lo, hi in zip(
                np.r_[0, cuts].tolist(), np.r_[cuts, len(c.ts)].tolist(), strict=True
            ):
                rt = int(row_times_of(c.ts[lo : lo + 1], WIDTH)[0])
                key = (PROJECT, c.metric, c.tag_hash, rt, int(windows[lo]))
                for seq, at in enumerate(range(lo, hi, MAX_BLOCK)):
                    end = min(hi, at + MAX_BLOCK)
                    data = blocks.encode(
                        Points.of("double", c.ts[at:end], c.values[at:end])
                    )
                    yield insert, (*key, write_id, seq, data, 0)
            write_id += 1
        return
    insert = session.prepare(
        f"INSERT INTO {ks}.raw_points (project, metric, tag_hash, row_time, ts, type, "
        "value) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    )
    for c in chunks:
        rts = row_times_of(c.ts, WIDTH)
        for rt in np.unique(rts):
            part = rts == rt
            rows = list(zip(c.ts[part].tolist(), c.values[part].tolist(), strict=True))
            # at most 500 rows a batch, as the service wrote them (larger batches
            # overload the connection and pass Cassandra's batch size limits)
            for at in range(0, len(rows), 500):
                batch = BatchStatement(
                    BatchType.UNLOGGED, consistency_level=ConsistencyLevel.ONE
                )
                for ts, value in rows[at : at + 500]:
                    batch.add(
                        insert,
                        (
                            PROJECT,
                            c.metric,
                            c.tag_hash,
                            int(rt),
                            ts,
                            "double",
                            DOUBLE.encode(value),
                            0,
                        ),
                    )
                yield batch, None


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _writer(
    contact: str,
    ks: str,
    layout: str,
    chunks: list[Chunk],
    concurrency: int,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    from cassandra.concurrent import execute_concurrent

    cluster = connect(contact)
    session = cluster.connect()
    statements = _statements(session, ks, layout, chunks)
    first = next(statements)  # prepares the insert before the clock starts
    ready.set()
    go.wait()
    cpu0, t0 = _cpu(), time.perf_counter()

    def everything() -> Iterator[Any]:
        yield first
        yield from statements

    execute_concurrent(
        session, everything(), concurrency=concurrency, raise_on_first_error=True
    )
    done.put((time.perf_counter() - t0, _cpu() - cpu0))
    cluster.shutdown()


def write(
    contact: str,
    ks: str,
    layout: str,
    chunks: list[Chunk],
    procs: int,
    concurrency: int = 64,
) -> Figure:
    """Every chunk written in the layout from `procs` processes; wall time from the
    start signal until the last acknowledgement."""
    ctx = multiprocessing.get_context("fork")
    go, done = ctx.Event(), ctx.Queue()
    readies, workers = [], []
    for i in range(procs):
        ready = ctx.Event()
        p = ctx.Process(
            target=_writer,
            args=(contact, ks, layout, chunks[i::procs], concurrency, ready, go, done),
        )
        p.start()
        readies.append(ready)
        workers.append(p)
    for ready in readies:
        ready.wait(120)
    t0 = time.perf_counter()
    go.set()
    results = [done.get(timeout=1800) for _ in workers]
    wall = time.perf_counter() - t0
    for p in workers:
        p.join()
    return Figure(sum(len(c.ts) for c in chunks), wall, sum(cpu for _, cpu in results))


# ---------------------------------------------------------------- reads


def _reader(
    contact: str, ks: str, layout: str, parts: list[tuple[Any, ...]], out: Any
) -> None:
    """Every partition's first page requested at once, every next page requested
    before the current pages are consumed; blocks decoded and each series'
    arrays concatenated, points of the per-point layout turned into values."""
    cluster = connect(contact)
    session = cluster.connect()
    if layout == "blocks":
        stmt = session.prepare(
            f"SELECT window_start, write_id, data FROM {ks}.raw_blocks WHERE "
            "project = ? AND metric = ? AND tag_hash = ? AND row_time = ? "
            "AND window_start >= ? AND window_start <= ?"
        )
        stmt.fetch_size = 100
    else:
        stmt = session.prepare(
            f"SELECT ts, type, value FROM {ks}.raw_points WHERE project = ? "
            "AND metric = ? AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ?"
        )
        stmt.fetch_size = 5000
    cpu0, t0 = _cpu(), time.perf_counter()
    futures = [session.execute_async(stmt, p) for p in parts]
    got: dict[int, list[np.ndarray]] = {i: [] for i in range(len(parts))}
    active = [(i, f, f.result()) for i, f in enumerate(futures)]
    while active:
        waiting = []
        for i, future, result in active:
            page = result.current_rows
            if result.has_more_pages:
                future.start_fetching_next_page()
                waiting.append((i, future))
            if layout == "blocks":
                got[i].extend(blocks.decode(row[2])[0].ts for row in page)
            else:
                # what the per-point read path did: a struct.unpack of the page
                got[i].append(np.array([row[0] for row in page], dtype=np.int64))
                DOUBLE.decode_many([row[2] for row in page])
        active = [(i, f, f.result()) for i, f in waiting]
    points = sum(len(np.concatenate(a)) for a in got.values() if a)
    out.put((points, time.perf_counter() - t0, _cpu() - cpu0))
    cluster.shutdown()


def read(contact: str, ks: str, layout: str, chunks: list[Chunk], procs: int) -> Figure:
    """Every partition of the chunks' series read back (one process per share of
    the partitions); wall time of the slowest reader from its first request."""
    keys = sorted(
        {
            (c.metric, c.tag_hash, int(rt))
            for c in chunks
            for rt in np.unique(row_times_of(c.ts, WIDTH))
        }
    )
    end = max(int(c.ts[-1]) for c in chunks)
    parts = [(PROJECT, m, h, rt, BASE - BASE % WINDOW, end) for m, h, rt in keys]
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_reader, args=(contact, ks, layout, parts[i::procs], out))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=1800) for _ in workers]
    for w in workers:
        w.join()
    return Figure(
        sum(r[0] for r in results),
        max(r[1] for r in results),
        sum(r[2] for r in results),
    )


# ---------------------------------------------------------------- main


def main() -> None:
    from common import arguments  # (here: the workers never import the service)

    ap = arguments(__doc__)
    ap.add_argument(
        "--requests", type=int, help="write requests a round, default 100 (quick 10)"
    )
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument(
        "--points", type=int, default=100, help="points per series per request"
    )
    ap.add_argument("--read-series", type=int, default=10)
    ap.add_argument(
        "--read-points", type=int, help="per series, default 100,000 (quick 10,000)"
    )
    ap.add_argument(
        "--block",
        type=int,
        default=MAX_BLOCK,
        help="reads: points per block at most (a block per 2-hour window besides)",
    )
    ap.add_argument("--rounds", type=int, help="default 3 (quick 1)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    a.requests = a.requests or (10 if a.quick else 100)
    a.read_points = a.read_points or (10_000 if a.quick else 100_000)
    a.rounds = a.rounds or (1 if a.quick else 3)
    from common import machine

    print(f"raw_blocks on {machine()}")
    figures: dict[str, list[Figure]] = {}
    with Keyspace(a.cassandra) as ks:
        for r in range(a.rounds):
            for layout in LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]:
                chunks = write_chunks(
                    f"w{r}{layout}", a.requests, a.series, a.points, seed=r
                )
                f = write(a.cassandra, ks.name, layout, chunks, a.procs)
                figures.setdefault(f"write {layout}", []).append(f)
                print(
                    f"round {r + 1}: write {layout}: {f.rate:,.0f} points/s, {f.us_per_point:.2f} µs client CPU a point",
                    flush=True,
                )
        data = {
            layout: read_chunks(f"read.{layout}", a.read_series, a.read_points, a.block)
            for layout in LAYOUTS
        }
        for layout in LAYOUTS:
            write(a.cassandra, ks.name, layout, data[layout], a.procs)
        for r in range(a.rounds):
            for layout in LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]:
                f = read(a.cassandra, ks.name, layout, data[layout], a.procs)
                figures.setdefault(f"read {layout}", []).append(f)
                print(
                    f"round {r + 1}: read {layout}: {f.rate:,.0f} points/s, {f.us_per_point:.2f} µs client CPU a point",
                    flush=True,
                )
    print(
        f"\nmedians of {a.rounds} rounds ({a.procs} processes; writes: {a.requests} requests x "
        f"{a.series} series x {a.points} points; reads: {a.read_series} series x "
        f"{a.read_points:,} points in blocks of {a.block}):"
    )
    label = {
        "points": "per-point rows (the old layout)",
        "blocks": "blocks (service encoder)",
    }
    for key, runs in figures.items():
        op, layout = key.split()
        rate = statistics.median(f.rate for f in runs)
        cpu = statistics.median(f.us_per_point for f in runs)
        print(
            f"  {op:<5} {label[layout]:<32} {rate:>12,.0f} points/s  {cpu:>6.2f} µs client CPU a point"
        )


if __name__ == "__main__":
    main()

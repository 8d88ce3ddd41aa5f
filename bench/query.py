"""Query benchmark: the raw read ceiling and the service's KairosDB query API, one run.

    python bench/query.py [--cassandra 127.0.0.1:9042] [--series 20] [--points 100000]

1. raw read ceiling: the same partitions read straight through cassandra-driver (prepared
   select, paging, all series in flight at once, one process per core), points/s;
2. the service (`datapoints serve`, one worker per core): a raw query and an `avg` per
   minute query over the same points, with one client per worker each asking for its
   half of the series, points/s read (and aggregated);
3. a dashboard query (one metric, 10 series, 24 h at 10 s resolution, avg per minute)
   repeated by several concurrent clients: p50 and p99 latency.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import statistics
import threading
import time
from typing import Any

from common import keyspace, machine, server

from service.records import (
    PUBLIC_PROJECT,
    PointBatch,
    SeriesKey,
    canonical_tags,
    row_times,
)
from service.storage.cassandra import CassandraBackend

BASE = 1_700_000_000_000
SAMPLE_SIZE = re.compile(rb'"sample_size":(\d+)')


def load(
    config: Any, metric: str, series: int, points: int, step_ms: int
) -> list[SeriesKey]:
    backend = CassandraBackend(config)
    keys = [
        SeriesKey(metric, canonical_tags({"host": f"h{s:03d}"})) for s in range(series)
    ]
    for key in keys:
        for i in range(0, points, 20_000):
            pts = [
                (BASE + j * step_ms, "double", float(j % 1000))
                for j in range(i, min(points, i + 20_000))
            ]
            backend.points.write_points(
                PUBLIC_PROJECT, [PointBatch(key, pts)], default_ttl=0
            )
    backend.close()
    return keys


def _raw_reader(contact: str, ks: str, parts: list[tuple[Any, ...]], out: Any) -> None:
    """The best we know with cassandra-driver: plain tuple rows, every partition's
    first page requested at once, and every next page requested before the current
    pages are consumed."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.io.libevreactor import LibevConnection
    from cassandra.query import tuple_factory

    host, _, port = contact.partition(":")
    profile = ExecutionProfile(
        consistency_level=ConsistencyLevel.ONE,
        request_timeout=60,
        row_factory=tuple_factory,
    )
    cluster = Cluster(
        [host],
        port=int(port),
        connection_class=LibevConnection,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    session = cluster.connect()
    stmt = session.prepare(
        f"SELECT ts, type, value FROM {ks}.data_points WHERE project = ? AND metric = ? "
        "AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ?"
    )
    stmt.fetch_size = 5000
    t0 = time.perf_counter()
    futures = [session.execute_async(stmt, p) for p in parts]
    rows = 0
    # Round robin over the partitions: every partition's next page is in flight
    # while the current pages are read.
    active = [(f, f.result()) for f in futures]
    while active:
        waiting = []
        for future, result in active:
            page, more = result.current_rows, result.has_more_pages
            if more:
                future.start_fetching_next_page()
                waiting.append(future)
            for _ in page:
                rows += 1
        active = [(f, f.result()) for f in waiting]
    out.put((rows, time.perf_counter() - t0))
    cluster.shutdown()


def raw_ceiling(
    contact: str, config: Any, keys: list[SeriesKey], start: int, end: int, procs: int
) -> float:
    width = config.row_width_ms
    parts = [
        (PUBLIC_PROJECT, k.metric, k.hash, rt, start, end)
        for k in keys
        for rt in row_times(start, end, width)
    ]
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [
        ctx.Process(
            target=_raw_reader,
            args=(contact, config.cassandra.keyspace, parts[i::procs], out),
        )
        for i in range(procs)
    ]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    results = [out.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    # wall time of the slowest reader, from its own first request (connect excluded)
    return (
        sum(r for r, _ in results) / max(s for _, s in results)
        if results
        else 0.0 + 0 * t0
    )


def post(port: int, body: dict[str, Any]) -> tuple[float, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.request(
        "POST",
        "/api/v1/datapoints/query",
        body=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status != 200:
        raise RuntimeError(f"query failed: {resp.status} {data[:300]!r}")
    # Only the sample sizes are needed: decoding megabytes of JSON here would take
    # CPU from the server on the same cores.
    return elapsed, [int(n) for n in SAMPLE_SIZE.findall(data)]


def parallel_queries(port: int, bodies: list[dict[str, Any]]) -> tuple[float, int]:
    """All bodies at once, one connection each; (wall seconds, points read)."""
    results: list[Any] = [None] * len(bodies)

    def run(i: int) -> None:
        results[i] = post(port, bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return wall, sum(n for _, sizes in results for n in sizes)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--cassandra",
        default=os.environ.get("DATAPOINTS_TEST_CASSANDRA", "127.0.0.1:9042"),
    )
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument(
        "--points", type=int, default=100_000, help="points per series (1 s apart)"
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--clients", type=int, default=4, help="dashboard clients")
    ap.add_argument("--dashboard-queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with keyspace(args.cassandra) as config:
        t0 = time.perf_counter()
        keys = load(config, "bulk", args.series, args.points, 1000)
        load(config, "dash", 10, 8640, 10_000)
        print(
            f"loaded {args.series} x {args.points} + 10 x 8640 points in {time.perf_counter() - t0:.0f} s"
        )
        start, end = BASE, BASE + args.points * 1000
        halves = [
            [f"h{s:03d}" for s in range(args.series) if s % args.workers == w]
            for w in range(args.workers)
        ]

        def bodies(aggs: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {
                    "start_absolute": start,
                    "end_absolute": end,
                    "metrics": [
                        {"name": "bulk", "tags": {"host": h}, "aggregators": aggs}
                    ],
                }
                for h in halves
            ]

        avg = [{"name": "avg", "sampling": {"value": 1, "unit": "minutes"}}]
        raw_rates, svc_raw, svc_avg = [], [], []
        with server(config, args.workers, threads=2) as port:
            parallel_queries(port, bodies(avg))  # warm up: connect, prepare
            for r in range(args.rounds):
                raw_rates.append(
                    raw_ceiling(args.cassandra, config, keys, start, end, args.workers)
                )
                wall, n = parallel_queries(port, bodies([]))
                svc_raw.append(n / wall)
                wall, n = parallel_queries(port, bodies(avg))
                svc_avg.append(n / wall)
                print(
                    f"round {r + 1}: raw ceiling {raw_rates[-1]:,.0f} points/s, service raw "
                    f"{svc_raw[-1]:,.0f}, service avg/minute {svc_avg[-1]:,.0f}",
                    flush=True,
                )
            dashboard = {
                "start_absolute": BASE,
                "end_absolute": BASE + 86_400_000,
                "metrics": [{"name": "dash", "aggregators": avg}],
            }
            latencies: list[float] = []
            lock = threading.Lock()
            remaining = [args.dashboard_queries]

            def client() -> None:
                while True:
                    with lock:
                        if remaining[0] <= 0:
                            return
                        remaining[0] -= 1
                    elapsed, _ = post(port, dashboard)
                    with lock:
                        latencies.append(elapsed)

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        raw, sraw, savg = (statistics.median(x) for x in (raw_rates, svc_raw, svc_avg))
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(
            f"raw read ceiling (median): {raw:,.0f} points/s ({args.workers} processes)"
        )
        print(
            f"service raw query (median): {sraw:,.0f} points/s  ratio {sraw / raw:.2f}"
        )
        print(
            f"service avg per minute (median): {savg:,.0f} points/s  ratio {savg / raw:.2f}"
        )
        print(
            f"dashboard query (10 series, 24 h at 10 s, avg per minute), {args.clients} clients: "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, {len(latencies) / wall:.1f} queries/s"
        )


if __name__ == "__main__":
    main()

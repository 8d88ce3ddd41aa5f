"""Query benchmark: the raw read ceiling and the service's KairosDB query API, one run.

    python bench/query.py [--cassandra 127.0.0.1:9042] [--series 20] [--points 100000]

1. raw read ceilings (bench/raw_blocks.py): the same shape of data read straight
   through cassandra-driver (prepared select, paging, all series in flight at once, one
   process per core) from tables of its own: as one block per 2-hour window decoded by the
   service's block decoder (the ceiling since issue 11), and as one row per point
   (the layout before issue 11, kept to compare with the earlier figures), points/s;
   the service's copy is loaded through HTTP, then compacted when
   `datapoints compact run --all-now` exists;
2. the service (`datapoints serve`, one worker per core): a raw query and an `avg` per
   minute query over the same points, with one client per worker each asking for its
   half of the series, points/s read (and aggregated);
3. a dashboard query (one metric, 10 series, 24 h at 10 s resolution, avg per minute)
   repeated by several concurrent clients: p50 and p99 latency.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import threading
import time
from typing import Any

import numpy as np
import raw_blocks
import ujson
from common import arguments, keyspace, machine, post_all, server
from compaction import compact

BASE = 1_700_000_000_000
SAMPLE_SIZE = re.compile(rb'"sample_size":(\d+)')
WRITE = "/api/v1/datapoints"
HEADERS = {"Content-Type": "application/json"}


def load(port: int, metric: str, series: int, points: int, step_ms: int) -> None:
    """`series` series (hosts h000...) of `points` points `step_ms` apart, posted to
    the service through KairosDB's write API in requests of 100,000 points (so this
    works whatever the storage layout)."""
    hosts = [f"h{s:03d}" for s in range(series)]
    per = max(1, 100_000 // series)
    bodies = []
    for i in range(0, points, per):
        j = np.arange(i, min(points, i + per), dtype=np.int64)
        pairs = np.column_stack(
            [
                (BASE + j * step_ms).astype(object),
                (j % 1000).astype(float).astype(object),
            ]
        ).tolist()
        body = [
            {"name": metric, "tags": {"host": h}, "datapoints": pairs} for h in hosts
        ]
        bodies.append((WRITE, ujson.dumps(body).encode(), HEADERS))
        if len(bodies) == 8:
            _post(port, bodies)
    _post(port, bodies)


def _post(port: int, bodies: list[tuple[str, bytes, dict[str, str]]]) -> None:
    if bodies:
        result = post_all(port, bodies, clients=2)
        if result.failures:
            raise RuntimeError(f"{result.failures} load requests failed")
        bodies.clear()


def ceiling_chunks(series: int, points: int) -> list[raw_blocks.Chunk]:
    """The same shape for the raw ceilings: `series` x `points`, 1 s apart, one
    block per 2-hour window (as compaction leaves them)."""
    return raw_blocks.read_chunks("bulk", series, points)


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
    ap = arguments(__doc__)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument(
        "--points", type=int, default=100_000, help="points per series (1 s apart)"
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--clients", type=int, default=4, help="dashboard clients")
    ap.add_argument("--dashboard-queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    args = ap.parse_args()
    if args.quick:
        args.points, args.rounds = min(args.points, 10_000), 1
        args.dashboard_queries = min(args.dashboard_queries, 20)
    print(f"machine: {machine()}")
    ceiling_data = ceiling_chunks(args.series, args.points)
    with (
        raw_blocks.Keyspace(args.cassandra) as raw_ks,
        keyspace(args.cassandra) as config,
    ):
        t0 = time.perf_counter()
        with server(config, args.workers, threads=4) as port:
            load(port, "bulk", args.series, args.points, 1000)
            load(port, "dash", 10, 8640, 10_000)
        for layout in raw_blocks.LAYOUTS:
            raw_blocks.write(
                args.cassandra, raw_ks.name, layout, ceiling_data, args.workers
            )
        print(
            f"loaded {args.series} x {args.points} + 10 x 8640 points in "
            f"{time.perf_counter() - t0:.0f} s (service over HTTP; raw tables directly)"
        )
        print(compact(config.store_url).note)
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
        ceilings: dict[str, list[float]] = {x: [] for x in raw_blocks.LAYOUTS}
        svc_raw, svc_avg = [], []
        with server(config, args.workers, threads=2) as port:
            parallel_queries(port, bodies(avg))  # warm up: connect, prepare
            for r in range(args.rounds):
                for layout in raw_blocks.LAYOUTS:
                    figure = raw_blocks.read(
                        args.cassandra, raw_ks.name, layout, ceiling_data, args.workers
                    )
                    ceilings[layout].append(figure.rate)
                wall, n = parallel_queries(port, bodies([]))
                svc_raw.append(n / wall)
                wall, n = parallel_queries(port, bodies(avg))
                svc_avg.append(n / wall)
                print(
                    f"round {r + 1}: raw ceiling, blocks {ceilings['blocks'][-1]:,.0f} "
                    f"points/s, per-point rows {ceilings['points'][-1]:,.0f}; service "
                    f"raw {svc_raw[-1]:,.0f}, service avg/minute {svc_avg[-1]:,.0f}",
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
        sraw, savg = statistics.median(svc_raw), statistics.median(svc_avg)
        blk, rows = (statistics.median(ceilings[x]) for x in ("blocks", "points"))
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(
            f"raw read ceiling, blocks (median): {blk:,.0f} points/s ({args.workers} "
            "processes, a block per 2-hour window decoded with the service's decoder)"
        )
        print(
            f"old raw read ceiling, per-point rows (median): {rows:,.0f} points/s (the "
            "layout before issue 11, no longer a bound for the service)"
        )
        print(
            f"service raw query (median): {sraw:,.0f} points/s  ratio to blocks "
            f"{sraw / blk:.2f}, to per-point rows {sraw / rows:.2f}"
        )
        print(
            f"service avg per minute (median): {savg:,.0f} points/s  ratio to blocks "
            f"{savg / blk:.2f}, to per-point rows {savg / rows:.2f}"
        )
        print(
            f"dashboard query (10 series, 24 h at 10 s, avg per minute), {args.clients} clients: "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, {len(latencies) / wall:.1f} queries/s"
        )


if __name__ == "__main__":
    main()

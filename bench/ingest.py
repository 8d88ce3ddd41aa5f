"""Ingest benchmark: the raw cassandra-driver ceiling and the service, in one run.

    python bench/ingest.py [--cassandra 127.0.0.1:9042] [--requests 200]
                           [--series 100] [--points 100] [--clients 4]

1. raw ceilings (bench/raw_blocks.py), the same points written straight through
   cassandra-driver the best way we know (bounded concurrency with execute_concurrent,
   libev, one process per core), into tables of their own:
   * blocks: one block per series per request, made by the service's block encoder,
     one insert each: "Cassandra + encoding, no HTTP", the ceiling since issue 11;
   * per-point rows (one unlogged batch per partition): the layout before issue 11,
     kept for comparison with the earlier figures, no longer a bound for the service;
2. end to end: `datapoints serve` (one worker per core) while several HTTP clients
   post KairosDB batches of SERIES series x POINTS points, into a fresh keyspace with
   the service's schema (so any storage layout works).

All on the same Cassandra, in rounds; the ratio end-to-end / raw blocks is what
BENCHMARKS.md records. Needs a running Cassandra (`make cassandra`). `--quick`: a
small smoke run.
"""

from __future__ import annotations

import json
import os
import random
import statistics
from typing import Any

import numpy as np
import raw_blocks
from common import arguments, keyspace, machine, post_all, server

from service.records import canonical_tags, tag_hash

PROJECT = "public"
BASE_TS = 1_700_000_000_000


def payloads(
    prefix: str, requests: int, series: int, points: int
) -> list[list[dict[str, Any]]]:
    rng = random.Random(7)
    out = []
    for r in range(requests):
        body = []
        for s in range(series):
            ts0 = BASE_TS + r * points * 1000
            body.append(
                {
                    "name": f"{prefix}.m{s % 10}",
                    "tags": {"host": f"h{s}", "dc": f"dc{s % 3}"},
                    "datapoints": [
                        [ts0 + j * 1000, round(rng.random() * 100, 3)]
                        for j in range(points)
                    ],
                }
            )
        out.append(body)
    return out


def chunks_of(bodies: list[list[dict[str, Any]]]) -> list[raw_blocks.Chunk]:
    """The same points as the raw ceilings' chunks: one per series per request."""
    out = []
    for body in bodies:
        for metric in body:
            pts = np.array(metric["datapoints"])
            h = tag_hash(canonical_tags(metric["tags"]))
            ts = pts[:, 0].astype(np.int64)
            out.append(raw_blocks.Chunk(metric["name"], h, ts, pts[:, 1]))
    return out


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--requests", type=int, default=100, help="requests per round")
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument(
        "--clients",
        type=int,
        default=4,
        help="connections per client process (events mode: use 16)",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--raw-concurrency", type=int, default=64)
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating raw/service rounds"
    )
    ap.add_argument("--mode", choices=["metrics", "events", "iot"], default="metrics")
    ap.add_argument("--devices", type=int, default=1000, help="iot mode")
    ap.add_argument("--uploads-per-device", type=int, default=20, help="iot mode")
    ap.add_argument("--users", type=int, default=2000, help="events mode")
    ap.add_argument("--events-per-user", type=int, default=20, help="events mode")
    ap.add_argument("--client-procs", type=int, default=1, help="events mode")
    ap.add_argument(
        "--settle",
        type=float,
        default=10.0,
        help="events mode: pause between phases (s)",
    )
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.rounds = min(args.requests, 10), 1
        args.users, args.devices = min(args.users, 200), min(args.devices, 100)
    if args.mode == "events":
        events_main(args)
        return
    if args.mode == "iot":
        iot_main(args)
        return

    print(f"machine: {machine()}")
    print(
        f"shape: {args.requests} requests x {args.series} series x {args.points} "
        f"points per round, {args.rounds} rounds, {args.clients} HTTP clients, "
        f"{args.workers} workers x {args.threads} threads"
    )
    ceilings: dict[str, list[float]] = {layout: [] for layout in raw_blocks.LAYOUTS}
    svc_rates = []
    with (
        raw_blocks.Keyspace(args.cassandra) as raw_ks,
        keyspace(args.cassandra) as config,
        server(config, args.workers, args.threads) as port,
    ):

        def service_round(prefix: str) -> tuple[float, Any]:
            bodies = [
                (
                    "/api/v1/datapoints",
                    json.dumps(b).encode(),
                    {"Content-Type": "application/json"},
                )
                for b in payloads(prefix, args.requests, args.series, args.points)
            ]
            load = post_all(port, bodies, args.clients)
            assert load.failures == 0, f"{load.failures} requests failed"
            return args.requests * args.series * args.points / load.seconds, load

        def raw_round(prefix: str, requests: int, layout: str) -> float:
            chunks = chunks_of(payloads(prefix, requests, args.series, args.points))
            figure = raw_blocks.write(
                args.cassandra,
                raw_ks.name,
                layout,
                chunks,
                args.workers,
                args.raw_concurrency,
            )
            return figure.rate

        for layout in raw_blocks.LAYOUTS:
            raw_round(f"warm{layout}", 10, layout)
        service_round("warmsvc")
        for r in range(args.rounds):
            for layout in raw_blocks.LAYOUTS:
                ceilings[layout].append(
                    raw_round(f"raw{r}{layout}", args.requests, layout)
                )
            rate, load = service_round(f"svc{r}")
            svc_rates.append(rate)
            p50, p99 = load.percentile(50) * 1000, load.percentile(99) * 1000
            print(
                f"round {r + 1}: raw per-point rows {ceilings['points'][-1]:,.0f} "
                f"points/s, raw blocks {ceilings['blocks'][-1]:,.0f} points/s, "
                f"service {rate:,.0f} points/s "
                f"({load.requests / load.seconds:.1f} req/s, p50 {p50:.0f} ms, "
                f"p99 {p99:.0f} ms)",
                flush=True,
            )
    svc = statistics.median(svc_rates)
    rows, blk = (statistics.median(ceilings[x]) for x in ("points", "blocks"))
    how = (
        f"{args.workers} processes, concurrency {args.raw_concurrency} each, "
        "a table of its own in another keyspace"
    )
    print(f"end to end (median):  {svc:,.0f} points/s")
    print(
        f"raw ceiling, blocks (median): {blk:,.0f} points/s ({how}; one block per series "
        f"per request, the service's encoder): ratio end-to-end / raw {svc / blk:.2f}"
    )
    print(
        f"old raw ceiling, per-point rows (median): {rows:,.0f} points/s ({how}; one "
        "unlogged batch per partition, the layout before issue 11, no longer a bound "
        f"for the service): ratio {svc / rows:.2f}"
    )


def events_main(args: Any) -> None:
    import ingest_events

    print(f"machine: {machine()}")
    print(
        f"events mode: {args.users} users x {args.events_per_user} events, one data point "
        f"per request, {args.client_procs} client processes x {args.clients} connections, "
        f"{args.workers} workers x {args.threads} threads, {args.rounds} rounds"
    )
    raws, svcs = [], []
    with (
        keyspace(
            args.cassandra, DATAPOINTS_SECRET_KEY="bench-secret-0123456789abcdef-0123"
        ) as config,
        server(
            config,
            args.workers,
            args.threads,
            DATAPOINTS_SECRET_KEY="bench-secret-0123456789abcdef-0123",
        ) as port,
    ):
        for r in range(args.rounds):
            raw, svc, load = ingest_events.run(args, config, port, args.cassandra)
            raws.append(raw)
            svcs.append(svc)
            print(
                f"round {r + 1}: raw single-row ceiling {raw:,.0f} rows/s, service "
                f"{svc:,.0f} events/s (p50 {load.percentile(50) * 1000:.1f} ms, "
                f"p99 {load.percentile(99) * 1000:.1f} ms; worker CPU "
                f"{', '.join(f'{c:.0%}' for c in load.worker_cpu)})",
                flush=True,
            )
    raw, svc = statistics.median(raws), statistics.median(svcs)
    print(f"raw single-row ceiling (median): {raw:,.0f} rows/s")
    print(f"end to end (median): {svc:,.0f} events/s, sessions checked on read")
    print(f"ratio end-to-end / raw: {svc / raw:.2f}")


def iot_main(args: Any) -> None:
    import ingest_iot

    secret = "bench-secret-0123456789abcdef-0123"
    print(f"machine: {machine()}")
    print(
        f"iot mode: {args.devices} devices x {args.uploads_per_device} uploads of "
        f"{len(ingest_iot.STREAMS)} streams (type=3, device keys), one upload per request, "
        f"{args.client_procs} client processes x {args.clients} connections, "
        f"{args.workers} workers x {args.threads} threads, {args.rounds} rounds"
    )
    raws, points, reqs = [], [], []
    with (
        keyspace(args.cassandra, DATAPOINTS_SECRET_KEY=secret) as config,
        server(
            config, args.workers, args.threads, DATAPOINTS_SECRET_KEY=secret
        ) as port,
    ):
        for r in range(args.rounds):
            raw, pts, rps, load = ingest_iot.run(args, config, port, args.cassandra, r)
            raws.append(raw)
            points.append(pts)
            reqs.append(rps)
            print(
                f"round {r + 1}: raw single-row ceiling {raw:,.0f} points/s, service "
                f"{pts:,.0f} points/s = {rps:,.0f} uploads/s (p50 "
                f"{load.percentile(50) * 1000:.1f} ms, p99 {load.percentile(99) * 1000:.1f} ms;"
                f" worker CPU {', '.join(f'{c:.0%}' for c in load.worker_cpu)})",
                flush=True,
            )
    raw, pts, rps = (
        statistics.median(raws),
        statistics.median(points),
        statistics.median(reqs),
    )
    print(f"raw single-row ceiling (median): {raw:,.0f} points/s")
    print(f"end to end (median): {pts:,.0f} points/s, {rps:,.0f} uploads/s")
    print(f"ratio end-to-end / raw: {pts / raw:.2f}")


if __name__ == "__main__":
    main()

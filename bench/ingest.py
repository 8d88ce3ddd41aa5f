"""Ingest benchmark: the raw cassandra-driver ceiling and the service, in one run.

    python bench/ingest.py [--cassandra 127.0.0.1:9042] [--requests 200]
                           [--series 100] [--points 100] [--clients 4]

1. raw ceiling: the same data-point rows written straight through cassandra-driver the
   best way we know (prepared insert, one unlogged batch per partition, bounded
   concurrency with execute_concurrent, libev, one process per core);
2. end to end: `datapoints serve` (one worker per core) while several HTTP clients
   post KairosDB batches of SERIES series x POINTS points.

Both write to a fresh keyspace on the same Cassandra, one after the other; the ratio
end-to-end / raw is what BENCHMARKS.md records. Needs a running Cassandra
(`make cassandra`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import time
from typing import Any

from common import keyspace, machine, post_all, server

from service.config import Config
from service.datatypes.builtin import DOUBLE
from service.records import canonical_tags, row_time, tag_hash

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


def rows_of(
    bodies: list[list[dict[str, Any]]], width: int
) -> list[list[tuple[Any, ...]]]:
    """The rows the service writes for these bodies, grouped by partition."""
    groups: list[list[tuple[Any, ...]]] = []
    for body in bodies:
        for metric in body:
            h = tag_hash(canonical_tags(metric["tags"]))
            parts: dict[int, list[tuple[Any, ...]]] = {}
            for ts, value in metric["datapoints"]:
                rt = row_time(ts, width)
                parts.setdefault(rt, []).append(
                    (
                        PROJECT,
                        metric["name"],
                        h,
                        rt,
                        ts,
                        "double",
                        DOUBLE.encode(value),
                        0,
                    )
                )
            groups.extend(parts.values())
    return groups


def _raw_worker(
    contact: str,
    ks: str,
    groups: list[list[tuple[Any, ...]]],
    concurrency: int,
    protocol: int,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.concurrent import execute_concurrent
    from cassandra.io.libevreactor import LibevConnection
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
    from cassandra.query import BatchStatement, BatchType

    host, _, port = contact.partition(":")
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=ConsistencyLevel.ONE,
    )
    cluster = Cluster(
        [host],
        port=int(port or 9042),
        connection_class=LibevConnection,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=protocol,
    )
    session = cluster.connect()
    insert = session.prepare(
        f"INSERT INTO {ks}.data_points (project, metric, tag_hash, row_time, ts, type, "
        "value) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    )
    ready.set()
    go.wait()

    def statements() -> Any:
        for rows in groups:
            batch = BatchStatement(
                BatchType.UNLOGGED, consistency_level=ConsistencyLevel.ONE
            )
            for row in rows:
                batch.add(insert, row)
            yield batch, None

    t0 = time.perf_counter()
    execute_concurrent(
        session, statements(), concurrency=concurrency, raise_on_first_error=True
    )
    done.put(time.perf_counter() - t0)
    cluster.shutdown()


def raw_ceiling(
    contact: str,
    config: Config,
    groups: list[list[tuple[Any, ...]]],
    procs: int,
    concurrency: int,
    protocol: int = 5,
) -> tuple[int, float]:
    ctx = multiprocessing.get_context("fork")
    go, done = ctx.Event(), ctx.Queue()
    readies, workers = [], []
    for i in range(procs):
        ready = ctx.Event()
        p = ctx.Process(
            target=_raw_worker,
            args=(
                contact,
                config.cassandra.keyspace,
                groups[i::procs],
                concurrency,
                protocol,
                ready,
                go,
                done,
            ),
        )
        p.start()
        readies.append(ready)
        workers.append(p)
    for ready in readies:
        ready.wait(60)
    t0 = time.perf_counter()
    go.set()
    for _ in workers:
        done.get(timeout=600)
    wall = time.perf_counter() - t0
    for p in workers:
        p.join()
    return sum(len(g) for g in groups), wall


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--cassandra",
        default=os.environ.get("DATAPOINTS_TEST_CASSANDRA", "127.0.0.1:9042"),
    )
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
    args = ap.parse_args()
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
    raw_rates, svc_rates = [], []
    with (
        keyspace(args.cassandra) as config,
        server(config, args.workers, args.threads) as port,
    ):
        width = config.row_width_ms

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

        raw_ceiling(
            args.cassandra,
            config,
            rows_of(payloads("warm", 10, args.series, args.points), width),
            args.workers,
            args.raw_concurrency,
        )
        service_round("warmsvc")
        for r in range(args.rounds):
            groups = rows_of(
                payloads(f"raw{r}", args.requests, args.series, args.points), width
            )
            rows, raw_s = raw_ceiling(
                args.cassandra, config, groups, args.workers, args.raw_concurrency
            )
            raw_rates.append(rows / raw_s)
            rate, load = service_round(f"svc{r}")
            svc_rates.append(rate)
            p50, p99 = load.percentile(50) * 1000, load.percentile(99) * 1000
            print(
                f"round {r + 1}: raw {raw_rates[-1]:,.0f} points/s, "
                f"service {rate:,.0f} points/s "
                f"({load.requests / load.seconds:.1f} req/s, p50 {p50:.0f} ms, "
                f"p99 {p99:.0f} ms)",
                flush=True,
            )
    raw, svc = statistics.median(raw_rates), statistics.median(svc_rates)
    print(
        f"raw ceiling (median): {raw:,.0f} points/s ({args.workers} processes, "
        f"concurrency {args.raw_concurrency} each, single-partition unlogged batches)"
    )
    print(f"end to end (median):  {svc:,.0f} points/s")
    print(f"ratio end-to-end / raw: {svc / raw:.2f}")


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

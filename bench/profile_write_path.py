"""CPU per point of each stage of ``POST /api/v1/datapoints`` before the store, in
process (no HTTP server, no Cassandra): the Falcon request with a store that only
counts, and its stages alone: JSON decoding, the KairosDB parse, the point service
(last write wins) and the embedded SQLite store's write.

    python bench/profile_write_path.py [--requests 30] [--series 100] [--points 100]
                                       [--profile] [--top 25]

Bodies are SERIES series x POINTS points of ``[ts, value]`` pairs (longs and
doubles, two or three tags), like the ingest benchmark's.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from falcon import testing

from service.app import create_app
from service.config import Config
from service.dialects.kairosdb.parse import Parser
from service.domain.points import last_write_wins
from service.records import PointBatch
from service.storage.sqlite import SqliteBackend
from service.web.body import parse_json

BASE_TS = 1_700_000_000_000


def bodies(requests: int, series: int, points: int) -> list[bytes]:
    rng = random.Random(7)
    out = []
    for r in range(requests):
        doc = []
        for s in range(series):
            ts0 = BASE_TS + r * points * 1000
            tags = {"host": f"h{s}", "dc": f"dc{s % 3}"}
            if s % 2:
                tags["rack"] = f"r{s % 7}"
            if s % 2:  # longs
                dps = [
                    [ts0 + j * 1000, rng.randrange(-(10**9), 10**9)]
                    for j in range(points)
                ]
            else:
                dps = [
                    [ts0 + j * 1000, round(rng.random() * 100, 3)]
                    for j in range(points)
                ]
            doc.append({"name": f"bench.m{s % 10}", "tags": tags, "datapoints": dps})
        out.append(json.dumps(doc).encode())
    return out


class CountingStore:
    """A point store that keeps nothing: counts what it is given (profiling only)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.points = 0

    def write_points(
        self, project: str, batches: Sequence[PointBatch], *, default_ttl: int
    ) -> None:
        self.points += sum(len(b.points) for b in batches)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def timed(label: str, n_points: int, run: Callable[[], Any], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        run()
        best = min(best, time.process_time() - t0)
    us = best / n_points * 1e6
    print(f"{label:<38} {us:7.3f} µs/point")
    return us


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    raw = bodies(args.requests, args.series, args.points)
    n = args.requests * args.series * args.points
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env(
            {
                "DATAPOINTS_STORE": f"sqlite:///{tmp}/dp.db",
                "DATAPOINTS_SECRET_KEY": "bench-secret-0123456789abcdef0123456789",
            }
        )
        backend = SqliteBackend(Path(f"{tmp}/dp.db"), row_width_ms=config.row_width_ms)
        backend.apply_schema()
        sqlite_points = backend.points
        counting = CountingStore(sqlite_points)
        backend.points = counting  # type: ignore[assignment]
        client = testing.TestClient(create_app(config, backend))

        def requests() -> None:
            for body in raw:
                r = client.simulate_post("/api/v1/datapoints", body=body)
                assert r.status_code == 204, r.text

        max_points = config.limits.max_points_per_request
        print(f"{args.requests} requests x {args.series} series x {args.points} points")
        timed("request, null store (all before store)", n, requests, args.reps)
        stages = {"JSON decode": 0.0, "KairosDB parse": 0.0, "last_write_wins": 0.0}
        parsed = []
        clock = time.process_time
        for body in raw:  # each stage on the tree just decoded, as a request has it
            t0 = clock()
            doc = parse_json(body)
            t1 = clock()
            batches = Parser(max_points=max_points).parse(doc)
            t2 = clock()
            last_write_wins(batches)
            t3 = clock()
            for label, spent in zip(stages, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                stages[label] += spent
            parsed.append(batches)
        for label, spent in stages.items():
            print(f"  {label:<36} {spent / n * 1e6:7.3f} µs/point")

        def sqlite_write() -> None:
            for p in parsed:
                sqlite_points.write_points("public", p, default_ttl=0)

        timed("SQLite store write_points", n, sqlite_write, 1)

        def sqlite_read() -> None:
            for b in parsed[0]:
                list(sqlite_points.read_chunks("public", b.series, 0, 2**62))

        timed(
            "SQLite read_chunks (req 0 series, all)",
            args.requests * args.series * args.points,
            sqlite_read,
            1,
        )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            requests()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        backend.close()


if __name__ == "__main__":
    main()

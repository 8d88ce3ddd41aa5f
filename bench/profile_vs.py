"""Where the time of bench/vs_kairosdb.py's work goes: cProfile, in-process (issue 11).

    PYTHONPATH=$PWD python bench/profile_vs.py [--quick] [--points 100000] [--top 12]

The Falcon app (no HTTP server, no gunicorn) on a fresh keyspace of the real Cassandra:
the "big" ingest requests (100 series x 100 points) and then vs_kairosdb's query data
(10 series x POINTS points) written through `POST /api/v1/datapoints`,
`datapoints compact run --all-now` when this version has it, then the three queries
(raw one series, avg per minute over 10 series, tag filter + group_by + max per hour)
each asked REPS times. For each: wall and CPU time per request, the share of CPU by
area (JSON, HTTP framework, service.query, service.storage, service.dialects, the
cassandra driver and its I/O, numpy, other) from the profile's own time per function,
and the top functions by own time. The driver's I/O thread is not profiled (cProfile
sees one thread); its share shows as the difference between CPU and profiled time.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import kairosdb_shapes as shapes
from common import arguments, keyspace, machine
from compaction import compact
from falcon import testing

from service.app import create_app

AREAS = (
    # the request thread blocked on a future: the driver's I/O thread and Cassandra
    ("waiting (driver I/O)", ("_thread.lock' objects>", "threading.py")),
    ("json", ("ujson", "json/", "json.", "orjson")),
    ("service.query", ("service/query",)),
    ("service.storage", ("service/storage",)),
    ("service.dialects", ("service/dialects",)),
    ("service (other)", ("service/",)),
    ("cassandra driver", ("cassandra/", "cassandra.")),
    ("numpy", ("numpy",)),
    ("falcon / wsgi", ("falcon", "wsgiref")),
)


def area(filename: str, name: str) -> str:
    where = filename + ":" + name
    for label, marks in AREAS:
        if any(m in where for m in marks):
            return label
    return "other"


def profile(run: Callable[[], None], times: int) -> dict[str, Any]:
    prof = cProfile.Profile()
    cpu0, t0 = time.process_time(), time.perf_counter()
    prof.enable()
    for _ in range(times):
        run()
    prof.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = pstats.Stats(prof)
    shares: dict[str, float] = defaultdict(float)
    funcs = []
    for (filename, line, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        shares[area(filename, name)] += own
        funcs.append((own, f"{os.path.relpath(filename)}:{line}({name})"))
    funcs.sort(reverse=True)
    return {
        "wall_ms": wall / times * 1000,
        "cpu_ms": cpu / times * 1000,
        "profiled_ms": sum(shares.values()) / times * 1000,
        "areas_ms": {k: v / times * 1000 for k, v in shares.items()},
        "top": [(own / times * 1000, f) for own, f in funcs[:40]],
    }


def report(title: str, res: dict[str, Any], top: int) -> None:
    print(
        f"\n{title}: {res['wall_ms']:,.1f} ms wall, {res['cpu_ms']:,.1f} ms CPU a"
        f" request (profiled {res['profiled_ms']:,.1f} ms; profiling inflates both)"
    )
    for name, ms in sorted(res["areas_ms"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<18} {ms:>9,.1f} ms  {ms / res['profiled_ms']:>5.0%}")
    print("  top functions by own time (ms a request):")
    for ms, f in res["top"][:top]:
        print(f"    {ms:>8,.2f}  {f}")


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--points", type=int, help="per series, default 100,000")
    ap.add_argument("--ingest", type=int, help="big requests profiled, default 30")
    ap.add_argument("--reps", type=int, default=5, help="each query, profiled")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    points = a.points or (10_000 if a.quick else 100_000)
    ingest = a.ingest or (5 if a.quick else 30)
    print(f"profile_vs on {machine()}")
    out: dict[str, Any] = {}
    with keyspace(a.cassandra) as config:
        client = testing.TestClient(create_app(config))
        headers = {"Content-Type": "application/json"}

        def post(path: str, body: bytes, want: int) -> bytes:
            r = client.simulate_post(path, body=body, headers=headers)
            if r.status_code != want:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
            return r.content

        big, _, _ = shapes.big_bodies("prof.big", ingest + 1, seed=5)
        post(shapes.WRITE, big[0][1], 204)  # connect, prepare, caches
        rest = iter(big[1:])
        out["ingest big"] = profile(
            lambda: post(shapes.WRITE, next(rest)[1], 204), ingest
        )
        report("ingest, 100 series x 100 points a request", out["ingest big"], a.top)
        bodies, total, end = shapes.query_data("prof.q", points, seed=1234)
        for _, body, _ in bodies:
            post(shapes.WRITE, body, 204)
        done = compact(config.store_url)
        print(f"\nloaded {total:,} points; {done.note}")
        out["compaction"] = vars(done)
        for name, q in shapes.queries("prof.q", end).items():
            body = json.dumps(q).encode()
            post(shapes.QUERY, body, 200)  # warm: prepared statements, caches
            out[name] = profile(lambda b=body: post(shapes.QUERY, b, 200), a.reps)
            report(f"query {name}", out[name], a.top)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

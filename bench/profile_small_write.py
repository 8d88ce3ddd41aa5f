"""CPU of one small write request, by thread, in process on the real Cassandra (issue 12).

    python bench/profile_small_write.py [REQUESTS] [--dialect kairosdb|liquid|onenet|mda]
        [--profile] [--top 35]

Calls the WSGI app directly (no HTTP server), one request at a time, with the small
bodies each dialect's clients send: KairosDB 1 series x 1-10 points
(bench/kairosdb_shapes.py's small shape), one Liquid collect event
(bench/ingest_events.py), one OneNET type=3 upload of three datastreams
(bench/ingest_iot.py) or one MDA JSON session. The first 10% warm the caches and are
not counted. Printed: wall time and CPU (user + system) per request of each thread of
the process: the request thread, the write coalescer and the driver's event loop.
``--profile`` adds cProfile of the request thread (which inflates its CPU about 2x,
and charges it the time it waits for the GIL while the other threads run).
``--app-only`` binds and routes the rows a request would coalesce, but sends nothing:
the request thread then runs alone, and both figures are its own.
A fresh keyspace is made for the run and dropped at the end.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import json
import pstats
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kairosdb_shapes
from common import arguments, keyspace, thread_cpu
from ingest_events import data_points
from ingest_iot import uploads

from service.app import create_app
from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage.cassandra import CassandraBackend

SECRET = "profile-small-write-secret-0123456789abcdef"
# (path and query, body, headers) of one request
Request = tuple[str, bytes, dict[str, str]]
App = Callable[..., Any]


def call(app: App, method: str, request: Request) -> tuple[str, bytes]:
    """Status line and body of one request through the WSGI app."""
    path, body, headers = request
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    status: list[str] = []
    out = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    return status[0], out


def kairosdb(app: App, backend: CassandraBackend, n: int) -> list[Request]:
    bodies, _, _ = kairosdb_shapes.small_bodies("prof.m", n, 1)
    headers = {"Content-Type": "application/json"}
    return [("/api/v1/datapoints", body, headers) for _, body, _ in bodies]


def liquid(app: App, backend: CassandraBackend, n: int) -> list[Request]:
    _, key = _directory(backend).create("prof-liquid", session_gap=60)
    headers = {
        "Authorization": f"Token {key}",
        "Content-Type": "application/json",
        "Accept": "application/vnd.lqd.v1+json",
    }
    points = data_points("p", max(1, n // 20), 20)[:n]
    return [("/collect/data_points", json.dumps(p).encode(), headers) for p in points]


def onenet(app: App, backend: CassandraBackend, n: int) -> list[Request]:
    _, key = _directory(backend).create("prof-onenet")
    devices = []
    for i in range(100):
        body = json.dumps({"title": f"meter {i}"}).encode()
        headers = {"api-key": key, "Content-Type": "application/json"}
        status, out = call(app, "POST", ("/devices", body, headers))
        assert status.startswith("200"), (status, out)
        made = json.loads(out)["data"]
        devices.append((made["device_id"], made["key"]))
    return [
        (
            f"/devices/{device}/datapoints?type=3",
            json.dumps(values).encode(),
            {"api-key": device_key, "Content-Type": "application/json"},
        )
        for device, device_key, values in uploads(devices, -(-n // 100), 2)[:n]
    ]


def mda(app: App, backend: CassandraBackend, n: int) -> list[Request]:
    project, key = _directory(backend).create("prof-mda")
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    rng = random.Random(3)
    path = f"/api/v1/projects/{project.id}/sessions"
    started = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    return [
        (
            path,
            json.dumps(
                {
                    "session": {
                        "uuid": f"s-{i}",
                        "unit_id": f"tablet-{i % 20}",
                        "data": {
                            "Note": f"visit {i}",
                            "Count": rng.randint(0, 99),
                            "When": (started + dt.timedelta(minutes=i)).isoformat(),
                        },
                    }
                }
            ).encode(),
            headers,
        )
        for i in range(n)
    ]


DIALECTS = {"kairosdb": kairosdb, "liquid": liquid, "onenet": onenet, "mda": mda}


def _directory(backend: CassandraBackend) -> Directory:
    return Directory(backend.projects, Keys(SECRET.encode()))


def measure(
    app: App, requests: list[Request], profile: cProfile.Profile | None
) -> None:
    warm = max(1, len(requests) // 10)
    for request in requests[:warm]:
        _expect_ok(call(app, "POST", request))
    timed = requests[warm:]
    before = thread_cpu()
    start = time.perf_counter()
    if profile is not None:
        profile.enable()
    for request in timed:
        _expect_ok(call(app, "POST", request))
    if profile is not None:
        profile.disable()
    wall = time.perf_counter() - start
    after = thread_cpu()
    n = len(timed)
    print(f"{n} requests, {wall / n * 1e6:.0f} us wall each; CPU per request:")
    for name, seconds in sorted(after.items(), key=lambda kv: -kv[1]):
        spent = seconds - before.get(name, 0.0)
        if spent > 0:
            print(f"  {name:24s} {spent / n * 1e6:8.0f} us")


def _expect_ok(answer: tuple[str, bytes]) -> None:
    status, body = answer
    assert status[:3] in ("200", "201", "204"), (status, body[:300])


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("requests", nargs="?", type=int, default=3000)
    ap.add_argument("--dialect", choices=sorted(DIALECTS), default="kairosdb")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=35)
    ap.add_argument(
        "--app-only",
        action="store_true",
        help="bind and route the coalesced rows but send nothing: the request "
        "thread's own CPU, alone on the GIL (and cProfile's figures undisturbed)",
    )
    args = ap.parse_args()
    with keyspace(args.cassandra, DATAPOINTS_SECRET_KEY=SECRET) as config:
        _run(config, args)


def _run(config: Config, args: Any) -> None:
    backend = CassandraBackend(config)
    app = create_app(config, backend)
    if args.app_only:
        coalescer = backend.points.context.coalescer
        session = coalescer.session
        coalescer.write = lambda rows: session.routed([r[:2] for r in rows])  # type: ignore[method-assign]
    try:
        requests = DIALECTS[args.dialect](app, backend, args.requests)
        profile = cProfile.Profile() if args.profile else None
        measure(app, requests, profile)
        if profile is not None:
            for order in ("tottime", "cumulative"):
                text = io.StringIO()
                stats = pstats.Stats(profile, stream=text).sort_stats(order)
                stats.print_stats(args.top)
                print(text.getvalue())
    finally:
        backend.close()


if __name__ == "__main__":
    main()

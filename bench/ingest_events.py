"""The events mode of the ingest benchmark (Liquid's collect API).

Raw ceiling: the same event rows inserted one per statement (as the service does: the
SDKs post one data point per request) with execute_concurrent, one process per core.
End to end: many users' data points posted one per request, as the SDKs do, by several
client processes; then (untimed) the sessions of a sample of users are read back and
checked against the runs of their timestamps.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import time
from typing import Any

from common import children, cpu_seconds, post_all_lean, server_pids

from service.dialects.liquid.parse import parse_data_point
from service.domain.projects import Directory, Keys
from service.domain.sessions import runs
from service.storage.cassandra import CassandraBackend
from service.storage.event_codec import COLUMNS, event_row

T0 = 1_700_000_000_000


def data_points(
    prefix: str, users: int, per_user: int, seed: int = 5
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for u in range(users):
        t = T0
        for i in range(per_user):
            t += rng.choice(
                [2_000, 20_000, 90_000, 400_000]
            )  # sessions of a few events
            stamp = dt.datetime.fromtimestamp(t / 1000, dt.UTC).isoformat(
                timespec="milliseconds"
            )
            out.append(
                {
                    "timestamp": stamp,
                    "user": {
                        "unique_id": f"{prefix}-u{u}",
                        "identified": True,
                        "age": 20 + u % 50,
                        "plan": "pro",
                    },
                    "device": {
                        "unique_id": f"{prefix}-d{u}",
                        "model": "iPhone9,3",
                        "platform": "iOS",
                        "system_version": "12.1",
                        "app_version": "3.2",
                    },
                    "event": {"name": "Open Screen", "screen": f"s{i % 7}", "index": i},
                }
            )
    rng.shuffle(out)  # users interleaved, as many phones would send them
    return out


def rows_of(project: str, points: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for p in points:
        rows.append(event_row(project, parse_data_point(p, now_ms=0), now))
    return rows


def _raw_worker(
    contact: str,
    ks: str,
    rows: list[tuple[Any, ...]],
    concurrency: int,
    go: Any,
    done: Any,
) -> None:
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.concurrent import execute_concurrent_with_args
    from cassandra.io.libevreactor import LibevConnection

    host, _, port = contact.partition(":")
    profile = ExecutionProfile(consistency_level=ConsistencyLevel.ONE)
    cluster = Cluster(
        [host],
        port=int(port),
        connection_class=LibevConnection,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    session = cluster.connect()
    insert = session.prepare(
        f"INSERT INTO {ks}.events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    go.wait()
    t0 = time.perf_counter()
    execute_concurrent_with_args(
        session, insert, rows, concurrency=concurrency, raise_on_first_error=True
    )
    done.put(time.perf_counter() - t0)
    cluster.shutdown()


def raw_ceiling(
    contact: str, ks: str, rows: list[tuple[Any, ...]], procs: int, concurrency: int
) -> float:
    ctx = multiprocessing.get_context("fork")
    go, done = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(
            target=_raw_worker,
            args=(contact, ks, rows[i::procs], concurrency, go, done),
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    time.sleep(2)  # connected and prepared
    t0 = time.perf_counter()
    go.set()
    for _ in workers:
        done.get(timeout=600)
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    return len(rows) / wall


def run(args: Any, config: Any, port: int, contact: str) -> tuple[float, float, Any]:
    backend = CassandraBackend(config)
    directory = Directory(backend.projects, Keys(config.secret()))
    project, key = directory.create("bench", session_gap=60)
    raw_points = data_points("raw", args.users, args.events_per_user, seed=1)
    rate_raw = raw_ceiling(
        contact,
        config.cassandra.keyspace,
        rows_of(project.id, raw_points),
        args.workers,
        args.raw_concurrency,
    )
    # Let Cassandra finish the flushes the raw burst started: on a shared 2-core box
    # they would otherwise be billed to the next phase.
    time.sleep(args.settle)
    svc_points = data_points("svc", args.users, args.events_per_user, seed=2)
    headers = {
        "Authorization": f"Token {key}",
        "Content-Type": "application/json",
        "Accept": "application/vnd.lqd.v1+json",
    }
    bodies = [
        ("/collect/data_points", json.dumps(p).encode(), headers) for p in svc_points
    ]
    workers = children(server_pids[port])
    before = {pid: cpu_seconds(pid) for pid in workers}
    load = post_all_lean(port, bodies, args.client_procs, args.clients)
    load.worker_cpu = [  # type: ignore[attr-defined]
        (cpu_seconds(pid) - before[pid]) / load.seconds for pid in workers
    ]
    assert load.failures == 0, f"{load.failures} requests failed"
    rate_svc = len(bodies) / load.seconds
    time.sleep(args.settle)
    # untimed: the sessions read back are the runs of what was posted
    from service.domain.events import EventService

    analytics = EventService(backend.events).analytics(project)
    for u in range(0, args.users, max(1, args.users // 20)):
        user = f"svc-u{u}"
        stamps = sorted(
            int(dt.datetime.fromisoformat(p["timestamp"]).timestamp() * 1000 + 0.5)
            for p in svc_points
            if p["user"]["unique_id"] == user
        )
        got = [(s.run.start, s.run.end, s.run.count) for s in analytics.sessions(user)]
        assert got == [(r.start, r.end, r.count) for r in runs(stamps, 60_000)], user
    backend.close()
    return rate_raw, rate_svc, load

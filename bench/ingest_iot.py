"""The IoT mode of the ingest benchmark (OneNET uploads, the shape of firmware traffic).

Many devices, a few datastreams each, one small upload per request (type=3: the
current value of each stream), each device with its own key. Raw ceiling: the same
data-point rows, one insert each, execute_concurrent, one process per core.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from typing import Any

import raw_blocks
from common import children, cpu_seconds, post_all_lean, server_pids

from service.datatypes import REGISTRY
from service.domain.projects import Directory, Keys
from service.records import canonical_tags, row_time, tag_hash
from service.storage.cassandra import CassandraBackend

STREAMS = ("temperature", "humidity", "pm25")


def uploads(
    devices: list[tuple[str, str]], per_device: int, seed: int
) -> list[tuple[str, str, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(per_device):
        for device_id, key in devices:
            out.append(
                (
                    device_id,
                    key,
                    {
                        "temperature": round(rng.uniform(-10, 40), 2),
                        "humidity": rng.randint(0, 100),
                        "pm25": rng.randint(0, 500),
                    },
                )
            )
    return out


def rows_of(
    project: str, items: list[tuple[str, str, dict[str, Any]]], width: int
) -> list[tuple[Any, ...]]:
    """The data_points rows those uploads make (each at its own millisecond)."""
    base = int(time.time() * 1000) - 10**7
    rows = []
    for n, (device_id, _, values) in enumerate(items):
        ts = base + n
        for stream, value in values.items():
            kind, parsed = (
                ("long", value) if isinstance(value, int) else ("double", value)
            )
            h = tag_hash(canonical_tags({"device_id": device_id}))
            rows.append(
                (
                    project,
                    stream,
                    h,
                    row_time(ts, width),
                    ts,
                    kind,
                    REGISTRY.get(kind).encode(parsed),
                    0,
                )
            )
    return rows


def _raw_worker(
    contact: str, ks: str, rows: list[tuple[Any, ...]], go: Any, done: Any
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
        f"INSERT INTO {ks}.raw_points (project, metric, tag_hash, row_time, ts, type, value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
    )
    go.wait()
    t0 = time.perf_counter()
    execute_concurrent_with_args(
        session, insert, rows, concurrency=64, raise_on_first_error=True
    )
    done.put(time.perf_counter() - t0)
    cluster.shutdown()


def raw_ceiling(
    contact: str, ks: str, rows: list[tuple[Any, ...]], procs: int
) -> float:
    # A table of its own with the per-point layout (one row a point: what a one-point
    # upload costs in any layout), so the ceiling does not depend on the service's
    # schema of the day.
    cluster = raw_blocks.connect(contact)
    try:
        cluster.connect().execute(raw_blocks.TABLES[0].format(ks=ks), timeout=120)
    finally:
        cluster.shutdown()
    ctx = multiprocessing.get_context("fork")
    go, done = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_raw_worker, args=(contact, ks, rows[i::procs], go, done))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    time.sleep(2)
    t0 = time.perf_counter()
    go.set()
    for _ in workers:
        done.get(timeout=600)
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    return len(rows) / wall


def run(
    args: Any, config: Any, port: int, contact: str, round_no: int
) -> tuple[float, float, float, Any]:
    backend = CassandraBackend(config)
    directory = Directory(backend.projects, Keys(config.secret()))
    project, key = directory.create(f"iot-{round_no}")
    import requests

    devices = []
    with requests.Session() as s:
        for i in range(args.devices):
            made = s.post(
                f"http://127.0.0.1:{port}/devices",
                json={"title": f"meter {i}"},
                headers={"api-key": key},
                timeout=30,
            ).json()
            devices.append((made["data"]["device_id"], made["data"]["key"]))
    raw_rows = rows_of(
        project.id,
        uploads(devices, args.uploads_per_device, seed=1),
        config.row_width_ms,
    )
    rate_raw = raw_ceiling(contact, config.cassandra.keyspace, raw_rows, args.workers)
    time.sleep(args.settle)
    items = uploads(devices, args.uploads_per_device, seed=2)
    bodies = [
        (
            f"/devices/{device_id}/datapoints?type=3",
            json.dumps(values).encode(),
            {"api-key": dev_key, "Content-Type": "application/json"},
        )
        for device_id, dev_key, values in items
    ]
    workers = children(server_pids[port])
    before = {pid: cpu_seconds(pid) for pid in workers}
    load = post_all_lean(port, bodies, args.client_procs, args.clients)
    load.worker_cpu = [  # type: ignore[attr-defined]
        (cpu_seconds(pid) - before[pid]) / load.seconds for pid in workers
    ]
    assert load.failures == 0, f"{load.failures} uploads failed"
    time.sleep(args.settle)
    backend.close()
    requests_per_s = len(bodies) / load.seconds
    return rate_raw, requests_per_s * len(STREAMS), requests_per_s, load

"""Pieces every benchmark shares: a throwaway keyspace, the server, HTTP load."""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.config import Config  # noqa: E402
from service.storage.cassandra import CassandraBackend  # noqa: E402
from service.storage.cassandra.session import Role  # noqa: E402


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )


@contextlib.contextmanager
def keyspace(contact: str, **env: str) -> Iterator[Config]:
    """A fresh keyspace with the current schema, dropped afterwards."""
    name = "bench_" + uuid.uuid4().hex[:8]
    config = Config.from_env(
        {
            "DATAPOINTS_STORE": f"cassandra://{contact}/{name}?consistency=ONE",
            "DATAPOINTS_DURABLE_WRITES": "true",
            **env,
        }
    )
    backend = CassandraBackend(config)
    backend.apply_schema()
    try:
        yield config
    finally:
        backend.session.execute(f"DROP KEYSPACE IF EXISTS {name}", role=Role.META)
        backend.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(config: Config, workers: int, threads: int = 4, **env: str) -> Iterator[int]:
    """`datapoints serve` on the keyspace; yields its port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATAPOINTS_STORE": config.store_url,
            "DATAPOINTS_BIND": f"127.0.0.1:{port}",
            "DATAPOINTS_WORKERS": str(workers),
            "DATAPOINTS_THREADS": str(threads),
            "DATAPOINTS_LOG_LEVEL": "WARNING",
            **env,
        },
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/health/check")
                if conn.getresponse().status == 204:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("datapoints serve did not come up")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


@dataclass
class Load:
    requests: int
    seconds: float
    latencies: list[float]
    failures: int

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def post_all(
    port: int,
    bodies: Sequence[tuple[str, bytes, dict[str, str]]],
    clients: int,
    expect: Callable[[int], bool] = lambda status: 200 <= status < 300,
) -> Load:
    """POST every (path, body, headers) once, from `clients` keep-alive connections."""
    lock = threading.Lock()
    queue = list(reversed(bodies))
    latencies: list[float] = []
    failures = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    return
                path, body, headers = queue.pop()
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if not expect(resp.status):
                    failures[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Load(len(bodies), time.perf_counter() - start, latencies, failures[0])

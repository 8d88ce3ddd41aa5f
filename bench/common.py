"""Pieces every benchmark shares: a throwaway keyspace, the server, HTTP load."""

from __future__ import annotations

import argparse
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.config import Config  # noqa: E402
from service.storage.cassandra import CassandraBackend  # noqa: E402


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, and ``--cassandra`` (the
    contact point, default $DATAPOINTS_TEST_CASSANDRA or 127.0.0.1:9042)."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--cassandra",
        default=os.environ.get("DATAPOINTS_TEST_CASSANDRA", "127.0.0.1:9042"),
    )
    return ap


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
        backend.session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
        backend.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


server_pids: dict[int, int] = {}


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
        server_pids[port] = proc.pid
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
    started: float = 0.0  # time.perf_counter() when the first request went out

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


def _post_share(
    args: tuple[int, list[tuple[str, bytes, dict[str, str]]], int, Any, Any],
) -> tuple[int, list[float]]:
    port, bodies, conns, go, _ = args
    go.wait()
    load = post_all(port, bodies, conns)
    return load.failures, load.latencies


def post_all_procs(
    port: int,
    bodies: Sequence[tuple[str, bytes, dict[str, str]]],
    procs: int,
    conns: int,
) -> Load:
    """post_all from several processes (small requests need more than one client
    process to load a server: one Python client tops out at a few thousand a second)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    manager = ctx.Manager()
    go = manager.Event()
    shares = [list(bodies[i::procs]) for i in range(procs)]
    with ctx.Pool(procs) as pool:
        pending = pool.map_async(
            _post_share, [(port, s, conns, go, None) for s in shares]
        )
        time.sleep(0.5)  # let every client process reach the start line
        start = time.perf_counter()
        go.set()
        results = pending.get(timeout=3600)
        seconds = time.perf_counter() - start
    manager.shutdown()
    latencies = [x for _, lats in results for x in lats]
    return Load(len(bodies), seconds, latencies, sum(f for f, _ in results))


def complete_response(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, the bytes after the body) once ``data`` holds a whole response (its
    length given by Content-Length); None while it does not."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if len(rest) < length:
        return None
    return head, rest[length:]


def _raw_share(args: tuple[int, list[bytes], int, Any]) -> tuple[int, list[float]]:
    """A lean HTTP/1.1 client: pre-built requests on keep-alive sockets, responses read
    just far enough to find their end. Its own CPU would otherwise count against the
    server on a small machine."""
    import select
    import socket as sk

    port, requests, conns, go = args
    socks = []
    for _ in range(conns):
        s = sk.create_connection(("127.0.0.1", port))
        s.setsockopt(sk.IPPROTO_TCP, sk.TCP_NODELAY, 1)
        socks.append(s)
        # Connections come one at a time, as separate clients would: a burst of
        # connects can all land on whichever gunicorn worker wakes first.
        time.sleep(0.05)
    go.wait()
    queue = list(reversed(requests))
    started: dict[Any, float] = {}
    buffers: dict[Any, bytes] = {s: b"" for s in socks}
    latencies: list[float] = []
    failures = 0
    for s in socks:
        if queue:
            s.sendall(queue.pop())
            started[s] = time.perf_counter()
    while started:
        ready, _, _ = select.select(list(started), [], [], 120)
        if not ready:
            raise RuntimeError("the server stopped answering")
        for s in ready:
            data = buffers[s] + s.recv(65536)
            whole = complete_response(data)
            if whole is None:
                buffers[s] = data
                continue
            head, buffers[s] = whole
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                failures += 1
            latencies.append(time.perf_counter() - started.pop(s))
            if queue:
                s.sendall(queue.pop())
                started[s] = time.perf_counter()
    for s in socks:
        s.close()
    return failures, latencies


def post_all_lean(
    port: int,
    bodies: Sequence[tuple[str, bytes, dict[str, str]]],
    procs: int,
    conns: int,
) -> Load:
    """POST every body once from `procs` processes x `conns` connections each."""
    import multiprocessing

    requests = []
    for path, body, headers in bodies:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"{head}\r\n".encode()
            + body
        )
    ctx = multiprocessing.get_context("fork")
    manager = ctx.Manager()
    go = manager.Event()
    with ctx.Pool(procs) as pool:
        pending = pool.map_async(
            _raw_share, [(port, requests[i::procs], conns, go) for i in range(procs)]
        )
        time.sleep(0.5 + 0.05 * conns)
        start = time.perf_counter()
        go.set()
        results = pending.get(timeout=3600)
        seconds = time.perf_counter() - start
    manager.shutdown()
    latencies = [x for _, lats in results for x in lats]
    return Load(len(bodies), seconds, latencies, sum(f for f, _ in results), start)


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each thread of this process, by Python thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task), f"native {task}")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct child processes of pid (gunicorn's workers under its master)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out

"""Small-request latency through `datapoints serve`: the serving layer's own cost.

    python bench/small_requests.py [--requests 6000] [--rounds 3]

The service runs on the embedded store (no Cassandra needed) with 2 workers x 4
threads, and three kinds of small requests are sent by a lean client (2 processes x 4
connections): `GET /api/v1/version` on kept-alive connections, the same on a new
connection per request, and a one-point KairosDB `POST /api/v1/datapoints` on kept-alive
connections. Requests/s and p50/p99 latency per kind; every answer must be a 2xx.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import select
import socket
import statistics
import tempfile
import time
from typing import Any

from common import (
    Load,
    children,
    complete_response,
    cpu_seconds,
    machine,
    server,
    server_pids,
)

from service.config import Config


def _share(args: tuple[int, list[bytes], int, bool, Any]) -> tuple[int, list[float]]:
    port, requests, conns, reconnect, go = args
    socks: dict[socket.socket, float] = {}
    buffers: dict[socket.socket, bytes] = {}
    latencies: list[float] = []
    failures = 0
    queue = list(reversed(requests))

    def send(s: socket.socket | None) -> None:
        if s is None or reconnect:
            if s is not None:
                s.close()
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffers[s] = b""
        socks[s] = time.perf_counter()
        s.sendall(queue.pop())

    go.wait()
    for _ in range(conns):
        if queue:
            send(None)
    while socks:
        ready, _, _ = select.select(list(socks), [], [], 60)
        if not ready:
            raise RuntimeError("the server stopped answering")
        for s in ready:
            data = buffers[s] + s.recv(65536)
            whole = complete_response(data)
            if whole is None:
                buffers[s] = data
                continue
            head, _ = whole
            started = socks.pop(s)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                failures += 1
            if queue:
                send(s)
            else:
                s.close()
    return failures, latencies


def run(port: int, request: bytes, count: int, *, reconnect: bool) -> Load:
    ctx = multiprocessing.get_context("fork")
    manager = ctx.Manager()
    go = manager.Event()
    procs, conns = 2, 4
    with ctx.Pool(procs) as pool:
        pending = pool.map_async(
            _share,
            [(port, [request] * (count // procs), conns, reconnect, go)] * procs,
        )
        time.sleep(0.5)
        start = time.perf_counter()
        go.set()
        results = pending.get(timeout=600)
        seconds = time.perf_counter() - start
    manager.shutdown()
    latencies = [x for _, lats in results for x in lats]
    return Load(len(latencies), seconds, latencies, sum(f for f, _ in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    point = json.dumps(
        [
            {
                "name": "bench.small",
                "timestamp": 1_700_000_000_000,
                "value": 1,
                "tags": {"host": "a"},
            }
        ]
    ).encode()
    kinds = {
        "GET version, keep-alive": (
            b"GET /api/v1/version HTTP/1.1\r\nHost: b\r\n\r\n",
            False,
        ),
        "GET version, new connection": (
            b"GET /api/v1/version HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
            True,
        ),
        "POST 1 point, keep-alive": (
            b"POST /api/v1/datapoints HTTP/1.1\r\nHost: b\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(point)}\r\n\r\n".encode()
            + point,
            False,
        ),
    }
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env({"DATAPOINTS_STORE": f"sqlite:///{tmp}/bench.db"})
        with server(
            config, workers=2, threads=4, DATAPOINTS_SECRET_KEY="b" * 32
        ) as port:
            workers = children(server_pids[port])
            results: dict[str, list[tuple[Load, float]]] = {k: [] for k in kinds}
            for _ in range(args.rounds):
                for name, (request, reconnect) in kinds.items():
                    cpu = sum(cpu_seconds(w) for w in workers)
                    load = run(port, request, args.requests, reconnect=reconnect)
                    cpu = sum(cpu_seconds(w) for w in workers) - cpu
                    if load.failures:
                        raise RuntimeError(f"{name}: {load.failures} non-2xx answers")
                    results[name].append((load, cpu / load.requests))
    for name, rounds in results.items():
        loads = [x for x, _ in rounds]
        rate = statistics.median(x.requests / x.seconds for x in loads)
        p50 = statistics.median(x.percentile(50) for x in loads) * 1000
        p99 = statistics.median(x.percentile(99) for x in loads) * 1000
        cpu_us = statistics.median(c for _, c in rounds) * 1e6
        print(
            f"{name:30s} {rate:6.0f} req/s  p50 {p50:5.2f} ms  p99 {p99:6.2f} ms  "
            f"server CPU {cpu_us:5.0f} us/request"
        )


if __name__ == "__main__":
    main()

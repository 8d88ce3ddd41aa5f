"""The floor of each way of serving: requests/s and CPU per request of a Falcon app that
does nothing, under gunicorn with each worker class, from the same lean client
(issue 12: measured before choosing the worker class).

    PYTHONPATH=$PWD .venv/bin/python bench/serving_floor.py [--requests 20000]

Options that need packages the service does not (uvicorn's worker) are skipped with a
note when missing: `pip install uvicorn uvicorn-worker` (and `uvloop httptools` for
the fast event loop and parser). Every option runs 2 worker processes, the service's
default on this machine, and gets the same one-event body (a Liquid collect post)
over keep-alive connections from 2 client processes.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from common import ROOT, children, cpu_seconds, free_port, machine, post_all_lean

BODY = (
    b'{"user":{"unique_id":"u-123"},"device":{"unique_id":"d-9","platform":"iOS"},'
    b'"event":{"name":"open","attributes":{"screen":"home"}},'
    b'"timestamp":"2026-12-02T08:00:00Z"}'
)
HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Option:
    name: str
    args: tuple[str, ...]
    needs: tuple[str, ...] = ()


# (gunicorn's sync worker is left out: it closes every connection after one response
# and serves one at a time, so keep-alive clients, as every SDK here is, queue behind it)
OPTIONS = [
    Option(
        "gthread, 4 threads (WSGI, the service's today)",
        ("-k", "gthread", "--threads", "4", "noop_apps:wsgi_app"),
    ),
    Option(
        "gthread, 16 threads (WSGI)",
        ("-k", "gthread", "--threads", "16", "noop_apps:wsgi_app"),
    ),
    Option(
        "uvicorn-worker, asyncio + h11 (ASGI)",
        (
            "-k",
            "uvicorn_worker.UvicornH11Worker",
            "noop_apps:asgi_app",
        ),
        ("uvicorn", "uvicorn_worker"),
    ),
    Option(
        "uvicorn-worker, uvloop + httptools (ASGI)",
        ("-k", "uvicorn_worker.UvicornWorker", "noop_apps:asgi_app"),
        ("uvicorn", "uvicorn_worker", "uvloop", "httptools"),
    ),
]


@contextlib.contextmanager
def gunicorn(option: Option, workers: int) -> Iterator[tuple[int, int]]:
    """gunicorn serving the option's app; yields (master pid, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--chdir",
            str(ROOT / "bench"),
            *option.args,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "bench")},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/noop", body=b"{}")
                if conn.getresponse().status == 204:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{option.name} did not come up")
            time.sleep(0.2)
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(30)


def tree_cpu(pid: int) -> float:
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in children(pid))


def measure(option: Option, requests: int, conns: int) -> tuple[float, float, float]:
    """(requests/s, server CPU µs per request, p99 ms) of one round."""
    bodies = [("/noop", BODY, HEADERS)] * requests
    with gunicorn(option, workers=2) as (pid, port):
        post_all_lean(port, bodies[: requests // 10], 2, conns // 2)  # warm up
        before = tree_cpu(pid)
        load = post_all_lean(port, bodies, 2, conns // 2)
        cpu = tree_cpu(pid) - before
    if load.failures:
        raise RuntimeError(f"{option.name}: {load.failures} requests failed")
    return requests / load.seconds, cpu / requests * 1e6, load.percentile(99) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(machine())
    runnable = []
    for option in OPTIONS:
        missing = [m for m in option.needs if importlib.util.find_spec(m) is None]
        if missing:
            print(f"skipped {option.name}: not installed: {', '.join(missing)}")
        else:
            runnable.append(option)
    figures: dict[str, list[tuple[float, float, float]]] = {
        o.name: [] for o in runnable
    }
    for r in range(args.rounds):  # alternating rounds, so drift hits every option
        for option in runnable if r % 2 == 0 else runnable[::-1]:
            figures[option.name].append(
                measure(option, args.requests, args.connections)
            )
    print(
        f"\n{args.requests} requests a round, {args.connections} connections, "
        f"medians of {args.rounds} rounds\n"
    )
    print("| option | requests/s | server CPU µs a request | p99 ms |")
    print("| --- | --- | --- | --- |")
    for name, rows in figures.items():
        rps, cpu, p99 = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"| {name} | {rps:,.0f} | {cpu:,.0f} | {p99:.1f} |")


if __name__ == "__main__":
    main()

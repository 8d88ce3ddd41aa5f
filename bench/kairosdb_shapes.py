"""Requests for bench/vs_kairosdb.py: the same bodies and queries for both servers,
and the comparison of their query answers."""

from __future__ import annotations

import http.client
import json
import math
import random
import time
from typing import Any

import numpy as np
import ujson

BASE = 1_700_000_000_000
HEADERS = {"Content-Type": "application/json"}
WRITE = "/api/v1/datapoints"
QUERY = "/api/v1/datapoints/query"

Body = tuple[str, bytes, dict[str, str]]


def _walk(rng: random.Random, start: float, n: int) -> list[float]:
    """A random walk of doubles with 3 decimals (as a sensor sends them)."""
    steps = np.random.default_rng(rng.getrandbits(64)).normal(0, 1, n)
    return [float(v) for v in np.round(start + np.cumsum(steps), 3).tolist()]


def big_bodies(metric: str, requests: int, seed: int) -> tuple[list[Body], int, int]:
    """100 series x 100 points per request. Series come in 10 groups of 100 hosts;
    request i writes group i % 10, the next 100 seconds of it. Returns the bodies,
    the points and the last timestamp."""
    rng = random.Random(seed)
    last = {s: rng.uniform(0, 100) for s in range(1000)}
    bodies, end = [], BASE
    for i in range(requests):
        group, window = i % 10, i // 10
        metrics = []
        for s in range(group * 100, group * 100 + 100):
            values = _walk(rng, last[s], 100)
            last[s] = values[-1]
            t0 = BASE + window * 100_000
            points = [[t0 + j * 1000, v] for j, v in enumerate(values)]
            end = max(end, t0 + 99_000)
            tags = {"host": f"h{s:04d}", "dc": f"dc{s % 4}"}
            metrics.append({"name": metric, "tags": tags, "datapoints": points})
        bodies.append((WRITE, ujson.dumps(metrics).encode(), HEADERS))
    return bodies, requests * 10_000, end


def small_bodies(metric: str, requests: int, seed: int) -> tuple[list[Body], int, int]:
    """1 series x 1-10 points per request, over 100 devices (as IoT clients flush)."""
    rng = random.Random(seed)
    next_ts = {s: BASE for s in range(100)}
    last = {s: rng.uniform(0, 100) for s in range(100)}
    bodies, total = [], 0
    for i in range(requests):
        s = i % 100
        n = rng.randint(1, 10)
        values = _walk(rng, last[s], n)
        last[s] = values[-1]
        points = [[next_ts[s] + j * 1000, v] for j, v in enumerate(values)]
        next_ts[s] += n * 1000
        total += n
        tags = {"host": f"d{s:03d}", "dc": f"dc{s % 4}"}
        body = [{"name": metric, "tags": tags, "datapoints": points}]
        bodies.append((WRITE, ujson.dumps(body).encode(), HEADERS))
    return bodies, total, max(next_ts.values())


def query_data(metric: str, points: int, seed: int) -> tuple[list[Body], int, int]:
    """10 series x `points` points, 1 s apart; hosts h0..h9, dc0 for the even ones.
    Requests of 10 series x 1,000 points."""
    rng = random.Random(seed)
    last = [rng.uniform(0, 100) for _ in range(10)]
    bodies = []
    for i in range(0, points, 1000):
        n = min(1000, points - i)
        metrics = []
        for s in range(10):
            values = _walk(rng, last[s], n)
            last[s] = values[-1]
            pts = [[BASE + (i + j) * 1000, v] for j, v in enumerate(values)]
            tags = {"host": f"h{s}", "dc": f"dc{s % 2}"}
            metrics.append({"name": metric, "tags": tags, "datapoints": pts})
        bodies.append((WRITE, ujson.dumps(metrics).encode(), HEADERS))
    return bodies, 10 * points, BASE + (points - 1) * 1000


def queries(metric: str, end: int) -> dict[str, dict[str, Any]]:
    """The three queries, on the data of query_data."""
    span = {"start_absolute": BASE, "end_absolute": end}

    def agg(name: str, value: int, unit: str) -> dict[str, Any]:
        return {"name": name, "sampling": {"value": value, "unit": unit}}

    return {
        "raw one series": {
            **span,
            "metrics": [{"name": metric, "tags": {"host": "h0"}}],
        },
        "avg/min, 10 series": {
            **span,
            "metrics": [{"name": metric, "aggregators": [agg("avg", 1, "minutes")]}],
        },
        "filter+group_by host, max/h": {
            **span,
            "metrics": [
                {
                    "name": metric,
                    "tags": {"dc": "dc0"},
                    "group_by": [{"name": "tag", "tags": ["host"]}],
                    "aggregators": [agg("max", 1, "hours")],
                }
            ],
        },
    }


def count_query(metric: str, end: int) -> bytes:
    """count over the whole range of every series of the metric, in one range."""
    return json.dumps(
        {
            "start_absolute": BASE,
            "end_absolute": end,
            "metrics": [
                {
                    "name": metric,
                    "aggregators": [
                        {"name": "count", "sampling": {"value": 100, "unit": "years"}}
                    ],
                }
            ],
        }
    ).encode()


def post(port: int, path: str, body: bytes, timeout: float = 600) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=HEADERS)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def count(port: int, metric: str, end: int) -> int:
    status, data = post(port, QUERY, count_query(metric, end))
    if status != 200:
        return -1
    return sum(
        int(v[1])
        for q in json.loads(data)["queries"]
        for r in q["results"]
        for v in r["values"]
    )


def wait_readable(
    port: int, metric: str, end: int, expected: int, limit: float
) -> float:
    """Seconds until a count query returns every point written (inf past `limit`)."""
    t0 = time.perf_counter()
    while True:
        if count(port, metric, end) >= expected:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > limit:
            return math.inf
        time.sleep(0.05)


def _key(result: dict[str, Any]) -> str:
    tags = {k: sorted(v) for k, v in result.get("tags", {}).items()}
    return json.dumps(
        [result.get("name"), result.get("group_by"), tags], sort_keys=True
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _diff_values(key: str, va: list[Any], vb: list[Any]) -> list[str]:
    if len(va) != len(vb):
        return [f"{key}: {len(va)} values vs {len(vb)}"]
    for (ta, xa), (tb, xb) in zip(va, vb, strict=True):
        if ta != tb or not _same(xa, xb):
            return [f"{key}: first difference [{ta}, {xa}] vs [{tb}, {xb}]"]
    return []


def mismatches(a: bytes, b: bytes) -> list[str]:
    """How two query answers differ: results matched by name, group_by and tags;
    same timestamps, values equal (numbers within 1e-9 relative)."""
    qa, qb = json.loads(a)["queries"], json.loads(b)["queries"]
    out = []
    for x, y in zip(qa, qb, strict=True):
        ra = {_key(r): r["values"] for r in x["results"]}
        rb = {_key(r): r["values"] for r in y["results"]}
        for key in sorted(ra.keys() ^ rb.keys()):
            out.append(f"only in {'first' if key in ra else 'second'}: {key}")
        for key in sorted(ra.keys() & rb.keys()):
            out.extend(_diff_values(key, ra[key], rb[key]))
        if x.get("sample_size") != y.get("sample_size"):
            out.append(f"sample_size {x.get('sample_size')} vs {y.get('sample_size')}")
    return out

"""A 10M-point aggregation in bounded memory (issue 11): one worker's peak RSS.

    PYTHONPATH=$PWD python bench/big_aggregation.py [--quick] [--points 10000000]
        [--series 10] [--cassandra 127.0.0.1:9042] [--target-mb 300] [--json out.json]

1. load: `datapoints serve` (default workers) on a fresh keyspace takes SERIES series x
   POINTS/SERIES points, 1 s apart, through KairosDB's `POST /api/v1/datapoints` in
   requests of 100,000 points (so it works with any storage layout); then
   `datapoints compact run --all-now` when this version has that command;
2. query: a fresh `datapoints serve` with ONE worker answers an `avg` per minute over all
   the series (one result, every point read); its worker's peak RSS is VmHWM from
   /proc (reset through clear_refs just before the query, so it is the query's peak, and
   sampled every 0.1 s in case the worker is replaced);
3. check: the answer against the same average computed with numpy while the points were
   generated (every bucket, values within 1e-9 relative).

Target: worker peak RSS <= 300 MB (10^6 bytes) for 10M points. `--quick` is 1M points.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ujson
from common import children, keyspace, machine, server, server_pids
from compaction import compact

ROOT = Path(__file__).resolve().parents[1]
# A whole minute, so buckets of a query starting here are minutes of the clock.
BASE = 1_700_000_040_000
MINUTE = 60_000
PER_REQUEST = 100_000
METRIC = "bigagg"
HEADERS = {"Content-Type": "application/json"}
WRITE = "/api/v1/datapoints"
QUERY = "/api/v1/datapoints/query"


def log(message: str) -> None:
    print(
        f"[big_aggregation {time.strftime('%H:%M:%S')}] {message}",
        file=sys.stderr,
        flush=True,
    )


class Expected:
    """The answer, accumulated with numpy while the points are generated: per minute
    bucket the sum and the count of every series' values."""

    def __init__(self, buckets: int) -> None:
        self.sums = np.zeros(buckets)
        self.counts = np.zeros(buckets, dtype=np.int64)

    def add(self, ts: np.ndarray, values: np.ndarray) -> None:
        b = (ts - BASE) // MINUTE
        n = len(self.sums)
        self.sums += np.bincount(b, weights=values, minlength=n)
        self.counts += np.bincount(b, minlength=n)

    def answer(self) -> tuple[np.ndarray, np.ndarray]:
        """(bucket start timestamps, averages) of the buckets holding points."""
        keep = self.counts > 0
        starts = BASE + np.arange(len(self.sums), dtype=np.int64) * MINUTE
        return starts[keep], self.sums[keep] / self.counts[keep]


def bodies(
    series: int, per_series: int, expected: Expected
) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """Requests of PER_REQUEST points: every series' next slice of time, values a
    random walk with 3 decimals (as a sensor sends them)."""
    rng = np.random.default_rng(11)
    last = rng.uniform(0, 100, series)
    chunk = max(1, PER_REQUEST // series)
    for i in range(0, per_series, chunk):
        n = min(chunk, per_series - i)
        ts = BASE + (i + np.arange(n, dtype=np.int64)) * 1000
        metrics = []
        for s in range(series):
            values = np.round(last[s] + np.cumsum(rng.normal(0, 1, n)), 3)
            last[s] = values[-1]
            expected.add(ts, values)
            points = np.column_stack([ts.astype(object), values.astype(object)])
            metrics.append(
                {
                    "name": METRIC,
                    "tags": {"host": f"h{s}"},
                    "datapoints": points.tolist(),
                }
            )
        yield WRITE, ujson.dumps(metrics).encode(), HEADERS


def load(port: int, series: int, per_series: int, expected: Expected) -> float:
    """Posts every body from 3 keep-alive connections while the next bodies are
    made (at most a few held at once, so the client stays small); seconds."""
    import http.client
    import queue

    todo: queue.Queue[tuple[str, bytes, dict[str, str]] | None] = queue.Queue(6)
    failures: list[str] = []
    posted = [0]

    def poster() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while (item := todo.get()) is not None:
            path, body, headers = item
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status >= 300:
                    failures.append(f"HTTP {resp.status}: {data[:200]!r}")
            except OSError as e:
                failures.append(repr(e))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            posted[0] += 1
            if posted[0] % 10 == 0:
                log(f"  {posted[0] * PER_REQUEST:,} points posted")

    threads = [threading.Thread(target=poster) for _ in range(3)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for body in bodies(series, per_series, expected):
        todo.put(body)
    for _ in threads:
        todo.put(None)
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} load requests failed: {failures[0]}")
    return time.perf_counter() - t0


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class HwmSampler:
    """The highest VmHWM of a worker seen every `every` s (reading /proc from a
    thread: no process is forked meanwhile)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid, self.every, self.peak_kb = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmHWM"))
            self._stop.wait(self.every)

    def __enter__(self) -> HwmSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmHWM"))
        self._stop.set()
        self._thread.join()


def post_query(port: int, end: int) -> tuple[int, bytes, float]:
    import http.client

    body = {
        "start_absolute": BASE,
        "end_absolute": end,
        "metrics": [
            {
                "name": METRIC,
                "aggregators": [
                    {"name": "avg", "sampling": {"value": 1, "unit": "minutes"}}
                ],
            }
        ],
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    t0 = time.perf_counter()
    conn.request("POST", QUERY, body=json.dumps(body), headers=HEADERS)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data, time.perf_counter() - t0


def check(data: bytes, expected: Expected) -> list[str]:
    """How the answer differs from numpy's (empty when it does not)."""
    results = json.loads(data)["queries"][0]["results"]
    if len(results) != 1:
        return [f"{len(results)} results, expected 1"]
    values = results[0]["values"]
    ts = np.array([v[0] for v in values], dtype=np.int64)
    got = np.array([v[1] for v in values], dtype=np.float64)
    want_ts, want = expected.answer()
    if len(got) != len(want):
        return [f"{len(got)} buckets, expected {len(want)}"]
    out = []
    if not np.array_equal(ts, want_ts):
        i = int(np.argmax(ts != want_ts))
        out.append(f"bucket {i}: timestamp {ts[i]}, expected {want_ts[i]}")
    close = np.isclose(got, want, rtol=1e-9, atol=1e-9)
    if not close.all():
        i = int(np.argmin(close))
        out.append(f"bucket {i}: avg {got[i]!r}, expected {want[i]!r}")
    return out


def measure(
    contact: str, points: int, series: int, target_mb: float = 300.0
) -> dict[str, Any]:
    """Load, compact, query with one worker; the figures (see the module doc)."""
    per_series = points // series
    total = per_series * series
    end = BASE + (per_series - 1) * 1000
    expected = Expected((per_series - 1) * 1000 // MINUTE + 1)
    with keyspace(contact) as config:
        with server(config, workers=2, threads=4) as port:
            log(f"loading {total:,} points ({series} series) over HTTP")
            load_s = load(port, series, per_series, expected)
        log(f"loaded in {load_s:.0f} s ({total / load_s:,.0f} points/s)")
        compaction = compact(config.store_url).note
        log(compaction)
        with server(config, workers=1, threads=2) as port:
            workers = children(server_pids[port])
            if len(workers) != 1:
                raise RuntimeError(f"expected one worker, found {workers}")
            worker = workers[0]
            rss_before = status_kb(worker, "VmRSS")
            # Reset the high-water mark so VmHWM is this query's peak, not start-up's.
            with (
                contextlib.suppress(OSError),
                open(f"/proc/{worker}/clear_refs", "w") as f,
            ):
                f.write("5")
            with HwmSampler(worker) as hwm:
                status, data, seconds = post_query(port, end)
            alive = Path(f"/proc/{worker}").exists()
    diffs = (
        check(data, expected) if status == 200 else [f"HTTP {status}: {data[:300]!r}"]
    )
    peak_mb = hwm.peak_kb * 1024 / 1e6
    return {
        "points": total,
        "series": series,
        "load_s": load_s,
        "compaction": compaction,
        "query_s": seconds,
        "status": status,
        "rss_before_MB": rss_before * 1024 / 1e6,
        "peak_rss_MB": peak_mb,
        "worker_survived": alive,
        "target_MB": target_mb,
        "correct": not diffs,
        "differences": diffs,
        "pass": bool(status == 200 and not diffs and alive and peak_mb <= target_mb),
    }


def report(res: dict[str, Any]) -> None:
    print(
        f"\n{res['points']:,}-point avg per minute ({res['series']} series), one worker:"
        f"\n  load over HTTP            {res['load_s']:,.0f} s"
        f"\n  {res['compaction']}"
        f"\n  query                     {res['query_s']:,.1f} s, HTTP {res['status']}"
        f"\n  worker RSS before         {res['rss_before_MB']:,.0f} MB"
        f"\n  worker peak RSS (VmHWM)   {res['peak_rss_MB']:,.0f} MB"
        f" (target <= {res['target_MB']:,.0f} MB)"
        + ("" if res["worker_survived"] else "  WORKER DIED")
        + f"\n  answer vs numpy           {'identical' if res['correct'] else 'DIFFERS'}"
    )
    for d in res["differences"][:5]:
        print(f"    {d}")
    print(f"  {'PASS' if res['pass'] else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cassandra", default="127.0.0.1:9042")
    ap.add_argument("--points", type=int, help="default 10,000,000 (quick 1,000,000)")
    ap.add_argument("--series", type=int, default=10)
    ap.add_argument("--target-mb", type=float, default=300.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    points = a.points or (1_000_000 if a.quick else 10_000_000)
    print(f"big_aggregation on {machine()}")
    res = measure(a.cassandra, points, a.series, a.target_mb)
    report(res)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
    if not math.isfinite(res["peak_rss_MB"]):
        sys.exit(1)


if __name__ == "__main__":
    main()

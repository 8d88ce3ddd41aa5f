"""Ingest latency and worker memory while many large queries run at once (issue 9).

    python bench/heavy_queries.py [--points 500000] [--queries 40] [--ingests 60]

Loads one series of `--points` points (1 s apart) into a fresh keyspace, starts
`datapoints serve` (2 workers x 4 threads), fires `--queries` concurrent raw queries of
the whole series, and meanwhile sends one-point KairosDB writes one after another,
0.1 s apart. Prints the writes' latency, the queries' answers (200 or 503) and the
workers' peak resident memory (sampled every 50 ms).
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import arguments, children, keyspace, machine, server, server_pids
from query import BASE, load


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def post(port: int, path: str, body: bytes, timeout: float) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, time.perf_counter() - start


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--points", type=int, default=500_000)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--ingests", type=int, default=60)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with keyspace(args.cassandra) as config:
        t0 = time.perf_counter()
        load(config, "bulk", 1, args.points, 1000)
        print(f"loaded {args.points} points in {time.perf_counter() - t0:.0f} s")
        query = json.dumps(
            {
                "start_absolute": BASE,
                "end_absolute": BASE + args.points * 1000,
                "metrics": [{"name": "bulk"}],
            }
        ).encode()
        with server(config, workers=2, threads=4) as port:
            workers = children(server_pids[port])
            peak = {w: rss_mib(w) for w in workers}
            idle = dict(peak)
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    for w in workers:
                        peak[w] = max(peak[w], rss_mib(w))

            sampler = threading.Thread(target=sample)
            sampler.start()
            start = time.perf_counter()
            with ThreadPoolExecutor(args.queries) as pool:
                futures = [
                    pool.submit(post, port, "/api/v1/datapoints/query", query, 600)
                    for _ in range(args.queries)
                ]
                time.sleep(0.5)
                latencies = []
                for i in range(args.ingests):
                    body = json.dumps(
                        [
                            {
                                "name": "ingest",
                                "tags": {"h": "a"},
                                "datapoints": [[BASE + i, i]],
                            }
                        ]
                    ).encode()
                    status, seconds = post(port, "/api/v1/datapoints", body, 600)
                    if status != 204:
                        raise RuntimeError(f"ingest answered {status}")
                    latencies.append(seconds)
                    time.sleep(0.1)
                answers = [f.result() for f in futures]
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
    ordered = sorted(latencies)
    statuses = {s: sum(1 for a, _ in answers if a == s) for s, _ in answers}
    print(
        f"ingest while {args.queries} queries of {args.points} points run: "
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, "
        f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )
    print(
        f"queries: {statuses} in {elapsed:.1f} s; a 200 took "
        f"{max((s for a, s in answers if a == 200), default=0):.1f} s at most"
    )
    for w in workers:
        print(f"worker {w}: {idle[w]:.0f} MiB idle, {peak[w]:.0f} MiB at peak")


if __name__ == "__main__":
    main()

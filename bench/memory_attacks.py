"""Memory attacks on `datapoints serve` (issue 9): what each one costs a worker.

    python bench/memory_attacks.py [--workers 2] [--threads 4] [--only NAME ...]

Starts `datapoints serve` on a temporary SQLite store with the default limits (plus
whatever DATAPOINTS_* variables the environment sets) and sends, one attack at a time,
to KairosDB's `POST /api/v1/datapoints`:

* bomb: a ~61 KB gzip of 21 million `[]` (63 MB of JSON);
* 3.5M points: one metric with 3.5 million points, an ~8.8 MB gzip (63 MB of JSON);
* 8 x 3.5M points: eight of those at once;
* largest valid: 500,000 points (DATAPOINTS_MAX_POINTS), the largest write the
  default limits accept, gzipped;
* 8 x largest valid: eight of those at once;
* worst decodable: the most memory one body can cost within the limits (every JSON
  value allowed, and one long string past U+FFFF), answered 400 after decoding.

Each attack gets a fresh server. For each: the answers (status, body size,
Retry-After, the start of the message), the wall time, and every worker's peak RSS
growth: /proc/PID/clear_refs resets the kernel's high-water mark before the attack,
so VmHWM after it minus VmRSS before it is what the attack cost. Settings come from
the environment (e.g. DATAPOINTS_WORKER_BODY_BUDGET=536870912 to see the budget's
503s). The embedded store takes one writer at a time, so concurrent large writes
may also get its own 503 ("The embedded store is busy"). Needs Linux; no Cassandra.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from common import machine, server, server_pids

from service.config import Config, Limits

PATH = "/api/v1/datapoints"
GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
BASE_TS = 1_359_788_400_000


def bomb() -> bytes:
    n = 21_000_000
    return gzip.compress(b"[" + b"[]," * (n - 1) + b"[]]", 9)


def points(n: int) -> bytes:
    # 18 bytes a point, so 3.5M points are 63 MB: just under the 64 MiB default
    # for decompressed bodies, which is what made this attack cost 624 MiB.
    rows = b",".join(b"[%d,%d]" % (BASE_TS + i, i % 10) for i in range(n))
    head = b'[{"name":"attack.%d","tags":{"h":"a"},"datapoints":[' % n
    return gzip.compress(head + rows + b"]}]", 6)


def worst(limits: Limits) -> bytes:
    """The most memory one decodable body can cost within the limits: all the JSON
    values allowed (as one-key objects, the costliest per value) and a string that
    fills the rest of the decompressed limit, one emoji making it 4 bytes a char."""
    objects = (limits.json_values - 10) // 3
    head = b"[" + b'{"ab":1.5},' * objects
    fill = limits.max_decompressed_bytes - len(head) - 100
    text = b'"' + b"a" * (fill - 4) + "\U0001f600".encode() + b'"]'
    return gzip.compress(head + text, 6)


@dataclass
class Answer:
    status: int
    size: int
    retry_after: str | None
    seconds: float
    says: str = ""


def send(port: int, body: bytes) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    t0 = time.perf_counter()
    try:
        conn.request("POST", PATH, body=body, headers=GZIP)
        resp = conn.getresponse()
        data = resp.read()
        return Answer(
            resp.status,
            len(data),
            resp.getheader("Retry-After"),
            time.perf_counter() - t0,
            data[:70].decode("utf-8", "replace") if resp.status >= 300 else "",
        )
    except OSError:
        return Answer(0, 0, None, time.perf_counter() - t0)  # connection lost
    finally:
        conn.close()


def at_once(port: int, body: bytes, n: int) -> list[Answer]:
    answers: list[Answer] = []
    lock = threading.Lock()

    def one() -> None:
        answer = send(port, body)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def workers(master: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == master:
            found.append(int(entry.name))
    return sorted(found)


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def measure(
    pids: list[int], attack: Callable[[], list[Answer]]
) -> tuple[list[Answer], dict[int, float], float]:
    before = {}
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to VmRSS
        before[pid] = kib(pid, "VmRSS")
    t0 = time.perf_counter()
    answers = attack()
    seconds = time.perf_counter() - t0
    growth = {}
    for pid in pids:
        try:
            growth[pid] = (kib(pid, "VmHWM") - before[pid]) / 1024
        except OSError:
            growth[pid] = float("nan")  # the worker died
    return answers, growth, seconds


def summary(answers: list[Answer]) -> str:
    counts = Counter(
        (a.status, a.size, a.retry_after, a.says)
        for a in sorted(answers, key=lambda a: a.status)
    )
    parts = []
    for (status, size, retry, says), n in counts.items():
        retry_text = f", Retry-After {retry}" if retry else ""
        says_text = f" `{says}...`" if says else ""
        label = f"{status} ({size:,} B{retry_text}){says_text}"
        label = label if status else "connection lost"
        parts.append(f"{n} x {label}" if n > 1 else label)
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", nargs="*", help="attack names to run")
    args = parser.parse_args()
    print(f"# memory attacks, {machine()}")
    print("building bodies...", flush=True)
    limits = Config.from_env().limits
    bodies = {
        "bomb": bomb(),
        "3.5M points": points(3_500_000),
        "largest valid": points(limits.max_points_per_request),
        "worst decodable": worst(limits),
    }
    for name, body in bodies.items():
        print(f"  {name}: {len(body):,} bytes gzipped", flush=True)
    attacks: dict[str, Callable[[int], list[Answer]]] = {
        "bomb": lambda port: [send(port, bodies["bomb"])],
        "3.5M points": lambda port: [send(port, bodies["3.5M points"])],
        "8 x 3.5M points": lambda port: at_once(port, bodies["3.5M points"], 8),
        "largest valid": lambda port: [send(port, bodies["largest valid"])],
        "8 x largest valid": lambda port: at_once(port, bodies["largest valid"], 8),
        "worst decodable": lambda port: [send(port, bodies["worst decodable"])],
    }
    print(f"{args.workers} workers x {args.threads} threads, a fresh server each")
    print()
    print("| attack | answers | wall time | peak RSS growth per worker |")
    print("| --- | --- | --- | --- |")
    for name, attack in attacks.items():
        if args.only and name not in args.only:
            continue
        # A fresh server for each: a worker's RSS after an earlier attack would
        # hide (by reusing freed memory) what the next one costs.
        with tempfile.TemporaryDirectory() as tmp:
            config = Config.from_env({"DATAPOINTS_STORE": f"sqlite:///{tmp}/dp.db"})
            with server(config, args.workers, args.threads) as port:
                time.sleep(1)  # every worker up (the health check reached one)
                pids = workers(server_pids[port])
                answers, growth, seconds = measure(pids, partial(attack, port))
        grown = ", ".join(f"{g:,.0f} MiB" for g in growth.values())
        print(
            f"| {name} | {summary(answers)} | {seconds:.1f} s | {grown} |", flush=True
        )


if __name__ == "__main__":
    main()

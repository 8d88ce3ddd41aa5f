"""datapoints against the real KairosDB 1.3.0 on the same Cassandra (issue 11).

    PYTHONPATH=$PWD python bench/vs_kairosdb.py [--quick] [--rounds 3]
        [--shapes big,small,queries,disk] [--json out.json]

Fetches KairosDB 1.3.0-1 from Maven Central once (bench/kairosdb_runner.py), starts it
on the Cassandra at --cassandra (its keyspace dropped first, so runs compare), starts
`datapoints serve` (default settings, a fresh keyspace after `datapoints schema apply`),
and sends both the same requests, alternating which goes first each round:

* ingest "big": 100 series x 100 points per request; "small": 1 series x 1-10 points.
  Points/s until readable (from the first request until a count query over the whole
  range returns every point written: KairosDB answers 204 once points are in its file
  queue, datapoints once Cassandra acknowledged), p50/p99 request latency, server and
  Cassandra CPU seconds per million points (utime+stime from /proc, process tree),
  peak server RSS (process tree sum, sampled every 0.25 s).
* queries on 10 series x 100k points loaded into both: median time and server CPU per
  query over K repetitions per round; both answers compared value by value.
* disk: bytes per point of each keyspace's SSTables after `datapoints compact run
  --all-now` (if the command exists), `nodetool flush` and `nodetool compact`.

Figures are medians over rounds; ratios are datapoints / KairosDB. The datapoints
keyspace and KairosDB's are dropped at the end; processes started here are stopped by
pid; Cassandra keeps running.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import big_aggregation
import kairosdb_procs as procs
import kairosdb_shapes as shapes
from common import free_port, machine, post_all_lean
from compaction import compact
from kairosdb_runner import kairosdb

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("big", "small", "queries", "disk", "agg")
READABLE_LIMIT = 600.0


@dataclass
class Target:
    name: str
    port: int
    pid: int
    keyspace: str


def log(message: str) -> None:
    print(
        f"[vs_kairosdb {time.strftime('%H:%M:%S')}] {message}",
        file=sys.stderr,
        flush=True,
    )


def dp_env(store: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DATAPOINTS_STORE": store, **extra}


def cli(store: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env=dp_env(store),
        capture_output=True,
        text=True,
        check=check,
        timeout=3600,
    )


@contextlib.contextmanager
def datapoints(store: str) -> Iterator[tuple[int, int]]:
    """`datapoints serve` with its default settings but the store and a free port;
    yields (pid, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"],
        cwd=ROOT,
        env=dp_env(store, DATAPOINTS_BIND=f"127.0.0.1:{port}"),
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/health/check")
                if conn.getresponse().status == 204:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("datapoints serve did not come up")
            time.sleep(0.2)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def table_ids(contact: str, keyspace: str) -> dict[str, str]:
    """Each table of the keyspace and its id as its data directory spells it."""
    from cassandra.cluster import Cluster

    host, _, port = contact.partition(":")
    cluster = Cluster([host], port=int(port or 9042))
    try:
        rows = cluster.connect().execute(
            "SELECT table_name, id FROM system_schema.tables WHERE keyspace_name = %s",
            [keyspace],
        )
        return {r.table_name: r.id.hex for r in rows}
    finally:
        cluster.shutdown()


def drop_keyspace(contact: str, name: str) -> None:
    from cassandra.cluster import Cluster

    host, _, port = contact.partition(":")
    cluster = Cluster([host], port=int(port or 9042))
    try:
        session = cluster.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
    finally:
        cluster.shutdown()


# ---------------------------------------------------------------- ingest


def ingest_once(
    t: Target,
    bodies: list[Any],
    points: int,
    metric: str,
    end: int,
    conc: tuple[int, int],
    cass: int | None,
) -> dict[str, float]:
    cpu0 = procs.tree_cpu(t.pid)
    cass0 = procs.tree_cpu(cass) if cass else 0.0
    with procs.PeakRss(t.pid) as rss:
        load = post_all_lean(t.port, bodies, *conc)
        waited = shapes.wait_readable(t.port, metric, end, points, READABLE_LIMIT)
        readable = time.perf_counter() - load.started
        if math.isinf(waited):  # the points never all became readable
            readable = math.inf
    cpu = procs.tree_cpu(t.pid) - cpu0
    cass_cpu = (procs.tree_cpu(cass) - cass0) if cass else float("nan")
    return {
        "points": points,
        "requests": len(bodies),
        "failures": load.failures,
        "load_s": load.seconds,
        "readable_s": readable,
        "points_per_s": points / readable,
        "acked_points_per_s": points / load.seconds,
        "p50_ms": load.percentile(50) * 1000,
        "p99_ms": load.percentile(99) * 1000,
        "cpu_s_per_M": cpu / points * 1e6,
        "cassandra_cpu_s_per_M": cass_cpu / points * 1e6,
        "peak_rss_MiB": rss.peak / 2**20,
    }


def order(targets: list[Target], r: int) -> list[Target]:
    return targets if r % 2 == 0 else targets[::-1]


def ingest_shape(
    shape: str,
    targets: list[Target],
    rounds: int,
    make: Callable[[str, int], tuple[list[Any], int, int]],
    conc: tuple[int, int],
    cass: int | None,
    written: dict[str, int],
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
    for r in range(rounds):
        metric = f"vs.{shape}.r{r}"
        bodies, points, end = make(metric, r)
        for t in order(targets, r):
            log(f"{shape} round {r + 1}/{rounds}: {t.name}, {len(bodies)} requests")
            run = ingest_once(t, bodies, points, metric, end, conc, cass)
            runs[t.name].append(run)
            written[t.name] += points
            log(
                f"  {run['points_per_s']:,.0f} points/s readable, {run['failures']} failures"
            )
    return runs


# ---------------------------------------------------------------- queries


def query_shape(
    targets: list[Target],
    rounds: int,
    points: int,
    reps: int,
    conc: tuple[int, int],
    written: dict[str, int],
    store: str,
) -> dict[str, Any]:
    metric = "vs.query"
    bodies, total, end = shapes.query_data(metric, points, seed=1234)
    loads = {}
    for t in targets:
        log(f"queries: loading {total:,} points into {t.name}")
        load = post_all_lean(t.port, bodies, *conc)
        waited = shapes.wait_readable(t.port, metric, end, total, READABLE_LIMIT)
        readable = time.perf_counter() - load.started
        if math.isinf(waited):  # the points never all became readable
            readable = math.inf
        loads[t.name] = {"failures": load.failures, "readable_s": readable}
        written[t.name] += total
    # Queries read what a store holds once it has settled: the service's own block
    # compaction first (when this version has one), as it would run in production.
    compaction = compact(store)
    log(f"queries: {compaction.note}")
    qs = shapes.queries(metric, end)
    times: dict[str, dict[str, list[float]]] = {
        t.name: {q: [] for q in qs} for t in targets
    }
    cpus: dict[str, dict[str, list[float]]] = {
        t.name: {q: [] for q in qs} for t in targets
    }
    answers: dict[str, dict[str, bytes]] = {t.name: {} for t in targets}
    for r in range(rounds):
        for t in order(targets, r):
            log(f"queries round {r + 1}/{rounds}: {t.name}")
            for name, q in qs.items():
                body = json.dumps(q).encode()
                cpu0 = procs.tree_cpu(t.pid)
                for _ in range(reps):
                    t0 = time.perf_counter()
                    status, data = shapes.post(t.port, shapes.QUERY, body)
                    times[t.name][name].append(time.perf_counter() - t0)
                    if status != 200:
                        log(f"  {t.name} {name}: HTTP {status} {data[:200]!r}")
                    answers[t.name].setdefault(name, data)
                cpus[t.name][name].append((procs.tree_cpu(t.pid) - cpu0) / reps)
    diffs = {}
    if len(targets) == 2:
        a, b = (t.name for t in targets)
        for name in qs:
            try:
                diffs[name] = shapes.mismatches(answers[a][name], answers[b][name])
            except (ValueError, KeyError) as e:
                diffs[name] = [f"cannot compare: {e!r}"]
    return {
        "load": loads,
        # everything written to datapoints so far (warm-up and ingest shapes
        # included) was compacted here: its CPU per million of those points is the
        # ingest cost the server's own CPU figures leave out
        "compaction": {
            **vars(compaction),
            "points": written[targets[0].name],
            "cpu_s_per_M": compaction.cpu_s / max(1, written[targets[0].name]) * 1e6,
        },
        "times_s": times,
        "cpu_s": cpus,
        "mismatches": diffs,
    }


# ---------------------------------------------------------------- disk


def disk_shape(
    targets: list[Target],
    cass: int | None,
    store: str,
    contact: str,
    written: dict[str, int],
) -> dict[str, Any]:
    if cass is None:
        return {"skipped": "no Cassandra process found on this machine"}
    done = compact(store)
    notes = [done.note]
    tool = procs.Nodetool(cass)
    why = tool.available()
    for t in targets:
        if why is None:
            log(f"disk: nodetool flush + compact {t.keyspace}")
            tool.run("flush", t.keyspace)
            tool.run("compact", t.keyspace)
    if why is None:
        opened = (
            ", opened in Cassandra with jcmd ManagementAgent.start"
            if tool.opened
            else ""
        )
        notes.append(
            "SSTable bytes of all the keyspace's tables after nodetool flush and compact"
            f" (JMX on 127.0.0.1:{tool.port}{opened})"
        )
    else:
        notes.append(
            f"nodetool unusable ({why}): SSTables as they are, memtables not counted"
        )
    out: dict[str, Any] = {"how": "; ".join(notes)}
    for t in targets:
        tables = procs.keyspace_bytes(cass, t.keyspace, table_ids(contact, t.keyspace))
        total = sum(tables.values())
        out[t.name] = {
            "tables": tables,
            "bytes": total,
            "points": written[t.name],
            "bytes_per_point": total / written[t.name]
            if written[t.name]
            else float("nan"),
        }
    return out


# ---------------------------------------------------------------- report


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def row(label: str, a: float, b: float, fmt: str = "{:,.1f}") -> str:
    ratio = a / b if b and b == b else float("nan")
    return f"  {label:<38} {fmt.format(a):>14} {fmt.format(b):>14} {ratio:>8.2f}"


def header(title: str, names: list[str]) -> None:
    print(f"\n{title}")
    print(f"  {'':<38} {names[0]:>14} {names[1]:>14} {'ratio':>8}")


INGEST_ROWS = (
    ("points_per_s", "points/s until readable", "{:,.0f}"),
    ("acked_points_per_s", "points/s acknowledged (2xx)", "{:,.0f}"),
    ("p50_ms", "p50 latency ms", "{:,.0f}"),
    ("p99_ms", "p99 latency ms", "{:,.0f}"),
    ("cpu_s_per_M", "server CPU s per M points", "{:,.1f}"),
    ("cassandra_cpu_s_per_M", "Cassandra CPU s per M points", "{:,.1f}"),
    ("peak_rss_MiB", "peak server RSS MiB", "{:,.0f}"),
    ("failures", "failed requests", "{:,.0f}"),
)


def print_ingest(
    shape: str, runs: dict[str, list[dict[str, float]]], names: list[str]
) -> None:
    a, b = runs[names[0]], runs[names[1]]
    first = a[0]
    header(
        f"ingest {shape}: {first['requests']} requests, {first['points']:,} points a round",
        names,
    )
    for key, label, fmt in INGEST_ROWS:
        print(row(label, med([r[key] for r in a]), med([r[key] for r in b]), fmt))


def print_queries(res: dict[str, Any], names: list[str]) -> None:
    c = res["compaction"]
    print(f"\n{c['note']}")
    if c["ran"]:
        print(
            f"  compaction: {c['cpu_s_per_M']:.1f} s CPU per M points of the"
            f" {c['points']:,} written to datapoints so far (not in the ingest figures)"
        )
    header("queries (median ms per query, server CPU ms per query)", names)
    for q in res["times_s"][names[0]]:
        ta, tb = (med(res["times_s"][n][q]) * 1000 for n in names)
        ca, cb = (med(res["cpu_s"][n][q]) * 1000 for n in names)
        print(row(f"{q}: time", ta, tb, "{:,.0f}"))
        print(row(f"{q}: server CPU", ca, cb, "{:,.0f}"))
    for q, diffs in res["mismatches"].items():
        print(f"  answers of '{q}': {'identical' if not diffs else 'DIFFER'}")
        for d in diffs[:10]:
            print(f"    {d}")


def print_disk(res: dict[str, Any], names: list[str]) -> None:
    if "skipped" in res:
        print(f"\ndisk: skipped ({res['skipped']})")
        return
    header(f"disk ({res['how']})", names)
    a, b = res[names[0]], res[names[1]]
    print(row("bytes per point", a["bytes_per_point"], b["bytes_per_point"], "{:,.2f}"))
    # the points' own table: blocks (point_blocks) or rows (data_points, KairosDB's
    # and the service's before issue 11; both count during an upgrade)
    da, db = (
        sum(x["tables"].get(t, 0) for t in ("point_blocks", "data_points"))
        / max(1, x["points"])
        for x in (a, b)
    )
    print(row("  of which the points' table", da, db, "{:,.2f}"))
    print(row("MiB in all", a["bytes"] / 2**20, b["bytes"] / 2**20, "{:,.1f}"))
    print(row("points", a["points"], b["points"], "{:,.0f}"))
    # The tables differ between the two (and between storage layouts): each one's
    # share, so a layout change shows where the bytes went.
    for name in names:
        x = res[name]
        shares = ", ".join(
            f"{table} {size / max(1, x['points']):,.2f}"
            for table, size in sorted(x["tables"].items(), key=lambda kv: -kv[1])
            if size
        )
        print(f"  {name} bytes per point by table: {shares}")


def summary(out: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Medians over rounds and their ratio, per shape and figure (for --json)."""
    res: dict[str, Any] = {}

    def pair(x: float, y: float) -> dict[str, float]:
        return {names[0]: x, names[1]: y, "ratio": x / y if y else float("nan")}

    for shape, got in out.items():
        if "error" in got:
            res[shape] = {"error": got["error"]}
    if "big_aggregation" in out and "error" not in out["big_aggregation"]:
        res["big_aggregation"] = out["big_aggregation"]
    for shape in ("big", "small"):
        if shape in out and "error" not in out[shape]:
            runs = out[shape]
            res[shape] = {
                key: pair(
                    *(med([r.get(key, math.nan) for r in runs[n]]) for n in names)
                )
                for key, _, _ in INGEST_ROWS
            }
    if "queries" in out and "error" not in out["queries"]:
        q = out["queries"]
        res["compaction"] = q["compaction"]
        res["queries"] = {
            name: {
                "ms": pair(*(med(q["times_s"][n][name]) * 1000 for n in names)),
                "cpu_ms": pair(*(med(q["cpu_s"][n][name]) * 1000 for n in names)),
                "identical": not q["mismatches"].get(name),
            }
            for name in q["times_s"][names[0]]
        }
    if "disk" in out and not {"skipped", "error"} & out["disk"].keys():
        d = out["disk"]
        res["disk"] = {
            "bytes_per_point": pair(*(d[n]["bytes_per_point"] for n in names))
        }
    return res


# ---------------------------------------------------------------- targets

# Issues 11's and 12's targets, as ratios datapoints / KairosDB from one run:
# (label, where in the summary, the bound, whether the ratio must be at least it).
TARGETS = (
    ("ingest big: points/s until readable", ("big", "points_per_s"), 1.5, True),
    ("ingest big: server CPU per M points", ("big", "cpu_s_per_M"), 0.5, False),
    ("ingest small: points/s until readable", ("small", "points_per_s"), 1.0, True),
    ("ingest small: server CPU per M points", ("small", "cpu_s_per_M"), 1.0, False),
    (
        "ingest small: Cassandra CPU per M points",
        ("small", "cassandra_cpu_s_per_M"),
        1.5,
        False,
    ),
    ("query raw one series: median time", ("queries", "raw one series"), 0.5, False),
    (
        "query avg/min, 10 series: median time",
        ("queries", "avg/min, 10 series"),
        0.5,
        False,
    ),
    (
        "query filter+group_by, max/h: median time",
        ("queries", "filter+group_by host, max/h"),
        0.5,
        False,
    ),
    ("disk: bytes per point", ("disk", "bytes_per_point"), 0.5, False),
)


def verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the shapes measured: the ratio, the bound and pass/fail. A
    query passes only when both answers are also the same values."""
    out = []
    for label, (shape, key), bound, at_least in TARGETS:
        if shape in res and "error" in res[shape]:
            out.append(
                {
                    "target": label,
                    "ratio": math.nan,
                    "bound": f"{'>=' if at_least else '<='} {bound}",
                    "pass": False,
                    "note": f"not measured: {res[shape]['error'][:80]}",
                }
            )
            continue
        if shape not in res or key not in res[shape]:
            continue
        figure = res[shape][key]
        if shape == "queries":
            ratio, same = figure["ms"]["ratio"], figure["identical"]
        else:
            ratio, same = figure["ratio"], True
        ok = ratio == ratio and (ratio >= bound if at_least else ratio <= bound)
        out.append(
            {
                "target": label,
                "ratio": ratio,
                "bound": f"{'>=' if at_least else '<='} {bound}",
                "pass": bool(ok and same),
                "note": "" if same else "answers differ",
            }
        )
    agg = res.get("big_aggregation")
    if agg and "error" in agg:
        out.append(
            {
                "target": "big avg/min: worker peak RSS MB",
                "ratio": math.nan,
                "bound": "<= 300",
                "pass": False,
                "note": f"not measured: {agg['error'][:80]}",
            }
        )
    elif agg:
        out.append(
            {
                "target": f"{agg['points']:,}-point avg/min: worker peak RSS MB",
                "ratio": agg["peak_rss_MB"],
                "bound": f"<= {agg['target_MB']}",
                "pass": bool(agg["pass"]),
                "note": "" if agg["correct"] else "answer differs from numpy",
            }
        )
    return out


def print_verdicts(found: list[dict[str, Any]]) -> None:
    print("\ntargets (ratios datapoints / KairosDB from this run; RSS in MB)")
    for v in found:
        note = f"  ({v['note']})" if v["note"] else ""
        print(
            f"  {v['target']:<48} {v['ratio']:>7.2f}  target {v['bound']:<8}"
            f" {'PASS' if v['pass'] else 'FAIL'}{note}"
        )
    passed = sum(v["pass"] for v in found)
    print(f"  {passed} of {len(found)} targets met")


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cassandra", default="127.0.0.1:9042")
    p.add_argument("--rounds", type=int, help="alternating rounds (default 3; quick 1)")
    p.add_argument("--shapes", default=",".join(SHAPES), help="of " + ",".join(SHAPES))
    p.add_argument("--quick", action="store_true", help="a small smoke run")
    p.add_argument("--big-requests", type=int, help="default 300 (quick 20)")
    p.add_argument("--big-connections", type=int, default=8)
    p.add_argument("--small-requests", type=int, help="default 4000 (quick 400)")
    p.add_argument("--small-connections", type=int, default=16)
    p.add_argument(
        "--query-points", type=int, help="per series, default 100000 (quick 10000)"
    )
    p.add_argument(
        "--query-reps", type=int, help="per query per round, default 5 (quick 2)"
    )
    p.add_argument(
        "--agg-points",
        type=int,
        help="the one-worker aggregation: points, default 10M (quick 1M)",
    )
    p.add_argument("--kairosdb-keyspace", default="kairosdb")
    p.add_argument("--kairosdb-port", type=int, default=0, help="default: a free port")
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument(
        "--no-warmup", dest="warmup", action="store_false", help="measure cold servers"
    )
    a = p.parse_args()
    quick = a.quick
    a.rounds = a.rounds or (1 if quick else 3)
    a.big_requests = a.big_requests or (20 if quick else 300)
    a.small_requests = a.small_requests or (400 if quick else 4000)
    a.query_points = a.query_points or (10_000 if quick else 100_000)
    a.query_reps = a.query_reps or (2 if quick else 5)
    a.agg_points = a.agg_points or (1_000_000 if quick else 10_000_000)
    a.shapes = [s for s in a.shapes.split(",") if s]
    if unknown := set(a.shapes) - set(SHAPES):
        p.error(f"unknown shapes {sorted(unknown)}")
    return a


def conc(connections: int) -> tuple[int, int]:
    """(client processes, connections each): two processes, so the client is not
    the bottleneck on small requests."""
    return (2, max(1, connections // 2)) if connections > 1 else (1, 1)


def warmup(targets: list[Target], written: dict[str, int]) -> None:
    """Not measured: both servers take a few requests of each kind first, so neither
    is measured cold (the JVM compiles KairosDB's hot paths in its first seconds)."""
    big, n_big, end_big = shapes.big_bodies("vs.warmup.big", 20, seed=99)
    small, n_small, end_small = shapes.small_bodies("vs.warmup.small", 400, seed=99)
    for t in targets:
        log(f"warm-up: {t.name}")
        post_all_lean(t.port, big + small, 2, 4)
        shapes.wait_readable(t.port, "vs.warmup.big", end_big, n_big, READABLE_LIMIT)
        shapes.wait_readable(
            t.port, "vs.warmup.small", end_small, n_small, READABLE_LIMIT
        )
        written[t.name] += n_big + n_small


def attempt(out: dict[str, Any], shape: str, measure: Callable[[], Any]) -> bool:
    """One shape; a shape that fails is recorded as failed and the run goes on (the
    figures of the others still count)."""
    try:
        out[shape] = measure()
        return True
    except Exception as e:  # whatever broke, the other shapes still run
        traceback.print_exc()
        out[shape] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(f"\n{shape}: FAILED ({out[shape]['error']})")
        return False


def run(
    a: argparse.Namespace, targets: list[Target], store: str, cass: int | None
) -> dict[str, Any]:
    names = [t.name for t in targets]
    written = dict.fromkeys(names, 0)
    out: dict[str, Any] = {}
    if a.warmup:
        warmup(targets, written)
    for shape, requests, connections, make in (
        ("big", a.big_requests, a.big_connections, shapes.big_bodies),
        ("small", a.small_requests, a.small_connections, shapes.small_bodies),
    ):
        if shape not in a.shapes:
            continue
        print(f"\n({shape}: {requests} requests over {connections} connections)")

        def measure(
            shape: str = shape,
            n: int = requests,
            c: int = connections,
            make: Any = make,
        ) -> Any:
            return ingest_shape(
                shape,
                targets,
                a.rounds,
                lambda m, r: make(m, n, r),
                conc(c),
                cass,
                written,
            )

        if attempt(out, shape, measure):
            print_ingest(shape, out[shape], names)
    if "queries" in a.shapes and attempt(
        out,
        "queries",
        lambda: query_shape(
            targets, a.rounds, a.query_points, a.query_reps, (2, 2), written, store
        ),
    ):
        print_queries(out["queries"], names)
    if "disk" in a.shapes and attempt(
        out, "disk", lambda: disk_shape(targets, cass, store, a.cassandra, written)
    ):
        print_disk(out["disk"], names)
    return out


def main() -> None:
    a = parse_args()
    # A SIGTERM runs the finally blocks too: the servers started here are stopped.
    # (Only in this process: the client processes forked later inherit the handler,
    # and their pool stops them with SIGTERM.)
    me = os.getpid()
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(143) if os.getpid() == me else os._exit(0)
    )
    cass = procs.cassandra_pid(int(a.cassandra.rpartition(":")[2] or 9042))
    dp_ks = "bench_vs_" + uuid.uuid4().hex[:8]
    store = f"cassandra://{a.cassandra}/{dp_ks}"
    began = time.monotonic()
    print(f"vs_kairosdb on {machine()}; load average {os.getloadavg()[1]:.1f} (5 min)")
    print(
        f"Cassandra {a.cassandra} (pid {cass}); rounds {a.rounds}; shapes {','.join(a.shapes)}"
    )
    out: dict[str, Any] = {}
    log(f"dropping keyspace {a.kairosdb_keyspace} so this run starts from nothing")
    drop_keyspace(a.cassandra, a.kairosdb_keyspace)
    try:
        cli(store, "schema", "apply")
        kport = a.kairosdb_port or free_port()
        with (
            datapoints(store) as (dp_pid, dp_port),
            kairosdb(
                ROOT / "var" / "kairosdb", kport, a.kairosdb_keyspace, a.cassandra
            ) as kd,
        ):
            targets = [
                Target("datapoints", dp_port, dp_pid, dp_ks),
                Target("kairosdb", kport, kd.pid, a.kairosdb_keyspace),
            ]
            log(f"datapoints pid {dp_pid}, KairosDB pid {kd.pid}")
            out.update(run(a, targets, store, cass))
    finally:
        log("dropping the bench keyspaces")
        drop_keyspace(a.cassandra, dp_ks)
        drop_keyspace(a.cassandra, a.kairosdb_keyspace)
    # Alone on the machine (both servers above stopped): its own keyspace and
    # servers, one worker answering.
    if "agg" in a.shapes and attempt(
        out,
        "big_aggregation",
        lambda: big_aggregation.measure(a.cassandra, a.agg_points, 10),
    ):
        big_aggregation.report(out["big_aggregation"])
    print(
        f"\nTook {(time.monotonic() - began) / 60:.1f} min; load average now "
        f"{os.getloadavg()[1]:.1f}. Ratios are datapoints / KairosDB. Cassandra CPU is"
        " all the node did meanwhile (other clients of that Cassandra included)."
    )
    res = summary(out, ["datapoints", "kairosdb"])
    found = verdicts(res)
    print_verdicts(found)
    if a.json:
        meta = {"machine": machine(), "args": vars(a), "cassandra_pid": cass}
        data = {"meta": meta, "summary": res, "targets": found, **out}
        Path(a.json).write_text(json.dumps(data, indent=1, default=str))


if __name__ == "__main__":
    main()

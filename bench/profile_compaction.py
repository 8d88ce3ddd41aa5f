"""Where the CPU of compaction, and of reading uncompacted windows, goes (issue 11).

    PYTHONPATH=$PWD python bench/profile_compaction.py [--series 20] [--writes 72]
        [--points 100] [--top 15] [--no-profile]

In-process, on a fresh keyspace of the real Cassandra (background compaction off):
``--series`` series each get ``--writes`` writes of ``--points`` points (1 s apart,
doubles of 3 decimals, as bench/kairosdb_shapes.py's "big" shape; 72 writes of 100
points fill one 2-hour window), written through the point store. Then, each timed by
process CPU (user + system, all threads: the driver's I/O thread included) and
optionally under cProfile (which sees the calling thread only):

1. every series read whole, uncompacted (a window of ``--writes`` blocks);
2. ``Compactor.run(all_now=True)``, as `datapoints compact run --all-now`;
3. every series read whole again, compacted.

Printed: CPU per point (and per window / block), then the top functions by own time.
Run it with --no-profile for the CPU figures (cProfile inflates them), and without
for where the time goes.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import arguments, keyspace, thread_cpu

from service.columnar import Points
from service.records import PointBatch, SeriesKey
from service.storage.cassandra.backend import CassandraBackend
from service.storage.windows import WINDOW_MS

BASE = (1_700_000_000_000 // WINDOW_MS + 1) * WINDOW_MS  # a window's start


# The driver's threads, each under a profiler of its own (cProfile sees one thread):
# started in them as they start, switched on only while a step is timed.
_thread_profiles: list[tuple[str, cProfile.Profile]] = []


def _profile_new_threads(frame: Any, event: str, arg: Any) -> None:
    prof = cProfile.Profile()
    _thread_profiles.append((threading.current_thread().name, prof))
    prof.enable()


def _driver_threads(on: bool) -> None:
    for _, prof in _thread_profiles:
        prof.enable() if on else prof.disable()


def timed(
    run: Callable[[], Any], top: int, profile: bool, dump: str | None = None
) -> tuple[float, float, Any, list[tuple[float, int, str]]]:
    prof = cProfile.Profile() if profile else None
    cpu0, t0 = time.process_time(), time.perf_counter()
    own0 = time.thread_time()
    threads0 = thread_cpu()
    if prof:
        for _, p in _thread_profiles:
            p.create_stats()  # (forgets what came before)
            p.enable()
        prof.enable()
    result = run()
    if prof:
        prof.disable()
        _driver_threads(False)
        if dump:
            prof.dump_stats(dump)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    own = time.thread_time() - own0
    spent = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu().items()}
    others = ", ".join(
        f"{k} {v * 1000:,.0f} ms" for k, v in sorted(spent.items()) if v > 0
    )
    print(f"  (calling thread {own * 1000:,.0f} ms CPU; by thread: {others})")
    funcs: list[tuple[float, int, str]] = []
    if prof:
        stats = pstats.Stats(prof)
        for (filename, line, name), (_, calls, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            funcs.append((own, calls, f"{os.path.relpath(filename)}:{line}({name})"))
        for name, p in _thread_profiles:
            if name != "event_loop":
                continue
            for (filename, line, func), row in pstats.Stats(p).stats.items():  # type: ignore[attr-defined]
                where = f"[{name}] {os.path.relpath(filename)}:{line}({func})"
                funcs.append((row[2], row[1], where))
        funcs.sort(reverse=True)
    return wall, cpu, result, funcs[:top]


def show(
    title: str, wall: float, cpu: float, points: int, funcs: list[Any], per: str
) -> None:
    print(
        f"\n{title}: {wall * 1000:,.0f} ms wall, {cpu * 1000:,.0f} ms CPU, "
        f"{cpu / points * 1e6:.2f} us CPU a point; {per}"
    )
    for own, calls, f in funcs:
        print(f"  {own * 1000:>9,.1f} ms {calls:>9,}  {f}")


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--writes", type=int, default=72)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--dump", help="cProfile files go to DUMP-{read,compact}.prof")
    a = ap.parse_args()
    profile = not a.no_profile
    if profile:
        threading.setprofile(_profile_new_threads)
    rng = np.random.default_rng(5)
    with keyspace(a.cassandra, DATAPOINTS_COMPACTION="false") as config:
        backend = CassandraBackend(config)
        store = backend.points
        series = [
            SeriesKey("prof.compact", (("host", f"h{s:04d}"), ("dc", f"dc{s % 4}")))
            for s in range(a.series)
        ]
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        for w in range(a.writes):
            batches = []
            for key in series:
                ts = BASE + (w * a.points + np.arange(a.points)) * 1000
                values = np.round(rng.normal(50, 10, a.points), 3)
                batches.append(PointBatch(key, Points.of("double", ts, values)))
            store.write_points("public", batches, default_ttl=0)
        total = a.series * a.writes * a.points
        load_cpu = time.process_time() - cpu0
        print(
            f"loaded {total:,} points ({a.series} series x {a.writes} writes x "
            f"{a.points}) in {time.perf_counter() - t0:.1f} s, "
            f"{load_cpu / total * 1e6:.2f} us CPU a point (unprofiled, as a"
            " request's store part)"
        )
        end = BASE + a.writes * a.points * 1000

        def read_all() -> int:
            n = 0
            for key in series:
                for chunk in store.read_chunks("public", key, BASE, end):
                    n += len(chunk)
            return n

        read_all()  # warm: prepared statements, index cache
        blocks_per = min(a.writes, max(1, WINDOW_MS // 1000 // a.points))
        wall, cpu, n, funcs = timed(
            read_all, a.top, profile, a.dump and a.dump + "-read.prof"
        )
        assert n == total, (n, total)
        show(
            "read, uncompacted",
            wall,
            cpu,
            total,
            funcs,
            f"{cpu / (a.series * a.writes) * 1e6:.0f} us CPU a block "
            f"(~{blocks_per} blocks a window)",
        )
        wall, cpu, done, funcs = timed(
            lambda: backend.compactor.run(all_now=True),
            a.top,
            profile,
            a.dump and a.dump + "-compact.prof",
        )
        show(
            "compaction",
            wall,
            cpu,
            total,
            funcs,
            f"{done.windows} windows, {done.blocks_in} blocks in, "
            f"{done.blocks_out} out; {cpu / max(1, done.windows) * 1000:.1f} ms CPU "
            "a window",
        )
        wall, cpu, n, funcs = timed(read_all, a.top, profile)
        assert n == total, (n, total)
        show("read, compacted", wall, cpu, total, funcs, "")
        backend.close()


if __name__ == "__main__":
    main()

"""The service's own block compaction, run by the benchmarks when this version has it.

Benchmarks that load points and then read them (or measure disk) run
`datapoints compact run --all-now` in between, as production would have run compaction
by then. It is detected, never required: a version without the command is measured as
it is, and the note says so. Its wall time and CPU (the command's process and its
children) are returned, so its cost is reported rather than hidden.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ("compact", "run", "--all-now")


@dataclass
class Compaction:
    ran: bool
    note: str
    seconds: float = 0.0
    cpu_s: float = 0.0


def _cli(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DATAPOINTS_STORE": store},
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def available(store: str) -> bool:
    help_ = _cli(store, "compact", "run", "--help")
    return help_.returncode == 0 and "--all-now" in help_.stdout


def compact(store: str) -> Compaction:
    """`datapoints compact run --all-now` on the store, if the command exists."""
    if not available(store):
        return Compaction(
            False, "no `datapoints compact run --all-now` in this version: not run"
        )
    cpu0, t0 = _children_cpu(), time.perf_counter()
    result = _cli(store, *COMMAND)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if result.returncode != 0:
        return Compaction(
            False,
            f"`datapoints compact run --all-now` FAILED: {result.stderr[-300:]}",
            seconds,
            cpu,
        )
    return Compaction(
        True,
        f"`datapoints compact run --all-now` ran first ({seconds:.1f} s, "
        f"{cpu:.1f} s CPU)",
        seconds,
        cpu,
    )

"""Issue 9's memory attacks on `datapoints serve` (gunicorn workers, real Cassandra):
refused quickly, in KairosDB's envelope, without growing a worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.functional.test_request_memory import gzipped

MiB = 1024 * 1024


def workers_of(url: str) -> list[int]:
    """The gunicorn workers serving ``url``: children of the process bound to it."""
    bind = f"DATAPOINTS_BIND={url.removeprefix('http://')}".encode()
    serving = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if bind not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        serving[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return [pid for pid, parent in serving.items() if parent in serving]


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_growth(pids: list[int], attack: Callable[[], Any]) -> tuple[Any, float]:
    """What ``attack`` returned, and the most any worker's RSS grew meanwhile."""
    before = {}
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM back to VmRSS
        before[pid] = kib(pid, "VmRSS")
    answer = attack()
    return answer, max((kib(p, "VmHWM") - before[p]) / 1024 for p in pids)


@pytest.mark.parametrize(
    ("head", "middle", "tail", "repeat"),
    [
        # the bomb: 21 million [] (63 MB of JSON) in a 61 KB gzip
        (b"[", b"[],", b"[]]", 21_000_000 - 1),
        # 3.5M points (63 MB of JSON): 624 MiB a request before
        (
            b'[{"name":"attack","tags":{"h":"a"},"datapoints":[',
            b"[1359788400000,5],",
            b"[1359788400000,5]]}]",
            3_500_000 - 1,
        ),
    ],
)
def test_attacks_are_refused_without_growing_a_worker(
    server: str, head: bytes, middle: bytes, tail: bytes, repeat: int
) -> None:
    body = gzipped(head, middle, tail, repeat=repeat)
    pids = workers_of(server)
    assert len(pids) == 2

    def attack() -> requests.Response:
        return requests.post(
            server + "/api/v1/datapoints",
            data=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            timeout=60,
        )

    started = time.monotonic()
    result, grown = peak_growth(pids, attack)
    assert time.monotonic() - started < 5
    assert result.status_code == 413
    assert "more than 3,000,000 values" in result.json()["errors"][0]
    assert len(result.content) < 500
    assert grown < 64  # MiB; the bomb grew a worker by GiBs

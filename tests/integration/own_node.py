"""A Cassandra node a test may kill: started with the project's launcher on a loopback
address of its own (never the shared node the other integration tests use), stopped by
its pid.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a node on, say,
127.83.12.5 uses the standard ports without meeting one on 127.0.0.1; the launcher binds
both its CQL and its storage port to that address.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

sys.path.insert(0, str(ROOT / "docker"))
from cassandra_local import (
    build_parser,
    cql_probe,
    is_our_cassandra,
    pid_alive,
    resolve_settings,
)

LAUNCHER = [sys.executable, str(ROOT / "docker" / "cassandra_local.py")]
CQL_PORT = 9042
STORAGE_PORT = 7000
START_TIMEOUT = 180
# Enough for the few writes of a test; the shared machines have little memory to spare.
HEAP = "768M"


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_loopback() -> str:
    """A loopback address whose CQL and storage ports nobody holds."""
    rnd = random.Random()
    for _ in range(50):
        host = f"127.{rnd.randrange(64, 250)}.{rnd.randrange(1, 250)}.{rnd.randrange(1, 250)}"
        if _free(host, CQL_PORT) and _free(host, STORAGE_PORT):
            return host
    raise AssertionError("no free loopback address for a Cassandra node")


class OwnNode:
    def __init__(self, run_dir: Path, *, commitlog_sync: str) -> None:
        self.run_dir = run_dir
        self.host = free_loopback()
        self.port = CQL_PORT
        self.commitlog_sync = commitlog_sync

    def _launcher(self, command: str) -> subprocess.CompletedProcess[str]:
        args = [
            *LAUNCHER,
            command,
            "--run-dir",
            str(self.run_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--commitlog-sync",
            self.commitlog_sync,
            "--timeout",
            str(START_TIMEOUT),
        ]
        env = {**os.environ, "CASSANDRA_HEAP": HEAP}
        env["CASSANDRA_STORAGE_PORT"] = str(STORAGE_PORT)
        return subprocess.run(
            args, env=env, capture_output=True, text=True, check=False, timeout=600
        )

    def start(self) -> float:
        """Start (or restart, on the same data) and wait until CQL answers; the
        seconds it took."""
        started = time.monotonic()
        done = self._launcher("start")
        if done.returncode != 0 or not self.answers():
            pytest.fail(
                f"the test's own Cassandra on {self.host} did not start:\n"
                f"{done.stdout}\n{done.stderr[-4000:]}"
            )
        return time.monotonic() - started

    def answers(self) -> bool:
        return cql_probe(self.host, self.port, timeout=2.0)[1] is not None

    @property
    def pid(self) -> int:
        return int((self.run_dir / "cassandra.pid").read_text())

    def kill9(self) -> None:
        """SIGKILL, as a crash: no drain, no flush."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while pid_alive(pid):
            assert time.monotonic() < deadline, f"Cassandra pid {pid} outlived SIGKILL"
            time.sleep(0.05)

    def discard(self) -> None:
        """Gone for good, at once: its data is thrown away with the run dir anyway.
        Only the pid this run dir's launcher recorded, and only if it is still that
        node (never a recycled pid)."""
        try:
            pid = self.pid
        except (OSError, ValueError):
            return
        settings = resolve_settings(
            build_parser().parse_args(["stop", "--run-dir", str(self.run_dir)])
        )
        if pid_alive(pid) and is_our_cassandra(pid, settings):
            self.kill9()

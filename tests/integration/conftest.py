"""The integration tier: real Apache Cassandra, never a mock.

If a Cassandra answers CQL at DATAPOINTS_TEST_CASSANDRA (default 127.0.0.1:9042) the
tests use it and start nothing; otherwise they start one with the project's launcher
(docker/cassandra_local.py) and stop it afterwards, by its pid. If neither works the
tests fail: integration tests that were asked for never skip.

Every run gets its own keyspace (RF 1, no commit-log durability), dropped at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.config import Config
from service.storage.cassandra import CassandraBackend

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docker"))
from cassandra_local import cql_release_version  # noqa: E402

pytestmark = pytest.mark.integration
SECRET = "integration-tests-secret-0123456789abcdef"


def _contact() -> tuple[str, int]:
    host, _, port = os.environ.get(
        "DATAPOINTS_TEST_CASSANDRA", "127.0.0.1:9042"
    ).partition(":")
    return host, int(port or 9042)


@pytest.fixture(scope="session")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    host, port = _contact()
    if cql_release_version(host, port, 3.0):
        yield host, port
        return
    run_dir = tmp_path_factory.mktemp("cassandra")
    launcher = [sys.executable, str(ROOT / "docker" / "cassandra_local.py")]
    args = ["--run-dir", str(run_dir), "--host", host, "--port", str(port)]
    started = subprocess.run([*launcher, "start", *args], check=False)
    if started.returncode != 0:
        pytest.fail(
            f"integration tests need Cassandra at {host}:{port} and the launcher could "
            "not start one (see its output above)"
        )
    try:
        yield host, port
    finally:
        subprocess.run([*launcher, "stop", *args], check=False)


@pytest.fixture(scope="session")
def cassandra_config(cassandra: tuple[str, int]) -> Iterator[Config]:
    host, port = cassandra
    keyspace = "dp_test_" + uuid.uuid4().hex[:10]
    config = Config.from_env(
        {
            "DATAPOINTS_STORE": f"cassandra://{host}:{port}/{keyspace}?consistency=ONE",
            "DATAPOINTS_DURABLE_WRITES": "false",
            "DATAPOINTS_REPLICATION": "SimpleStrategy:1",
            "DATAPOINTS_SECRET_KEY": SECRET,
        }
    )
    backend = CassandraBackend(config)
    backend.apply_schema()
    backend.close()
    yield config
    backend = CassandraBackend(config)
    try:
        backend.session.execute_schema("DROP KEYSPACE IF EXISTS {ks}")
    finally:
        backend.close()


@pytest.fixture(scope="session")
def cassandra_backend(cassandra_config: Config) -> Iterator[CassandraBackend]:
    backend = CassandraBackend(cassandra_config)
    yield backend
    backend.close()


def _wait_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/v1/health/check", timeout=2).status_code == 204:
                return
        except requests.RequestException:  # refused, reset or timed out: not up yet
            pass
        if proc.poll() is not None:
            pytest.fail(f"datapoints serve exited with {proc.returncode}")
        time.sleep(0.3)
    pytest.fail("datapoints serve did not answer within 60 s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(cassandra_config: Config) -> Iterator[str]:
    """``datapoints serve`` (gunicorn, 2 workers) on the test keyspace."""
    port = free_port()
    env = {
        **os.environ,
        "DATAPOINTS_STORE": cassandra_config.store_url,
        "DATAPOINTS_BIND": f"127.0.0.1:{port}",
        "DATAPOINTS_WORKERS": "2",
        "DATAPOINTS_SECRET_KEY": SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"], env=env, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()

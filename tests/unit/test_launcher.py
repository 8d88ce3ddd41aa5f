"""What docker/cassandra_local.py asks of the node it starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docker"))
import cassandra_local as launcher  # noqa: E402


@pytest.fixture(autouse=True)
def no_jars(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command is built without a JVM or the jars at hand."""
    monkeypatch.setattr(launcher, "find_java", lambda: "/usr/bin/java")
    monkeypatch.setattr(launcher, "find_jamm", lambda settings: "jamm.jar")


def config(tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    """The cassandra.yaml and java command ``start`` would use with these options."""
    parsed = launcher.build_parser().parse_args(
        ["start", "--run-dir", str(tmp_path), *args]
    )
    settings = launcher.resolve_settings(parsed)
    launcher.write_config(settings)
    yaml = (settings.conf_dir / "cassandra.yaml").read_text()
    return yaml, launcher.java_command(settings)


@pytest.mark.parametrize(
    ("mode", "lines"),
    [
        ("periodic", ["commitlog_sync: periodic", "commitlog_sync_period: 10000ms"]),
        ("batch", ["commitlog_sync: batch"]),
        ("group", ["commitlog_sync: group", "commitlog_sync_group_window: 15ms"]),
    ],
)
def test_commitlog_sync_modes(tmp_path: Path, mode: str, lines: list[str]) -> None:
    yaml, _ = config(tmp_path, "--commitlog-sync", mode)
    # exactly these keys: Cassandra refuses a sync period with batch or group
    assert [
        line for line in yaml.splitlines() if line.startswith("commitlog_sync")
    ] == (lines)


def test_the_schema_is_flushed_and_loopback_nodes_keep_apart(tmp_path: Path) -> None:
    yaml, command = config(tmp_path, "--host", "127.0.0.2")
    assert "listen_address: 127.0.0.2" in yaml and '"127.0.0.2:7000"' in yaml
    assert launcher.DAEMON_CLASS in command
    assert not any("unsafesystem" in arg for arg in command)
    yaml, _ = config(tmp_path, "--host", "0.0.0.0")
    assert "listen_address: 127.0.0.1" in yaml and "rpc_address: 0.0.0.0" in yaml

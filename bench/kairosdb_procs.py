"""Process figures for bench/vs_kairosdb.py: CPU and RSS of process trees from /proc,
the Cassandra process, and its disk use per keyspace after a flush and compaction."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree(pid: int) -> list[int]:
    """pid and all its descendants alive now."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents.setdefault(int(_stat(int(entry))[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process tree: the live processes' own, plus
    what their reaped children used (cutime + cstime), so a worker that exited still
    counts."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError):
            f = _stat(p)
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / TICK


def tree_rss(pid: int) -> int:
    """Resident bytes of a process tree (a plain sum: pages a fork shares count once
    per process, as in top)."""
    total = 0
    for p in tree(pid):
        with (
            contextlib.suppress(OSError, IndexError, ValueError),
            open(f"/proc/{p}/statm") as f,
        ):
            total += int(f.read().split()[1]) * PAGE
    return total


class PeakRss:
    """Peak RSS of a process tree, sampled every `every` seconds while in its `with`.

    The sampler is a process of its own, not a thread: the client processes the
    benchmark forks meanwhile would inherit whatever lock a thread held at the fork
    (a run hung that way)."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every, self.peak = pid, every, 0

    def __enter__(self) -> PeakRss:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "peak-rss", str(self.pid), str(self.every)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self._proc.communicate(b"", timeout=60)
        self.peak = int(out or 0)


def _sample_until_stdin_closes(pid: int, every: float) -> None:
    import select

    peak = 0
    while True:
        peak = max(peak, tree_rss(pid))
        if select.select([sys.stdin], [], [], every)[0]:
            break
    print(peak, flush=True)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[1].endswith(f":{port:04X}") and f[3] == "0A":
                    inodes.add(f[9])
    return inodes


def cassandra_pid(port: int = 9042) -> int | None:
    """The java process listening on the CQL port (else the launcher's pid file)."""
    inodes = _listening_inodes(port)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if b"CassandraDaemon" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{entry}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return int(entry)
    with contextlib.suppress(OSError, ValueError):
        pid = int((ROOT / "var" / "cassandra" / "cassandra.pid").read_text())
        if Path(f"/proc/{pid}").exists():
            return pid
    return None


def _cassandra_property(pid: int, name: str) -> str | None:
    for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
        if arg.startswith(f"-D{name}=".encode()):
            return arg.split(b"=", 1)[1].decode()
    return None


def data_dir(pid: int) -> Path | None:
    """Cassandra's data directory, from its config file (launcher layout)."""
    conf = _cassandra_property(pid, "cassandra.config")
    if conf:
        text = Path(conf.removeprefix("file://")).read_text()
        for line in text.splitlines():
            if line.startswith("data_file_directories:"):
                return Path(line.split('"')[1])
    storage = _cassandra_property(pid, "cassandra.storagedir")
    return Path(storage) / "data" if storage else None


def keyspace_bytes(pid: int, keyspace: str, tables: dict[str, str]) -> dict[str, int]:
    """Bytes of each table's live SSTable files (snapshots and backups left out).
    `tables` maps names to ids: the directory of a dropped table of the same name
    stays behind, so a table's directory is found by its id."""
    base = data_dir(pid)
    out = {}
    for name, table_id in tables.items():
        path = base / keyspace / f"{name}-{table_id}" if base else None
        if path is None or not path.is_dir():
            continue
        out[name] = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return out


class Nodetool:
    """nodetool from the Cassandra jars the launcher fetched, over JMX.

    The launcher starts Cassandra without JMX. If nothing answers on the JMX port,
    the JDK's own management agent is started in the running Cassandra with
    `jcmd <pid> ManagementAgent.start` on 127.0.0.1, without authentication (local
    dev node only): Cassandra keeps running, it only gains a JMX listener."""

    def __init__(self, pid: int, port: int = 7199) -> None:
        self.pid, self.port = pid, port
        self.opened = False  # whether JMX was opened here with jcmd
        sys.path.insert(0, str(ROOT / "docker"))
        import cassandra_local

        self.flags = list(cassandra_local.JVM17_MODULE_FLAGS)
        version = cassandra_local.DEFAULT_VERSION
        self.lib = Path.home() / ".cache" / "datapoints" / "cassandra" / version / "lib"
        for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            if arg.endswith(b"/*") and b"lib" in arg:
                self.lib = Path(arg.decode().split(os.pathsep)[-1][:-2])

    def available(self) -> str | None:
        """None when usable, else why not."""
        if not list(self.lib.glob("cassandra-all-*.jar")):
            return f"no cassandra-all jar in {self.lib}"
        if not _listening_inodes(self.port):
            jcmd = shutil.which("jcmd")
            if jcmd is None:
                return "no JMX port and no jcmd to open one"
            result = subprocess.run(
                [
                    jcmd,
                    str(self.pid),
                    "ManagementAgent.start",
                    f"jmxremote.port={self.port}",
                    f"jmxremote.rmi.port={self.port}",
                    "jmxremote.host=127.0.0.1",
                    "jmxremote.authenticate=false",
                    "jmxremote.ssl=false",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if result.returncode != 0 or not _listening_inodes(self.port):
                return f"jcmd could not open JMX: {result.stdout[-300:]}"
            self.opened = True
        return None

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [
                shutil.which("java") or "java",
                *self.flags,
                f"-Dcassandra.logdir={ROOT / 'var' / 'nodetool'}",
                "-Dlogback.configurationFile=/dev/null",
                "-cp",
                f"{self.lib}/*",
                "org.apache.cassandra.tools.NodeTool",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"nodetool {' '.join(args)}: {result.stderr[-500:]}")
        return result.stdout


if __name__ == "__main__" and sys.argv[1:2] == ["peak-rss"]:
    _sample_until_stdin_closes(int(sys.argv[2]), float(sys.argv[3]))

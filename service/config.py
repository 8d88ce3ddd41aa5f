"""Typed configuration, built from the environment in one place.

Tests build their own :class:`Config` (``Config.from_env({...})`` or
``dataclasses.replace``) instead of patching globals. Every setting is documented in
README.md; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from service.errors import InvalidInput

CONSISTENCY_LEVELS = (
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)
DEFAULT_STORE = "sqlite:///var/datapoints.db"
# KairosDB's row width: three weeks of milliseconds per partition.
DEFAULT_ROW_WIDTH_MS = 1_814_400_000
# Cassandra refuses TTLs above 20 years.
MAX_TTL_SECONDS = 630_720_000
MiB = 1024 * 1024


class ConfigError(InvalidInput):
    """A setting has a value the service cannot use."""


@dataclass(frozen=True)
class Replication:
    """Keyspace replication, applied by ``datapoints schema apply``."""

    strategy: str = "SimpleStrategy"
    factor: int = 1
    datacenters: tuple[tuple[str, int], ...] = ()

    def as_cql_map(self) -> str:
        if self.strategy == "NetworkTopologyStrategy":
            dcs = ", ".join(f"'{dc}': {rf}" for dc, rf in self.datacenters)
            return f"{{'class': 'NetworkTopologyStrategy', {dcs}}}"
        return f"{{'class': 'SimpleStrategy', 'replication_factor': {self.factor}}}"

    @classmethod
    def parse(cls, text: str) -> Replication:
        """``SimpleStrategy:3`` or ``NetworkTopologyStrategy:dc1=3,dc2=2``."""
        strategy, _, arg = text.partition(":")
        strategy = strategy.strip()
        try:
            if strategy == "SimpleStrategy":
                factor = int(arg or "1")
                if factor < 1:
                    raise ValueError
                return cls(strategy, factor)
            if strategy == "NetworkTopologyStrategy":
                dcs = []
                for part in arg.split(","):
                    dc, _, rf = part.partition("=")
                    if not dc.strip() or int(rf) < 1:
                        raise ValueError
                    dcs.append((dc.strip(), int(rf)))
                if not dcs:
                    raise ValueError
                return cls(strategy, 0, tuple(dcs))
        except ValueError:
            pass
        raise ConfigError(
            f"DATAPOINTS_REPLICATION={text!r}: expected SimpleStrategy:N or "
            "NetworkTopologyStrategy:dc1=N,dc2=M"
        )


@dataclass(frozen=True)
class CassandraSettings:
    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    keyspace: str = "datapoints"
    local_dc: str | None = None
    username: str | None = None
    password: str | None = None
    protocol_version: int | None = None
    write_consistency: str = "LOCAL_QUORUM"
    read_consistency: str = "LOCAL_QUORUM"
    meta_consistency: str = "LOCAL_QUORUM"
    request_timeout: float = 10.0
    connect_timeout: float = 10.0


# Default JSON values a request may hold per point it may hold: KairosDB's
# ``[ts, value]`` is 3 values a point and OneNET's ``{"at": t, "value": v}`` 5, so 6
# leaves room for envelopes. (KairosDB's one-object-per-point form takes 9 and 2 a
# tag: a request in that form reaches this limit before the points limit.)
JSON_VALUES_PER_POINT = 6


@dataclass(frozen=True)
class Limits:
    """Per-request limits: anything past them gets a 413 before it costs memory."""

    max_body_bytes: int = 32 * MiB
    max_decompressed_bytes: int = 64 * MiB
    max_points_per_request: int = 500_000
    # JSON values (keys included) a body may decode into; None follows the points
    # limit (JSON_VALUES_PER_POINT each). The tree costs ~100 bytes a value, so
    # this, not the body's size, is what bounds the memory of decoding it.
    max_json_values: int | None = None
    # Fields of a urlencoded form, parts of a multipart one.
    max_form_fields: int = 1000

    @property
    def json_values(self) -> int:
        """The JSON values one request may hold."""
        if self.max_json_values is not None:
            return self.max_json_values
        return JSON_VALUES_PER_POINT * self.max_points_per_request


@dataclass(frozen=True)
class Serving:
    """How ``datapoints serve`` treats slow clients and heavy requests, per worker."""

    # Seconds from a connection's accept (or the first byte of a next request on a
    # kept-alive one) to the end of the request's headers: past it, a 408 or a close.
    header_timeout: float = 10.0
    # A body gets this many seconds, plus one per ``body_min_rate`` bytes received:
    # a client that keeps sending at that rate is never cut off, one that stalls
    # loses its request (408). Also the longest a send to a client may block.
    body_timeout: float = 30.0
    body_min_rate: int = 8192
    # Heavy requests (queries, listings, range deletes) running at once per worker;
    # 0 is half the threads (at least 1), so the others stay free for ingest.
    heavy_concurrency: int = 0
    # How long a heavy request waits for its turn (first come, first served) before
    # a 503 with Retry-After; it holds no thread while it waits.
    heavy_wait: float = 5.0

    def heavy_slots(self, threads: int) -> int:
        return self.heavy_concurrency or max(1, threads // 2)


@dataclass(frozen=True)
class CompactionSettings:
    """The merging of small blocks (service/storage/cassandra/compaction.py)."""

    enabled: bool = True  # each worker compacts in the background
    interval_seconds: int = 60  # between a worker's passes (jittered)
    delay_seconds: int = 300  # a window is due this long after a small write
    small_points: int = 1000  # a block of fewer points queues its window
    lease_seconds: int = 120  # a compactor's hold on a window


@dataclass(frozen=True)
class Config:
    store_url: str = DEFAULT_STORE
    store_kind: str = "sqlite"
    sqlite_path: Path = Path("var/datapoints.db")
    cassandra: CassandraSettings = field(default_factory=CassandraSettings)
    replication: Replication = field(default_factory=Replication)
    default_ttl: int = 0
    durable_writes: bool = True
    row_width_ms: int = DEFAULT_ROW_WIDTH_MS
    limits: Limits = field(default_factory=Limits)
    # Bytes of request bodies (read, decoded and parsed) one worker holds at once.
    worker_body_budget: int = 1024 * MiB
    max_query_points: int = 2_000_000
    max_attachment_bytes: int = 16 * MiB
    write_concurrency: int = 32
    read_concurrency: int = 16
    index_cache_size: int = 200_000
    index_cache_seconds: int = 3600
    secret_key: str | None = None
    secret_file: Path = Path("var/secret.key")
    kairosdb_public: bool = True
    onenet_rest_statuses: bool = False
    bind: str = "127.0.0.1:8080"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    threads: int = 4
    # gunicorn's worker class: "loop" (service.serving.loop_worker, the default) or
    # "gthread" (service.serving.worker: threads only, the previous default)
    worker: str = "loop"
    serving: Serving = field(default_factory=Serving)
    compaction: CompactionSettings = field(default_factory=CompactionSettings)
    log_level: str = "INFO"

    def secret(self) -> bytes:
        """The server secret that API keys are derived from.

        DATAPOINTS_SECRET_KEY when set (every host of a deployment must share it);
        otherwise the contents of DATAPOINTS_SECRET_FILE, created with 256 random bits
        the first time it is needed.
        """
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise ConfigError(
                    "DATAPOINTS_SECRET_KEY must be at least 32 characters"
                )
            return self.secret_key.encode()
        path = self.secret_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another worker is writing it
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_urlsafe(32))
        for _ in range(100):
            text = path.read_text().strip()
            if text:
                return text.encode()
            time.sleep(0.01)
        raise ConfigError(f"{path} is empty; remove it or set DATAPOINTS_SECRET_KEY")

    def replace(self, **changes: object) -> Config:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        store_url = env.get("DATAPOINTS_STORE", DEFAULT_STORE)
        kind, sqlite_path, cassandra = _parse_store(store_url, env)
        default_ttl = _int(
            env, "DATAPOINTS_DEFAULT_TTL", 0, low=0, high=MAX_TTL_SECONDS
        )
        limits = Limits(
            max_body_bytes=_int(env, "DATAPOINTS_MAX_BODY_BYTES", 32 * MiB, low=1024),
            max_decompressed_bytes=_int(
                env, "DATAPOINTS_MAX_DECOMPRESSED_BYTES", 64 * MiB, low=1024
            ),
            max_points_per_request=_int(env, "DATAPOINTS_MAX_POINTS", 500_000, low=1),
            max_json_values=(
                _int(env, "DATAPOINTS_MAX_JSON_VALUES", 0, low=16) or None
            ),
            max_form_fields=_int(
                env, "DATAPOINTS_MAX_FORM_FIELDS", 1000, low=1, high=10_000
            ),
        )
        return cls(
            store_url=store_url,
            store_kind=kind,
            sqlite_path=sqlite_path,
            cassandra=cassandra,
            replication=Replication.parse(
                env.get("DATAPOINTS_REPLICATION", "SimpleStrategy:1")
            ),
            default_ttl=default_ttl,
            durable_writes=_bool(env, "DATAPOINTS_DURABLE_WRITES", True),
            row_width_ms=_int(
                env, "DATAPOINTS_ROW_WIDTH_MS", DEFAULT_ROW_WIDTH_MS, low=1000
            ),
            limits=limits,
            worker_body_budget=_int(
                env, "DATAPOINTS_WORKER_BODY_BUDGET", 1024 * MiB, low=MiB
            ),
            max_query_points=_int(env, "DATAPOINTS_MAX_QUERY_POINTS", 2_000_000, low=1),
            max_attachment_bytes=_int(
                env, "DATAPOINTS_MAX_ATTACHMENT_BYTES", 16 * MiB, low=1
            ),
            write_concurrency=_int(env, "DATAPOINTS_WRITE_CONCURRENCY", 32, low=1),
            read_concurrency=_int(env, "DATAPOINTS_READ_CONCURRENCY", 16, low=1),
            index_cache_size=_int(env, "DATAPOINTS_INDEX_CACHE_SIZE", 200_000, low=0),
            index_cache_seconds=_int(
                env, "DATAPOINTS_INDEX_CACHE_SECONDS", 3600, low=0, high=86_400
            ),
            secret_key=env.get("DATAPOINTS_SECRET_KEY") or None,
            secret_file=Path(env.get("DATAPOINTS_SECRET_FILE", "var/secret.key")),
            kairosdb_public=_bool(env, "DATAPOINTS_KAIROSDB_PUBLIC", True),
            onenet_rest_statuses=_onenet_statuses(env),
            bind=env.get("DATAPOINTS_BIND", "127.0.0.1:8080"),
            workers=_int(env, "DATAPOINTS_WORKERS", os.cpu_count() or 1, low=1),
            threads=_int(env, "DATAPOINTS_THREADS", 4, low=1),
            worker=_worker(env),
            serving=_serving(env),
            compaction=_compaction(env),
            log_level=env.get("DATAPOINTS_LOG_LEVEL", "INFO").upper(),
        )


WORKERS = ("loop", "gthread")


def _worker(env: Mapping[str, str]) -> str:
    value = env.get("DATAPOINTS_WORKER", "loop").strip().lower()
    if value not in WORKERS:
        raise ConfigError(f"DATAPOINTS_WORKER must be one of {', '.join(WORKERS)}")
    return value


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name}={value} is outside [{low}, {high}]")
    return value


def _float(
    env: Mapping[str, str], name: str, default: float, *, low: float, high: float
) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:  # (NaN fails this too)
        raise ConfigError(f"{name}={value} is outside [{low}, {high}]")
    return value


def _serving(env: Mapping[str, str]) -> Serving:
    return Serving(
        header_timeout=_float(
            env, "DATAPOINTS_HEADER_TIMEOUT", 10.0, low=0.1, high=3600
        ),
        body_timeout=_float(env, "DATAPOINTS_BODY_TIMEOUT", 30.0, low=0.1, high=3600),
        body_min_rate=_int(env, "DATAPOINTS_BODY_MIN_RATE", 8192, low=1),
        heavy_concurrency=_int(env, "DATAPOINTS_HEAVY_CONCURRENCY", 0, low=0),
        heavy_wait=_float(env, "DATAPOINTS_HEAVY_WAIT", 5.0, low=0, high=600),
    )


def _compaction(env: Mapping[str, str]) -> CompactionSettings:
    return CompactionSettings(
        enabled=_bool(env, "DATAPOINTS_COMPACTION", True),
        interval_seconds=_int(
            env, "DATAPOINTS_COMPACTION_INTERVAL_SECONDS", 60, low=1, high=86_400
        ),
        delay_seconds=_int(
            env, "DATAPOINTS_COMPACTION_DELAY_SECONDS", 300, low=0, high=86_400
        ),
        small_points=_int(
            env, "DATAPOINTS_COMPACTION_SMALL_POINTS", 1000, low=0, high=8192
        ),
        lease_seconds=_int(
            env, "DATAPOINTS_COMPACTION_LEASE_SECONDS", 120, low=10, high=86_400
        ),
    )


def _onenet_statuses(env: Mapping[str, str]) -> bool:
    raw = env.get("DATAPOINTS_ONENET_HTTP_STATUS", "onenet").strip().lower()
    if raw not in ("onenet", "rest"):
        raise ConfigError("DATAPOINTS_ONENET_HTTP_STATUS must be onenet or rest")
    return raw == "rest"


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


def _consistency(name: str, value: str) -> str:
    level = value.strip().upper()
    if level not in CONSISTENCY_LEVELS:
        raise ConfigError(
            f"{name}={value!r}: not a consistency level "
            f"({', '.join(CONSISTENCY_LEVELS)})"
        )
    return level


def _parse_store(
    url: str, env: Mapping[str, str]
) -> tuple[str, Path, CassandraSettings]:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return "sqlite", _sqlite_path(url, unquote(parts.path)), CassandraSettings()
    if parts.scheme != "cassandra":
        raise ConfigError(
            f"DATAPOINTS_STORE={url!r}: expected sqlite:///path/file.db or "
            "cassandra://host1,host2:9042/keyspace"
        )
    return "cassandra", Path(), _cassandra(parts, env)


def _sqlite_path(url: str, raw: str) -> Path:
    # sqlite:///relative/file.db is relative to the working directory and
    # sqlite:////abs/file.db absolute, as in SQLAlchemy URLs.
    if not raw.strip("/"):
        raise ConfigError(f"DATAPOINTS_STORE={url!r}: no database file named")
    return Path(raw[1:] if raw.startswith("/") else raw)


def _netloc(netloc: str) -> tuple[str | None, str | None, tuple[str, ...], int]:
    """User, password, hosts and port of ``[user:pass@]host1,host2[:port]``."""
    username = password = None
    if "@" in netloc:
        creds, _, netloc = netloc.rpartition("@")
        username, _, password = (unquote(p) for p in creds.partition(":"))
    hosts: list[str] = []
    port = 9042
    for item in netloc.split(","):
        host, _, port_text = item.strip().partition(":")
        if port_text:
            try:
                port = int(port_text)
            except ValueError:
                raise ConfigError(f"DATAPOINTS_STORE: bad port {port_text!r}") from None
        if host:
            hosts.append(host)
    return username, password, tuple(hosts) or ("127.0.0.1",), port


def _positive(name: str, raw: str | None, kind: type[int] | type[float]) -> Any:
    """A number above 0, or None when ``raw`` is absent or empty."""
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be above 0")
    return value


def _cassandra(parts: SplitResult, env: Mapping[str, str]) -> CassandraSettings:
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    username, password, hosts, port = _netloc(parts.netloc)
    keyspace = parts.path.strip("/") or "datapoints"
    if not keyspace.replace("_", "a").isalnum() or len(keyspace) > 48:
        raise ConfigError(f"DATAPOINTS_STORE: bad keyspace name {keyspace!r}")
    base = _consistency(
        "DATAPOINTS_STORE consistency", query.get("consistency", "LOCAL_QUORUM")
    )

    def role(name: str) -> str:
        env_name = f"DATAPOINTS_{name.upper()}_CONSISTENCY"
        raw = env.get(env_name) or query.get(f"{name}_consistency")
        return _consistency(env_name, raw) if raw else base

    return CassandraSettings(
        hosts=hosts,
        port=port,
        keyspace=keyspace,
        local_dc=query.get("local_dc") or env.get("DATAPOINTS_CASSANDRA_LOCAL_DC"),
        username=username or env.get("DATAPOINTS_CASSANDRA_USERNAME"),
        password=password or env.get("DATAPOINTS_CASSANDRA_PASSWORD"),
        protocol_version=_positive(
            "DATAPOINTS_STORE protocol_version", query.get("protocol_version"), int
        ),
        write_consistency=role("write"),
        read_consistency=role("read"),
        meta_consistency=role("meta"),
        request_timeout=(
            _positive(
                "DATAPOINTS_STORE request_timeout", query.get("request_timeout"), float
            )
            or _positive(
                "DATAPOINTS_CASSANDRA_REQUEST_TIMEOUT",
                env.get("DATAPOINTS_CASSANDRA_REQUEST_TIMEOUT"),
                float,
            )
            or 10.0
        ),
        connect_timeout=_positive(
            "DATAPOINTS_STORE connect_timeout", query.get("connect_timeout"), float
        )
        or 10.0,
    )

"""Connections, schema and health for the embedded store.

Each thread gets its own connection (sqlite3 connections are not shared across
threads); WAL lets gunicorn's workers read while one writes, and a busy timeout makes
concurrent writers wait their turn instead of failing.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service import errors
from service.storage.base import DeviceStore, EventStore, FormStore, SchemaState
from service.storage.schema_files import migrations
from service.storage.sqlite.devices import SqliteDeviceStore
from service.storage.sqlite.events import SqliteEventStore
from service.storage.sqlite.forms import SqliteFormStore
from service.storage.sqlite.points import SqlitePointStore
from service.storage.sqlite.projects import SqliteProjectStore

BUSY_TIMEOUT_MS = 15_000


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: Path, *, row_width_ms: int) -> None:
        self.path = path
        self.row_width_ms = row_width_ms
        self._local = threading.local()
        self.points = SqlitePointStore(self)
        self.projects = SqliteProjectStore(self)
        self.events: EventStore = SqliteEventStore(self)
        self.forms: FormStore = SqliteFormStore(self)
        self.devices: DeviceStore = SqliteDeviceStore(self)

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taken with the write lock up front (no upgrade deadlock)."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise errors.Unavailable(
                "The embedded store is busy; retry the request."
            ) from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def schema_state(self) -> SchemaState:
        latest = len(migrations("sqlite"))
        conn = self.conn
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master "
            "WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not has_table:
            return SchemaState(f"sqlite {self.path}", (), latest, {})
        applied = tuple(
            row[0]
            for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")
        )
        settings = dict(conn.execute("SELECT name, value FROM settings").fetchall())
        return SchemaState(f"sqlite {self.path}", applied, latest, settings)

    def apply_schema(self) -> SchemaState:
        applied = set(self.schema_state().applied)
        with self.write() as conn:
            for migration in migrations("sqlite"):
                if migration.version in applied:
                    continue
                for statement in migration.statements():
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.description,
                        dt.datetime.now(dt.UTC).isoformat(),
                    ),
                )
            conn.execute(
                "INSERT OR IGNORE INTO settings VALUES ('row_width_ms', ?)",
                (str(self.row_width_ms),),
            )
        state = self.schema_state()
        self.row_width_ms = int(state.settings["row_width_ms"])
        return state

    def check(self) -> None:
        """Raise unless the store answers a read of its own tables and holds the
        schema this code needs (two reads of a few rows: cheap enough every time)."""
        try:
            state = self.schema_state()
        except sqlite3.Error as exc:
            raise errors.Unavailable("The embedded store does not answer.") from exc
        if not state.current or "row_width_ms" not in state.settings:
            raise errors.SchemaMissing(
                "The embedded store has no current schema; `datapoints serve` or "
                "`datapoints schema apply` creates it."
            )

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

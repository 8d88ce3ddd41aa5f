"""The embedded store: one SQLite file holding every store of the contract."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from service import errors
from service.storage.base import DeviceStore, EventStore, FormStore, SchemaState
from service.storage.sqlite.database import SqliteDatabase
from service.storage.sqlite.devices import SqliteDeviceStore
from service.storage.sqlite.events import SqliteEventStore
from service.storage.sqlite.forms import SqliteFormStore
from service.storage.sqlite.points import SqlitePointStore
from service.storage.sqlite.projects import SqliteProjectStore
from service.storage.sqlite.schema import SqliteSchema

# The embedded store keeps a row per point: nothing to merge.
NO_BLOCKS = "none: the embedded store keeps one row per point"


class SqliteBackend:
    name = "sqlite"
    cooperative = False  # sqlite3 blocks its thread: requests run on pool threads

    def __init__(self, path: Path, *, row_width_ms: int) -> None:
        self.path = path
        self.database = SqliteDatabase(path)
        self.schema = SqliteSchema(self.database, row_width_ms=row_width_ms)
        self.points = SqlitePointStore(self.database, schema=self.schema)
        self.projects = SqliteProjectStore(self.database)
        self.events: EventStore = SqliteEventStore(self.database)
        self.forms: FormStore = SqliteFormStore(self.database)
        self.devices: DeviceStore = SqliteDeviceStore(self.database)

    def schema_state(self) -> SchemaState:
        return self.schema.state()

    def apply_schema(self) -> SchemaState:
        return self.schema.apply()

    def compaction_status(self) -> dict[str, Any]:
        return {"store": "sqlite", "compaction": NO_BLOCKS}

    def compact(self, *, all_now: bool) -> dict[str, Any]:
        return {"store": "sqlite", "compaction": NO_BLOCKS}

    def check(self) -> None:
        """Raise unless the store answers a read of its own tables and holds the
        schema this code needs (two reads of a few rows: cheap enough every time)."""
        try:
            state = self.schema.state()
        except sqlite3.Error as exc:
            raise errors.Unavailable("The embedded store does not answer.") from exc
        if not state.current or "row_width_ms" not in state.settings:
            raise errors.SchemaMissing(
                "The embedded store has no current schema; `datapoints serve` or "
                "`datapoints schema apply` creates it."
            )

    def close(self) -> None:
        self.database.close()

"""Analytics events and aliases in the embedded store."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import ujson

from service import errors
from service.records import Event, StoredEvent
from service.storage.base import Order

if TYPE_CHECKING:
    from service.storage.sqlite.backend import SqliteBackend


class SqliteEventStore:
    def __init__(self, backend: SqliteBackend) -> None:
        self.backend = backend

    def write_events(self, project: str, events: Sequence[Event]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        with self.backend.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        project,
                        e.user_id,
                        e.device_id,
                        e.ts,
                        e.event_id,
                        e.name,
                        ujson.dumps(e.attributes),
                        ujson.dumps(e.user_attributes),
                        ujson.dumps(e.device_attributes),
                        int(e.identified),
                        ujson.dumps(e.extras),
                        now,
                    )
                    for e in events
                ],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO device_users VALUES (?, ?, ?)",
                [(project, e.device_id, e.user_id) for e in events],
            )

    def events(
        self,
        project: str,
        user_id: str,
        device_id: str,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        full: bool = True,
    ) -> Iterator[StoredEvent]:
        direction = "DESC" if order == "desc" else "ASC"
        cursor = self.backend.conn.execute(
            "SELECT device_id, ts, event_id, name, attributes, user_attributes, "
            "device_attributes, identified FROM events WHERE project = ? AND user_id = ? "
            f"AND device_id = ? AND ts BETWEEN ? AND ? ORDER BY ts {direction}",
            (project, user_id, device_id, start, end),
        )
        for row in cursor:
            if full:
                yield StoredEvent(
                    user_id,
                    row[0],
                    row[1],
                    bytes(row[2]),
                    row[3],
                    ujson.loads(row[4]),
                    ujson.loads(row[5]),
                    ujson.loads(row[6]),
                    bool(row[7]),
                )
            else:
                yield StoredEvent(user_id, row[0], row[1], bytes(row[2]))

    def user_devices(self, project: str, user_id: str) -> list[str]:
        rows = self.backend.conn.execute(
            "SELECT DISTINCT device_id FROM events WHERE project = ? AND user_id = ? "
            "ORDER BY 1",
            (project, user_id),
        )
        return [r[0] for r in rows]

    def device_users(self, project: str, device_id: str) -> list[str]:
        rows = self.backend.conn.execute(
            "SELECT user_id FROM device_users WHERE project = ? AND device_id = ? ORDER BY 1",
            (project, device_id),
        )
        return [r[0] for r in rows]

    def alias_of(self, project: str, user_id: str) -> str | None:
        row = self.backend.conn.execute(
            "SELECT user_id FROM aliases WHERE project = ? AND alias_id = ?",
            (project, user_id),
        ).fetchone()
        return row[0] if row else None

    def add_alias(self, project: str, alias_id: str, user_id: str) -> None:
        with self.backend.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO aliases VALUES (?, ?, ?, ?)",
                    (project, alias_id, user_id, dt.datetime.now(dt.UTC).isoformat()),
                )
            except sqlite3.IntegrityError:
                row = conn.execute(
                    "SELECT user_id FROM aliases WHERE project = ? AND alias_id = ?",
                    (project, alias_id),
                ).fetchone()
                if row[0] != user_id:
                    raise errors.Conflict(
                        f"'{alias_id}' is already an alias of another user"
                    ) from None
            conn.execute(
                "INSERT OR IGNORE INTO alias_members VALUES (?, ?, ?)",
                (project, user_id, alias_id),
            )

    def alias_members(self, project: str, user_id: str) -> list[str]:
        rows = self.backend.conn.execute(
            "SELECT member_id FROM alias_members WHERE project = ? AND user_id = ? ORDER BY 1",
            (project, user_id),
        )
        return [r[0] for r in rows]

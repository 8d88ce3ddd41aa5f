"""Analytics events and aliases in the embedded store."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import ujson

from service import errors
from service.records import Event, Profile, StoredEvent
from service.storage.base import Order
from service.storage.event_codec import READ_FULL, READ_KEYS, event_row, stored_event
from service.storage.json_text import loads
from service.storage.sqlite.database import SqliteDatabase


class SqliteEventStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database

    def write_events(self, project: str, events: Sequence[Event]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        with self.database.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [event_row(project, e, now) for e in events],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO device_users VALUES (?, ?, ?)",
                [(project, e.device_id, e.user_id) for e in events],
            )
            # Users and devices keep the earliest and the latest by event time, so
            # the arrival order does not matter (as on Cassandra).
            conn.executemany(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "first_seen = min(first_seen, excluded.first_seen), "
                "identified = CASE WHEN excluded.last_seen >= last_seen "
                "THEN excluded.identified ELSE identified END, "
                "last_device = CASE WHEN excluded.last_seen >= last_seen "
                "THEN excluded.last_device ELSE last_device END, "
                "last_seen = max(last_seen, excluded.last_seen)",
                [
                    (project, e.user_id, int(e.identified), e.ts, e.ts, e.device_id)
                    for e in events
                ],
            )
            conn.executemany(
                "INSERT INTO devices VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "first_seen = min(first_seen, excluded.first_seen), "
                "last_seen = max(last_seen, excluded.last_seen)",
                [(project, e.device_id, e.ts, e.ts) for e in events],
            )
            conn.executemany(
                "INSERT INTO attributes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET value = excluded.value, ts = excluded.ts WHERE excluded.ts >= ts",
                [
                    (project, kind, owner, key, ujson.dumps(value), e.ts)
                    for e in events
                    for kind, owner, attrs in (
                        ("user", e.user_id, e.user_attributes),
                        ("device", e.device_id, e.device_attributes),
                    )
                    for key, value in attrs.items()
                ],
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
        columns = READ_FULL if full else READ_KEYS
        cursor = self.database.conn.execute(
            f"SELECT {columns} FROM events WHERE project = ? AND user_id = ? "
            f"AND device_id = ? AND ts BETWEEN ? AND ? ORDER BY ts {direction}",
            (project, user_id, device_id, start, end),
        )
        for row in cursor:
            yield stored_event(user_id, row, full)

    def user_profile(self, project: str, user_id: str) -> Profile | None:
        row = self.database.conn.execute(
            "SELECT identified, first_seen, last_seen, last_device FROM users "
            "WHERE project = ? AND user_id = ?",
            (project, user_id),
        ).fetchone()
        if row is None:
            return None
        return Profile(
            attributes=self._attributes(project, "user", user_id),
            first_seen=row[1],
            last_seen=row[2],
            identified=bool(row[0]),
            last_device=row[3],
        )

    def device_profile(self, project: str, device_id: str) -> Profile | None:
        row = self.database.conn.execute(
            "SELECT first_seen, last_seen FROM devices WHERE project = ? AND device_id = ?",
            (project, device_id),
        ).fetchone()
        if row is None:
            return None
        return Profile(
            attributes=self._attributes(project, "device", device_id),
            first_seen=row[0],
            last_seen=row[1],
        )

    def _attributes(self, project: str, kind: str, owner: str) -> dict[str, Any]:
        rows = self.database.conn.execute(
            "SELECT key, value FROM attributes WHERE project = ? AND kind = ? AND owner = ?",
            (project, kind, owner),
        )
        return {key: loads(value) for key, value in rows}

    def user_devices(self, project: str, user_id: str) -> list[str]:
        rows = self.database.conn.execute(
            "SELECT DISTINCT device_id FROM events WHERE project = ? AND user_id = ? "
            "ORDER BY 1",
            (project, user_id),
        )
        return [r[0] for r in rows]

    def device_users(self, project: str, device_id: str) -> list[str]:
        rows = self.database.conn.execute(
            "SELECT user_id FROM device_users WHERE project = ? AND device_id = ? ORDER BY 1",
            (project, device_id),
        )
        return [r[0] for r in rows]

    def alias_of(self, project: str, user_id: str) -> str | None:
        row = self.database.conn.execute(
            "SELECT user_id FROM aliases WHERE project = ? AND alias_id = ?",
            (project, user_id),
        ).fetchone()
        return row[0] if row else None

    def add_alias(self, project: str, alias_id: str, user_id: str) -> None:
        with self.database.write() as conn:
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
        rows = self.database.conn.execute(
            "SELECT member_id FROM alias_members WHERE project = ? AND user_id = ? ORDER BY 1",
            (project, user_id),
        )
        return [r[0] for r in rows]

"""Analytics events and aliases on Cassandra."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import ujson

from service import errors
from service.records import Event, StoredEvent
from service.storage.base import Order
from service.storage.cassandra.coalesce import Coalescer
from service.storage.cassandra.session import CassandraSession, Params, Role, Statement

# Device/user pairs a worker remembers having indexed (so it writes each once).
PAIR_CACHE = 100_000
_FULL = "device_id, ts, event_id, name, attributes, user_attributes, device_attributes, identified"


class CassandraEventStore:
    def __init__(
        self,
        session: CassandraSession,
        *,
        keyspace: str,
        write_concurrency: int,
        read_concurrency: int,
    ) -> None:
        self.session = session
        self.ks = keyspace
        self.write_concurrency = write_concurrency
        self.read_concurrency = read_concurrency
        self._pairs: set[tuple[str, str, str]] = set()
        self.coalescer = Coalescer(session, keyspace=keyspace)
        self._lock = threading.Lock()

    def write_events(self, project: str, events: Sequence[Event]) -> None:
        insert = self.session.prepare(
            f"INSERT INTO {self.ks}.events (project, user_id, device_id, ts, event_id, "
            "name, attributes, user_attributes, device_attributes, identified, extras, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        pair = self.session.prepare(
            f"INSERT INTO {self.ks}.device_users (project, device_id, user_id) "
            "VALUES (?, ?, ?)"
        )
        now = dt.datetime.now(dt.UTC)
        by_user: dict[str, list[Any]] = {}
        new_pairs = []
        for e in events:
            by_user.setdefault(e.user_id, []).append(
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
                    e.identified,
                    ujson.dumps(e.extras),
                    now,
                )
            )
            key = (project, e.device_id, e.user_id)
            if key not in self._pairs:
                new_pairs.append(key)
        items: list[tuple[Statement, Params]] = []
        for rows in by_user.values():
            if len(rows) == 1:
                items.append((insert.bind(rows[0]), None))
            else:  # one user = one partition: one unlogged batch
                batch = self.session.batch(Role.WRITE)
                for row in rows:
                    batch.add(insert, row)
                items.append((batch, None))
        if len(by_user) == 1 and len(events) <= 4:
            # The SDKs' case, one data point per request: coalesced with the
            # other requests of this process (see coalesce.py).
            rows = [(insert, row, _size(row)) for row in next(iter(by_user.values()))]
            rows += [(pair, key, 64) for key in dict.fromkeys(new_pairs)]
            self.coalescer.write(rows)
        else:
            items += [(pair.bind(key), None) for key in dict.fromkeys(new_pairs)]
            self.session.execute_all(
                items, role=Role.WRITE, concurrency=self.write_concurrency
            )
        with self._lock:
            if len(self._pairs) > PAIR_CACHE:
                self._pairs.clear()
            self._pairs.update(new_pairs)

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
        columns = _FULL if full else "device_id, ts, event_id"
        stmt = self.session.prepare(
            f"SELECT {columns} FROM {self.ks}.events WHERE project = ? AND user_id = ? "
            "AND device_id = ? AND ts >= ? AND ts <= ? "
            f"ORDER BY device_id {direction}, ts {direction}"
        )
        rows = self.session.stream(
            stmt,
            (project, user_id, device_id, start, end),
            role=Role.READ,
            fetch_size=2000,
        )
        for row in rows:
            if full:
                yield StoredEvent(
                    user_id,
                    row.device_id,
                    row.ts,
                    bytes(row.event_id),
                    row.name,
                    ujson.loads(row.attributes),
                    ujson.loads(row.user_attributes),
                    ujson.loads(row.device_attributes),
                    bool(row.identified),
                )
            else:
                yield StoredEvent(user_id, row.device_id, row.ts, bytes(row.event_id))

    def user_devices(self, project: str, user_id: str) -> list[str]:
        rows = self.session.execute(
            self.session.prepare(
                f"SELECT device_id FROM {self.ks}.events WHERE project = ? AND user_id = ? "
                "GROUP BY device_id"
            ),
            (project, user_id),
            role=Role.READ,
        )
        return sorted(row.device_id for row in rows)

    def device_users(self, project: str, device_id: str) -> list[str]:
        rows = self.session.execute(
            self.session.prepare(
                f"SELECT user_id FROM {self.ks}.device_users WHERE project = ? AND device_id = ?"
            ),
            (project, device_id),
            role=Role.READ,
        )
        return sorted(row.user_id for row in rows)

    def alias_of(self, project: str, user_id: str) -> str | None:
        row = self.session.execute(
            self.session.prepare(
                f"SELECT user_id FROM {self.ks}.aliases WHERE project = ? AND alias_id = ?"
            ),
            (project, user_id),
            role=Role.READ,
        ).one()
        return row.user_id if row else None

    def add_alias(self, project: str, alias_id: str, user_id: str) -> None:
        # A lightweight transaction: an id is aliased once, into one user, even if two
        # requests race (aliasing is irreversible).
        row = self.session.execute(
            self.session.prepare(
                f"INSERT INTO {self.ks}.aliases (project, alias_id, user_id, created_at) "
                "VALUES (?, ?, ?, ?) IF NOT EXISTS"
            ),
            (project, alias_id, user_id, dt.datetime.now(dt.UTC)),
            role=Role.META,
        ).one()
        if not row[0] and row.user_id != user_id:
            raise errors.Conflict(f"'{alias_id}' is already an alias of another user")
        self.session.execute(
            self.session.prepare(
                f"INSERT INTO {self.ks}.alias_members (project, user_id, member_id) "
                "VALUES (?, ?, ?)"
            ),
            (project, user_id, alias_id),
            role=Role.WRITE,
        )

    def alias_members(self, project: str, user_id: str) -> list[str]:
        rows = self.session.execute(
            self.session.prepare(
                f"SELECT member_id FROM {self.ks}.alias_members WHERE project = ? "
                "AND user_id = ?"
            ),
            (project, user_id),
            role=Role.READ,
        )
        return sorted(row.member_id for row in rows)


def _size(row: tuple[Any, ...]) -> int:
    return 64 + sum(len(v) for v in row if isinstance(v, (str, bytes)))

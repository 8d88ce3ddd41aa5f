"""Analytics events and aliases on Cassandra."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import ujson

from service import errors
from service.records import Event, Profile, StoredEvent
from service.storage.base import Order
from service.storage.cassandra.coalesce import Row
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.session import Role, earliest_wins
from service.storage.event_codec import (
    COLUMNS,
    READ_FULL,
    READ_KEYS,
    event_row,
    stored_event,
)
from service.storage.json_text import loads

# Device/user pairs a worker remembers having indexed (so it writes each once).
PAIR_CACHE = 100_000

# The rows an event writes, all through the coalescer.
_WRITE = {
    "event": "INSERT INTO {ks}.events (" + COLUMNS + ") "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "user": "UPDATE {ks}.users USING TIMESTAMP ? SET attributes = attributes + ?, "
    "identified = ?, last_seen = ?, last_device = ? WHERE project = ? AND user_id = ?",
    "device": "UPDATE {ks}.devices USING TIMESTAMP ? SET attributes = attributes + ?, "
    "last_seen = ? WHERE project = ? AND device_id = ?",
    "user_first": "UPDATE {ks}.users USING TIMESTAMP ? SET first_seen = ? "
    "WHERE project = ? AND user_id = ?",
    "device_first": "UPDATE {ks}.devices USING TIMESTAMP ? SET first_seen = ? "
    "WHERE project = ? AND device_id = ?",
    "pair": "INSERT INTO {ks}.device_users (project, device_id, user_id) "
    "VALUES (?, ?, ?)",
}
# Reading events back: all their columns or only their keys, in either order.
_READ = {
    (full, order): "SELECT " + columns + " FROM {ks}.events WHERE project = ? "
    "AND user_id = ? AND device_id = ? AND ts >= ? AND ts <= ? "
    "ORDER BY device_id " + order + ", ts " + order
    for full, columns in ((True, READ_FULL), (False, READ_KEYS))
    for order in ("asc", "desc")
}


class CassandraEventStore:
    def __init__(self, context: CassandraContext) -> None:
        self.context = context
        self.session = context.session
        self._pairs: set[tuple[str, str, str]] = set()
        # earliest event time this process wrote as first_seen, per user and device
        self._firsts: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def write_events(self, project: str, events: Sequence[Event]) -> None:
        """All rows of all events go through the coalescer (see coalesce.py): an SDK
        posts one data point per request, and rows of concurrent requests share
        batches. Users and devices are kept exact by write timestamps derived from
        the events' own times (see the schema), so nothing is read first."""
        stmt = _WRITE
        now = dt.datetime.now(dt.UTC)
        rows: list[Row] = []
        firsts: list[tuple[tuple[str, str, str], int]] = []
        new_pairs = []
        for e in events:
            row = event_row(project, e, now)
            rows.append((stmt["event"], row, _size(*row)))
            latest = e.ts * 1000
            user_attrs = {k: ujson.dumps(v) for k, v in e.user_attributes.items()}
            rows.append(
                (
                    stmt["user"],
                    (
                        latest,
                        user_attrs,
                        e.identified,
                        e.ts,
                        e.device_id,
                        project,
                        e.user_id,
                    ),
                    _size(e.device_id, e.user_id, user_attrs),
                )
            )
            device_attrs = {k: ujson.dumps(v) for k, v in e.device_attributes.items()}
            rows.append(
                (
                    stmt["device"],
                    (latest, device_attrs, e.ts, project, e.device_id),
                    _size(e.device_id, device_attrs),
                )
            )
            for kind, owner in (("user", e.user_id), ("device", e.device_id)):
                key = (project, kind, owner)
                known = self._firsts.get(key)
                if known is None or e.ts < known:
                    rows.append(
                        (
                            stmt[f"{kind}_first"],
                            (earliest_wins(latest), e.ts, project, owner),
                            64,
                        )
                    )
                    firsts.append((key, e.ts))
            pair = (project, e.device_id, e.user_id)
            if pair not in self._pairs:
                rows.append((stmt["pair"], pair, 64))
                new_pairs.append(pair)
        self.context.coalescer.write(rows)
        with self._lock:  # remembered only once acknowledged
            if len(self._pairs) > PAIR_CACHE:
                self._pairs.clear()
            self._pairs.update(new_pairs)
            if len(self._firsts) > PAIR_CACHE:
                self._firsts.clear()
            for key, ts in firsts:
                self._firsts[key] = min(ts, self._firsts.get(key, ts))

    def user_profile(self, project: str, user_id: str) -> Profile | None:
        row = self.session.execute(
            "SELECT attributes, identified, first_seen, last_seen, last_device "
            "FROM {ks}.users WHERE project = ? AND user_id = ?",
            (project, user_id),
            role=Role.READ,
        ).one()
        if row is None or row.last_seen is None:
            return None
        return Profile(
            attributes=_attrs(row.attributes),
            first_seen=row.first_seen if row.first_seen is not None else row.last_seen,
            last_seen=row.last_seen,
            identified=bool(row.identified),
            last_device=row.last_device or "",
        )

    def device_profile(self, project: str, device_id: str) -> Profile | None:
        row = self.session.execute(
            "SELECT attributes, first_seen, last_seen FROM {ks}.devices "
            "WHERE project = ? AND device_id = ?",
            (project, device_id),
            role=Role.READ,
        ).one()
        if row is None or row.last_seen is None:
            return None
        return Profile(
            attributes=_attrs(row.attributes),
            first_seen=row.first_seen if row.first_seen is not None else row.last_seen,
            last_seen=row.last_seen,
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
        rows = self.session.stream(
            _READ[(full, order)],
            (project, user_id, device_id, start, end),
            role=Role.READ,
            fetch_size=2000,
        )
        for row in rows:
            yield stored_event(user_id, row, full)

    def user_devices(self, project: str, user_id: str) -> list[str]:
        rows = self.session.execute(
            "SELECT device_id FROM {ks}.events WHERE project = ? AND user_id = ? "
            "GROUP BY device_id",
            (project, user_id),
            role=Role.READ,
        )
        return sorted(row.device_id for row in rows)

    def device_users(self, project: str, device_id: str) -> list[str]:
        rows = self.session.execute(
            "SELECT user_id FROM {ks}.device_users WHERE project = ? AND device_id = ?",
            (project, device_id),
            role=Role.READ,
        )
        return sorted(row.user_id for row in rows)

    def alias_of(self, project: str, user_id: str) -> str | None:
        row = self.session.execute(
            "SELECT user_id FROM {ks}.aliases WHERE project = ? AND alias_id = ?",
            (project, user_id),
            role=Role.READ,
        ).one()
        return row.user_id if row else None

    def add_alias(self, project: str, alias_id: str, user_id: str) -> None:
        # A lightweight transaction: an id is aliased once, into one user, even if two
        # requests race (aliasing is irreversible).
        row = self.session.execute(
            "INSERT INTO {ks}.aliases (project, alias_id, user_id, created_at) "
            "VALUES (?, ?, ?, ?) IF NOT EXISTS",
            (project, alias_id, user_id, dt.datetime.now(dt.UTC)),
            role=Role.META,
        ).one()
        if not row[0] and row.user_id != user_id:
            raise errors.Conflict(f"'{alias_id}' is already an alias of another user")
        self.session.execute(
            "INSERT INTO {ks}.alias_members (project, user_id, member_id) "
            "VALUES (?, ?, ?)",
            (project, user_id, alias_id),
            role=Role.WRITE,
        )

    def alias_members(self, project: str, user_id: str) -> list[str]:
        rows = self.session.execute(
            "SELECT member_id FROM {ks}.alias_members WHERE project = ? "
            "AND user_id = ?",
            (project, user_id),
            role=Role.READ,
        )
        return sorted(row.member_id for row in rows)


def _size(*values: Any) -> int:
    """About the bytes a row's values take: the coalescer keeps batches of several
    partitions under Cassandra's batch_size_fail_threshold by it, and sends a row
    larger than that alone (a one-partition batch is exempt). Attributes count too:
    a user's 100 KiB of them once made their batch "too large"."""
    total = 64
    for value in values:
        if isinstance(value, (str, bytes)):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(k) + len(v) for k, v in value.items())
    return total


def _attrs(stored: Any) -> dict[str, Any]:
    return {k: loads(v) for k, v in (stored or {}).items()}

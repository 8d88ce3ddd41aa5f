"""What the analyze API reports about users, sessions and devices, computed from the
stored events (sessions are derived on read: see ``service.domain.sessions``).

The reports are records; the Liquid dialect renders them (``dialects/liquid/views``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from service.domain import sessions as sx
from service.records import LONG_MAX, LONG_MIN, Profile, Project, StoredEvent
from service.storage.base import EventStore, Order

# Alias chains are short (anonymous -> identified); this only stops a cycle.
MAX_ALIAS_DEPTH = 16
# The most ids one user gathers through aliases that a report follows.
MAX_ALIASED_IDS = 10_000


@dataclass(frozen=True)
class Session:
    """A session of a user (its canonical id) on a device."""

    user_id: str
    device_id: str
    run: sx.Run

    @property
    def id(self) -> str:
        return sx.session_id(self.user_id, self.device_id, self.run.start)


@dataclass(frozen=True)
class SessionEvents:
    session: Session
    events: list[StoredEvent]  # by time, then event id


@dataclass(frozen=True)
class UserReport:
    user_id: str  # canonical
    identified: bool
    aliases: list[str]  # the other ids aliased into it
    attributes: dict[str, Any]  # the latest of each, across its ids
    first_seen: int
    last_seen: int
    devices: list[str]
    last_device: str
    last_device_profile: Profile | None
    session_lengths: list[float]  # seconds, of every session


@dataclass(frozen=True)
class DeviceReport:
    device_id: str
    profile: Profile
    users: list[str]  # canonical ids, sorted


class Analytics:
    """Reports for one project, built per request: its steps ask for a user's ids
    and devices again and again, and each is read once (a device list scans the
    user's events partition on Cassandra)."""

    def __init__(self, events: EventStore, project: Project) -> None:
        self.events = events
        self.project = project
        self.gap_ms = project.session_gap * 1000
        self._ids: dict[str, list[str]] = {}
        self._devices: dict[tuple[str, ...], list[str]] = {}

    # -- identities -------------------------------------------------------------------

    def canonical(self, user_id: str) -> str:
        """The user an id stands for after aliasing (itself if never aliased)."""
        seen = {user_id}
        for _ in range(MAX_ALIAS_DEPTH):
            target = self.events.alias_of(self.project.id, user_id)
            if target is None or target in seen:
                return user_id
            seen.add(target)
            user_id = target
        return user_id

    def ids(self, user_id: str) -> list[str]:
        """The user's own id and every id aliased into it, directly or not."""
        known = self._ids.get(user_id)
        if known is not None:
            return known
        out, todo = [user_id], [user_id]
        while todo and len(out) < MAX_ALIASED_IDS:
            for member in self.events.alias_members(self.project.id, todo.pop()):
                if member not in out:
                    out.append(member)
                    todo.append(member)
        self._ids[user_id] = out
        return out

    def devices(self, ids: list[str]) -> list[str]:
        known = self._devices.get(tuple(ids))
        if known is None:
            found: set[str] = set()
            for uid in ids:
                found.update(self.events.user_devices(self.project.id, uid))
            known = self._devices[tuple(ids)] = sorted(found)
        return known

    # -- sessions ---------------------------------------------------------------------

    def _times(
        self, ids: list[str], device: str, start: int, end: int, *, desc: bool = False
    ) -> Iterator[int]:
        order: Order = "desc" if desc else "asc"
        streams = [
            (
                e.ts
                for e in self.events.events(
                    self.project.id, uid, device, start, end, order=order, full=False
                )
            )
            for uid in ids
        ]
        return sx.merged(streams, reverse=desc)

    def sessions(
        self, user_id: str, start: int = LONG_MIN, end: int = LONG_MAX
    ) -> list[Session]:
        """Every session of the (canonical) user overlapping [start, end], by start."""
        ids = self.ids(user_id)
        out = []
        for device in self.devices(ids):
            middle = list(self._times(ids, device, start, end))
            left = (
                sx.chained(
                    self._times(ids, device, LONG_MIN, start - 1, desc=True),
                    start,
                    self.gap_ms,
                )
                if start > LONG_MIN
                else []
            )
            right = (
                sx.chained(
                    self._times(ids, device, end + 1, LONG_MAX), end, self.gap_ms
                )
                if end < LONG_MAX
                else []
            )
            for run in sx.runs([*reversed(left), *middle, *right], self.gap_ms):
                if run.end >= start and run.start <= end:
                    out.append(Session(user_id, device, run))
        out.sort(key=lambda s: (s.run.start, s.device_id))
        return out

    def known(self, user_id: str) -> str | None:
        """The canonical id of the user ``user_id`` stands for, if it has events."""
        user = self.canonical(user_id)
        return user if self.devices(self.ids(user)) else None

    def session(self, session_id: str) -> SessionEvents | None:
        parsed = sx.parse_session_id(session_id)
        if parsed is None:
            return None
        user_id, device, ts = parsed
        user = self.canonical(user_id)
        found = [
            s
            for s in self.sessions(user, ts, ts)
            if s.device_id == device and s.run.start <= ts
        ]
        if not found:
            return None
        run = found[0].run
        events = sorted(
            (
                e
                for uid in self.ids(user)
                for e in self.events.events(
                    self.project.id, uid, device, run.start, run.end
                )
            ),
            key=lambda e: (e.ts, e.event_id),
        )
        return SessionEvents(found[0], events)

    # -- users and devices ------------------------------------------------------------

    def user(self, user_id: str) -> UserReport | None:
        user = self.canonical(user_id)
        ids = self.ids(user)
        profiles = [
            p for uid in ids if (p := self.events.user_profile(self.project.id, uid))
        ]
        if not profiles:
            return None
        profiles.sort(key=lambda p: p.last_seen)  # the latest id's values win
        latest = profiles[-1]
        attributes: dict[str, Any] = {}
        for profile in profiles:
            attributes.update(profile.attributes)
        return UserReport(
            user_id=user,
            identified=latest.identified,
            aliases=[i for i in ids if i != user],
            attributes=attributes,
            first_seen=min(p.first_seen for p in profiles),
            last_seen=latest.last_seen,
            devices=self.devices(ids),
            last_device=latest.last_device,
            last_device_profile=self.events.device_profile(
                self.project.id, latest.last_device
            ),
            session_lengths=[s.run.length_s for s in self.sessions(user)],
        )

    def device(self, device_id: str) -> DeviceReport | None:
        profile = self.events.device_profile(self.project.id, device_id)
        if profile is None:
            return None
        holders = self.events.device_users(self.project.id, device_id)
        return DeviceReport(
            device_id, profile, sorted({self.canonical(u) for u in holders})
        )

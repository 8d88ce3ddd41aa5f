"""What the analyze API reports about users, sessions and devices, computed from the
stored events (sessions are derived on read: see service/sessions.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from service import sessions as sx
from service.moments import render
from service.projects import Project
from service.records import LONG_MAX, LONG_MIN
from service.storage.base import EventStore, Order

# Alias chains are short (anonymous -> identified); this only stops a cycle.
MAX_ALIAS_DEPTH = 16


class Analytics:
    def __init__(self, events: EventStore, project: Project) -> None:
        self.events = events
        self.project = project
        self.gap_ms = project.session_gap * 1000
        # An Analytics serves one request, whose steps ask for a user's ids and
        # devices again and again: each is read once (a device list scans the user's
        # events partition on Cassandra).
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
        while todo and len(out) < 10_000:
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
    ) -> list[tuple[str, sx.Run]]:
        """(device, run) for every session overlapping [start, end], by start."""
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
                    out.append((device, run))
        out.sort(key=lambda item: (item[1].start, item[0]))
        return out

    def session(self, session_id: str) -> dict[str, Any] | None:
        parsed = sx.parse_session_id(session_id)
        if parsed is None:
            return None
        user_id, device, ts = parsed
        user = self.canonical(user_id)
        found = [
            run
            for dev, run in self.sessions(user, ts, ts)
            if dev == device and run.start <= ts
        ]
        if not found:
            return None
        run = found[0]
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
        body = self._session_json(user, device, run)
        body["events"] = [
            {"name": e.name, "timestamp": self.iso(e.ts), "attributes": e.attributes}
            for e in events
        ]
        return body

    def _session_json(self, user: str, device: str, run: sx.Run) -> dict[str, Any]:
        return {
            "id": sx.session_id(user, device, run.start),
            "user_id": user,
            "device_id": device,
            "started_at": self.iso(run.start),
            "ended_at": self.iso(run.end),
            "length": run.length_s,
            "events_count": run.count,
        }

    def session_list(self, user: str, start: int, end: int) -> list[dict[str, Any]]:
        return [
            self._session_json(user, dev, run)
            for dev, run in self.sessions(user, start, end)
        ]

    # -- users and devices ------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any] | None:
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
        devices = self.devices(ids)
        device = self.events.device_profile(self.project.id, latest.last_device)
        lengths = [run.length_s for _, run in self.sessions(user)]
        return {
            "id": user,
            "unique_id": user,
            "identified": latest.identified,
            "aliases": [i for i in ids if i != user],
            "attrs": {
                **attributes,
                "first_seen_at": self.iso(min(p.first_seen for p in profiles)),
                "last_seen_at": self.iso(latest.last_seen),
                "devices_count": len(devices),
            },
            "devices": devices,
            "last_device": {
                "unique_id": latest.last_device,
                **(device.attributes if device else {}),
                "first_seen_at": self.iso(device.first_seen) if device else None,
                "last_seen_at": self.iso(device.last_seen) if device else None,
            },
            "session": {
                "total_number": len(lengths),
                "total_length": sum(lengths),
                "avg_length": sum(lengths) / len(lengths) if lengths else 0,
                "min_length": min(lengths, default=0),
                "max_length": max(lengths, default=0),
            },
        }

    def device(self, device_id: str) -> dict[str, Any] | None:
        profile = self.events.device_profile(self.project.id, device_id)
        if profile is None:
            return None
        holders = self.events.device_users(self.project.id, device_id)
        return {
            "unique_id": device_id,
            "attrs": profile.attributes,
            "first_seen_at": self.iso(profile.first_seen),
            "last_seen_at": self.iso(profile.last_seen),
            "users": sorted({self.canonical(u) for u in holders}),
        }

    def iso(self, ms: int) -> str:
        return render(ms, self.project.zone, _iso_ms)


def _iso_ms(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")

"""The analyze API's answers: users, devices and sessions as Liquid shows them, times
in ISO 8601 in the project's time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from service import times
from service.domain.analytics import DeviceReport, Session, SessionEvents, UserReport
from service.records import Project


def _iso_ms(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class Views:
    """The views of one project's reports (its zone places every time)."""

    def __init__(self, project: Project) -> None:
        self.zone = project.zone

    def iso(self, ms: int) -> str:
        return times.render(ms, self.zone, _iso_ms)

    def session(self, s: Session) -> dict[str, Any]:
        return {
            "id": s.id,
            "user_id": s.user_id,
            "device_id": s.device_id,
            "started_at": self.iso(s.run.start),
            "ended_at": self.iso(s.run.end),
            "length": s.run.length_s,
            "events_count": s.run.count,
        }

    def session_events(self, found: SessionEvents) -> dict[str, Any]:
        body = self.session(found.session)
        body["events"] = [
            {"name": e.name, "timestamp": self.iso(e.ts), "attributes": e.attributes}
            for e in found.events
        ]
        return body

    def user_sessions(self, user: str, sessions: list[Session]) -> dict[str, Any]:
        return {"user_id": user, "sessions": [self.session(s) for s in sessions]}

    def user(self, u: UserReport) -> dict[str, Any]:
        device = u.last_device_profile
        lengths = u.session_lengths
        return {
            "id": u.user_id,
            "unique_id": u.user_id,
            "identified": u.identified,
            "aliases": u.aliases,
            "attrs": {
                **u.attributes,
                "first_seen_at": self.iso(u.first_seen),
                "last_seen_at": self.iso(u.last_seen),
                "devices_count": len(u.devices),
            },
            "devices": u.devices,
            "last_device": {
                "unique_id": u.last_device,
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

    def device(self, d: DeviceReport) -> dict[str, Any]:
        return {
            "unique_id": d.device_id,
            "attrs": d.profile.attributes,
            "first_seen_at": self.iso(d.profile.first_seen),
            "last_seen_at": self.iso(d.profile.last_seen),
            "users": d.users,
        }


def alias(user: str, alias_id: str) -> dict[str, str]:
    return {"unique_id": user, "unique_id_alias": alias_id}

"""The storage contract for projects and analytics events, run on both drivers."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from service import errors
from service.records import LONG_MAX, LONG_MIN, Event, Project
from service.storage import Backend


def event(user: str, device: str, ts: int, name: str = "tap", n: int = 0) -> Event:
    return Event(
        user_id=user,
        device_id=device,
        ts=ts,
        event_id=f"{name}{n}".encode().ljust(16, b"\0"),
        name=name,
        attributes={"n": n, "price": 1.5, "ok": True, "none": None},
        user_attributes={"age": 30 + n},
        device_attributes={"model": "x"},
        identified=n % 2 == 0,
        extras={"values": [{"id": "a"}]},
    )


class EventStoreContract:
    """Subclasses supply ``backend``."""

    def test_events_round_trip_in_time_order(
        self, backend: Backend, unique: str
    ) -> None:
        events = [event(unique, "d1", ts, n=i) for i, ts in enumerate([30, 10, 20])]
        backend.events.write_events(unique, events)
        got = list(backend.events.events(unique, unique, "d1", LONG_MIN, LONG_MAX))
        assert [e.ts for e in got] == [10, 20, 30]
        first = got[0]
        assert (
            first.name,
            first.attributes,
            first.user_attributes,
            first.identified,
        ) == (
            "tap",
            {"n": 1, "price": 1.5, "ok": True, "none": None},
            {"age": 31},
            False,
        )
        assert [
            e.ts
            for e in backend.events.events(unique, unique, "d1", 15, 30, order="desc")
        ] == [30, 20]
        light = list(
            backend.events.events(unique, unique, "d1", LONG_MIN, LONG_MAX, full=False)
        )
        assert [e.ts for e in light] == [10, 20, 30]

    def test_the_same_event_twice_is_stored_once(
        self, backend: Backend, unique: str
    ) -> None:
        e = event(unique, "d1", 5)
        backend.events.write_events(unique, [e, e])
        backend.events.write_events(unique, [e])
        assert (
            len(list(backend.events.events(unique, unique, "d1", LONG_MIN, LONG_MAX)))
            == 1
        )

    def test_devices_and_users(self, backend: Backend, unique: str) -> None:
        backend.events.write_events(
            unique, [event("u1", "a", 1), event("u1", "b", 2), event("u2", "a", 3)]
        )
        assert backend.events.user_devices(unique, "u1") == ["a", "b"]
        assert backend.events.device_users(unique, "a") == ["u1", "u2"]
        assert backend.events.user_devices(unique, "nobody") == []
        assert (
            backend.events.user_devices(unique + "-other", "u1") == []
        )  # other project

    def test_aliases(self, backend: Backend, unique: str) -> None:
        ev = backend.events
        assert ev.alias_of(unique, "anon") is None
        ev.add_alias(unique, "anon", "john")
        ev.add_alias(unique, "anon", "john")  # the same again is fine
        assert ev.alias_of(unique, "anon") == "john"
        assert ev.alias_members(unique, "john") == ["anon"]
        with pytest.raises(errors.Conflict):
            ev.add_alias(unique, "anon", "mary")
        assert ev.alias_of(unique + "-other", "anon") is None

    def test_projects(self, backend: Backend, unique: str) -> None:
        made = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        p = Project(
            id=unique,
            name="n",
            mode="production",
            session_gap=60,
            timezone="Asia/Tokyo",
            key_hash=b"h" * 32,
            key_nonce=b"n" * 16,
            created_at=made,
        )
        backend.projects.create_project(p)
        assert backend.projects.get_project(unique) == p
        with pytest.raises(errors.Conflict):
            backend.projects.create_project(p)
        changed = dataclasses.replace(p, name="m", key_hash=b"k" * 32)
        backend.projects.update_project(changed)
        assert backend.projects.get_project(unique) == changed
        assert unique in [x.id for x in backend.projects.list_projects()]
        assert backend.projects.get_project(unique + "x") is None

    def test_profiles_keep_the_latest_and_earliest_by_event_time(
        self, backend: Backend, unique: str
    ) -> None:
        def ev(
            ts: int, age: int, model: str, identified: bool, extra: dict[str, object]
        ) -> Event:
            return Event(
                user_id="u",
                device_id=f"d-{model}",
                ts=ts,
                event_id=str(ts).encode().ljust(16, b"\0"),
                name="tap",
                attributes={},
                user_attributes={"age": age, **extra},
                device_attributes={"model": model},
                identified=identified,
                extras={},
            )

        # arrival order: middle, latest, earliest
        backend.events.write_events(unique, [ev(200, 31, "b", False, {"plan": "free"})])
        backend.events.write_events(unique, [ev(300, 32, "c", True, {})])
        backend.events.write_events(
            unique, [ev(100, 30, "a", False, {"plan": "trial", "old": 1})]
        )
        user = backend.events.user_profile(unique, "u")
        assert user is not None
        assert (user.first_seen, user.last_seen, user.identified, user.last_device) == (
            100,
            300,
            True,
            "d-c",
        )
        # each key its latest value: age from 300, plan from 200, old from 100
        assert user.attributes == {"age": 32, "plan": "free", "old": 1}
        device = backend.events.device_profile(unique, "d-b")
        assert device is not None and device.attributes == {"model": "b"}
        assert (device.first_seen, device.last_seen) == (200, 200)
        assert backend.events.user_profile(unique, "nobody") is None
        assert backend.events.device_profile(unique + "-other", "d-b") is None

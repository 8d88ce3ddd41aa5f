"""Hostile input to Liquid's collect and analyze APIs: every answer is Liquid's own
4xx, never a 500, and nothing of a refused data point is stored. Old rows holding
what is refused now (text that is not Unicode, times outside the calendar) still read.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from falcon import testing

from service.config import Config
from service.domain.projects import Directory, Keys
from service.records import Event
from service.storage import Backend


@pytest.fixture
def make_project(backend: Backend, config: Config) -> Any:
    def make(zone: str = "UTC") -> tuple[str, str]:
        project, key = Directory(backend.projects, Keys(config.secret())).create(
            "hostile liquid", mode="development", timezone=zone
        )
        return project.id, key

    return make


@pytest.fixture
def key(make_project: Any) -> str:
    return str(make_project()[1])


def post(client: testing.TestClient, key: str, body: Any) -> testing.Result:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.simulate_post(
        "/collect/data_points",
        body=data,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )


def get(client: testing.TestClient, key: str, path: str, **params: str) -> Any:
    return client.simulate_get(
        path, headers={"Authorization": f"Token {key}"}, params=params
    )


def point(uid: str, **change: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "timestamp": "2015-01-07T17:28:58.270+00:00",
        "user": {"unique_id": uid},
        "device": {"unique_id": "d1"},
        "event": {"name": "Open App"},
    }
    doc.update(change)
    return doc


def refused(result: testing.Result, status: int = 422) -> str:
    assert result.status_code == status, result.text
    if status == 422:
        return str(result.json["details"])
    return str(result.json["error"])


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC
        "0001-01-01T23:00:00.999+00:00",  # inside year 1, but not every zone can show it
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "9999-12-31T00:00:00.5+00:00",
    ],
)
def test_times_outside_the_calendar_are_422_and_not_stored(
    client: testing.TestClient, key: str, unique: str, stamp: str
) -> None:
    for body in (
        point(unique, timestamp=stamp),
        point(unique, timestamp=None, event={"name": "Open App", "date": stamp}),
    ):
        assert "between 0001-01-02 and 9999-12-30" in refused(post(client, key, body))
    assert get(client, key, f"/analyze/users/{unique}").status_code == 404


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-02T00:00:00.000+00:00",
        "0001-01-02T15:00:00.000+15:00",
        "9999-12-30T23:59:59.999+00:00",
        "9999-12-30T10:00:00.000-13:59",
        "2015-01-07T17:28:58.123456+05:45",
    ],
)
@pytest.mark.parametrize(
    "zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Manila"]
)
def test_times_at_the_edges_are_stored_and_shown_in_any_zone(
    client: testing.TestClient, make_project: Any, unique: str, stamp: str, zone: str
) -> None:
    _, key = make_project(zone)
    assert post(client, key, point(unique, timestamp=stamp)).status_code == 200
    user = get(client, key, f"/analyze/users/{unique}")
    assert user.status_code == 200, user.text
    local = dt.datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
    shown = local.isoformat(timespec="milliseconds")
    assert user.json["attrs"]["first_seen_at"] == shown
    listed = get(client, key, f"/analyze/users/{unique}/sessions")
    assert [s["started_at"] for s in listed.json["sessions"]] == [
        user.json["attrs"]["first_seen_at"]
    ]


def test_attribute_keys_have_a_documented_limit(
    client: testing.TestClient, key: str, unique: str
) -> None:
    fits = "k" * 255
    body = point(unique, user={"unique_id": unique, fits: 1})
    assert post(client, key, body).status_code == 200
    long = "x" * 70_000  # past Cassandra's 64 KiB for a map key
    for kind in ("user", "device", "event"):
        entity = {"unique_id": unique} if kind != "event" else {"name": "Open App"}
        if kind == "device":
            entity["unique_id"] = "d1"
        body = point(unique + kind, **{kind: {**entity, long: "v", "k" * 256: 2}})
        details = refused(post(client, key, body))
        assert "longer than 255 characters" in details
        assert len(details) < 500  # the 70 KiB key is not echoed whole
        assert get(client, key, f"/analyze/users/{unique}{kind}").status_code == 404
    assert get(client, key, f"/analyze/users/{unique}").json["attrs"][fits] == 1


def test_a_data_point_over_1_mib_is_413_and_not_stored(
    client: testing.TestClient, key: str, unique: str
) -> None:
    body = point(unique, user={"unique_id": unique, "bio": "x" * (1024 * 1024)})
    assert "limit of 1048576 bytes" in refused(post(client, key, body), 413)
    assert get(client, key, f"/analyze/users/{unique}").status_code == 404
    body["user"]["bio"] = "x" * 1_000_000
    assert post(client, key, body).status_code == 200


def test_values_json_can_carry_are_kept_and_read(
    client: testing.TestClient, key: str, unique: str
) -> None:
    attrs = {"big": 2**70, "tiny": -(2**64), "null": None, "nul": "a\u0000b", "e": ""}
    raw = json.dumps(point(unique, user={"unique_id": unique, **attrs}))
    assert post(client, key, raw.encode()).status_code == 200
    got = get(client, key, f"/analyze/users/{unique}").json["attrs"]
    assert {k: got[k] for k in attrs} == attrs
    for bad in ("NaN", "Infinity", "-1e400"):
        text = raw.replace('"big": ' + str(2**70), f'"big": {bad}')
        assert "finite" in refused(post(client, key, text.encode()))


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"from": str(2**64)}, "from must be milliseconds within the signed 64-bit"),
        ({"to": str(-(2**63) - 1)}, "to must be milliseconds within the signed 64-bit"),
        ({"from": "9" * 5000}, "from must be milliseconds within the signed 64-bit"),
        ({"from": "2015-01-01T00:00:00+99:00"}, "from must be milliseconds since"),
        ({"to": "not a time"}, "to must be milliseconds since"),
        ({"from": "10", "to": "9"}, "to must not be before from"),
    ],
)
def test_analyze_parameters_out_of_range_are_400(
    client: testing.TestClient,
    key: str,
    unique: str,
    params: dict[str, str],
    fragment: str,
) -> None:
    assert post(client, key, point(unique)).status_code == 200
    result = get(client, key, f"/analyze/users/{unique}/sessions", **params)
    assert result.status_code == 400, result.text
    assert fragment in result.json["message"]


def test_analyze_bounds_at_the_ends_of_64_bits(
    client: testing.TestClient, key: str, unique: str
) -> None:
    assert post(client, key, point(unique)).status_code == 200
    for params in (
        {"from": str(-(2**63)), "to": str(2**63 - 1)},
        {"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T23:59:59.999-14:00"},
    ):
        result = get(client, key, f"/analyze/users/{unique}/sessions", **params)
        assert result.status_code == 200, result.text
        assert len(result.json["sessions"]) == 1


def session_id(parts: list[Any]) -> str:
    raw = json.dumps(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_ids_over_the_limit_and_forged_session_ids(
    client: testing.TestClient, key: str, unique: str
) -> None:
    assert post(client, key, point(unique)).status_code == 200
    long = "u" * 70_000
    for path in (
        f"/analyze/users/{long}",
        f"/analyze/users/{long}/sessions",
        f"/analyze/devices/{long}",
    ):
        result = get(client, key, path)
        assert result.status_code == 400, result.text
        assert result.json == {"message": "An id is at most 255 characters."}
    for parts in (
        [unique, "d1", 2**64],
        [unique, "d1", -(2**63) - 1],
        [unique, "d1", 1.5],
        ["\ud800", "d1", 0],
        [unique, "x" * 256, 0],
        [unique, "d1"],
        {"a": 1},
    ):
        raw = json.dumps(parts).encode()  # ensure_ascii: the surrogate as \\ud800
        forged = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        result = get(client, key, f"/analyze/sessions/{forged}")
        assert result.status_code == 404, (parts, result.text)
        assert result.json == {"message": "Session not found."}
    assert get(client, key, "/analyze/sessions/" + "A" * 20_000).status_code == 404


def test_old_rows_that_are_not_unicode_or_outside_the_calendar_still_read(
    client: testing.TestClient, backend: Backend, make_project: Any, unique: str
) -> None:
    """Before this fix a lone surrogate reached the stores as a JSON escape, and
    times outside the years 1 to 9999 were accepted: the analyze API answered 500
    for that user from then on. Such rows are written here through the storage
    contract, as they were then, and must read back."""
    project, key = make_project("Asia/Shanghai")
    year_10000 = int(dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC).timestamp() * 1000)
    year_10000 += 2 * 3_600_000  # 10000-01-01T01:00Z, which datetime cannot hold
    year_0 = int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp() * 1000) - 3_600_000
    rows = [
        Event(
            user_id=unique,
            device_id="d\u00e9vice",
            ts=ts,
            event_id=bytes([n]) * 16,
            name="Open App",
            attributes={"k\udc00": "v", "note": "bad \ud800 text"},
            user_attributes={"nick": "\udbff!"},
            device_attributes={"model": "x\udc00"},
            identified=False,
            extras={},
        )
        for n, ts in enumerate((1420651738270, year_10000, year_0))
    ]
    backend.events.write_events(project, rows)
    user = get(client, key, f"/analyze/users/{unique}")
    assert user.status_code == 200, user.text
    assert user.json["attrs"]["nick"] == "\ufffd!"
    assert user.json["last_device"]["model"] == "x\ufffd"
    # shown in UTC, with their true years
    assert user.json["attrs"]["first_seen_at"] == "0000-12-31T23:00:00.000+00:00"
    assert user.json["attrs"]["last_seen_at"] == "10000-01-01T01:00:00.000+00:00"
    listed = get(client, key, f"/analyze/users/{unique}/sessions")
    assert listed.status_code == 200, listed.text
    starts = [s["started_at"] for s in listed.json["sessions"]]
    assert starts == [
        "0000-12-31T23:00:00.000+00:00",
        "2015-01-08T01:28:58.270+08:00",
        "10000-01-01T01:00:00.000+00:00",
    ]
    session = get(client, key, f"/analyze/sessions/{listed.json['sessions'][1]['id']}")
    assert session.status_code == 200, session.text
    assert session.json["events"][0]["attributes"] == {
        "k\ufffd": "v",
        "note": "bad \ufffd text",
    }
    device = get(client, key, "/analyze/devices/d\u00e9vice")
    assert device.status_code == 200 and device.json["attrs"]["model"] == "x\ufffd"

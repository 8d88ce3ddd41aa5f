"""Liquid's collect and analyze APIs through Falcon's TestClient."""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import pytest
from falcon import testing

from service.domain.projects import Directory, Keys
from service.storage import Backend

SEED = {
    "timestamp": "2015-01-07T17:28:58.270+00:00",
    "user": {
        "unique_id": "02318f2cdd156d78fd4431",
        "identified": True,
        "first_name": "John",
        "last_name": "Doe",
        "age": 30,
        "gender": "male",
    },
    "device": {
        "unique_id": "78F348DE-31E0-4ACF-B2B0-5065FF8FCFB0",
        "app_bundle": "io.lqd.LiquidDemo",
        "model": "iPad2,5",
        "vendor": "Apple",
        "system_version": "7.0.1",
        "platform": "iOS",
        "liquid_version": "2.3.4",
    },
    "event": {"name": "Buy Product", "product_id": 3293, "price": 17.24},
    "values": [{"id": "55d2e9", "target_id": "55d2ea"}],
}
T0 = 1420651738270  # the seed's timestamp in ms


@pytest.fixture
def keys(backend: Backend, config: Any) -> dict[str, str]:
    d = Directory(backend.projects, Keys(config.secret()))
    _, dev = d.create("dev app", mode="development", session_gap=300)
    _, prod = d.create("prod app", mode="production")
    return {"dev": dev, "prod": prod}


def collect(
    client: testing.TestClient,
    key: str | None,
    body: Any,
    path: str = "/collect/data_points",
    **headers: str,
) -> testing.Result:
    if key is not None:
        headers["Authorization"] = f"Token {key}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.simulate_post(
        path, body=data, headers={"Content-Type": "application/json", **headers}
    )


def point(
    user: str, device: str, ts_ms: int, name: str = "Open App", **attrs: Any
) -> dict[str, Any]:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat(
        timespec="milliseconds"
    )
    return {
        "timestamp": stamp,
        "user": {"unique_id": user, "identified": False},
        "device": {"unique_id": device},
        "event": {"name": name, **attrs},
    }


def get(
    client: testing.TestClient, key: str, path: str, **params: Any
) -> testing.Result:
    return client.simulate_get(
        path, headers={"Authorization": f"Token {key}"}, params=params
    )


def test_the_seed_data_point_on_both_paths(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    for path in ("/data_points", "/collect/data_points"):
        result = collect(
            client, keys["dev"], SEED, path, Accept="application/vnd.lqd.v1+json"
        )
        assert result.status_code == 200, result.text
    user = get(client, keys["dev"], "/analyze/users/02318f2cdd156d78fd4431").json
    assert user["identified"] is True
    assert user["attrs"]["first_name"] == "John" and user["attrs"]["age"] == 30
    assert user["attrs"]["first_seen_at"] == "2015-01-07T17:28:58.270+00:00"
    assert user["attrs"]["devices_count"] == 1
    assert (
        user["last_device"]["model"] == "iPad2,5"
        and user["last_device"]["platform"] == "iOS"
    )
    assert user["session"]["total_number"] == 1  # posted twice, stored once


def test_gzip_bodies(client: testing.TestClient, keys: dict[str, str]) -> None:
    body = gzip.compress(json.dumps(point("gz", "d", T0)).encode())
    assert (
        collect(client, keys["dev"], body, **{"Content-Encoding": "gzip"}).status_code
        == 200
    )
    assert get(client, keys["dev"], "/analyze/users/gz").status_code == 200


@pytest.mark.parametrize(
    ("key", "body", "headers", "status"),
    [
        (None, SEED, {}, 401),
        ("nope.nope", SEED, {}, 401),
        ("dev", SEED, {"Accept": "application/vnd.lqd.v2+json"}, 406),
        ("dev", SEED, {"Accept": "text/html"}, 406),
        ("dev", b"{not json", {}, 400),
        ("dev", b"", {}, 400),
    ],
)
def test_status_codes(
    client: testing.TestClient,
    keys: dict[str, str],
    key: str | None,
    body: Any,
    headers: dict[str, str],
    status: int,
) -> None:
    result = collect(client, keys.get(key, key) if key else None, body, **headers)
    assert result.status_code == status


def invalid(**change: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED)
    for path, value in change.items():
        target = body
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            invalid(event__name="ab"),
            "event.name must be a string of 3 to 50 characters",
        ),
        (
            invalid(event__name="x" * 51),
            "event.name must be a string of 3 to 50 characters",
        ),
        (
            invalid(user__unique_id=KeyError),
            "user.unique_id must be a non-empty string",
        ),
        (invalid(device=KeyError), "device is required"),
        (
            invalid(user__nested={"a": 1}),
            "user.nested must be a string, number, boolean",
        ),
        (invalid(event__tags=[1, 2]), "event.tags must be a string, number, boolean"),
        (
            invalid(**{"user__bad.key": 1}),
            "keys may not be empty or contain '$', '.' or NUL",
        ),
        (
            invalid(**{"device__$set": 1}),
            "keys may not be empty or contain '$', '.' or NUL",
        ),
        (invalid(user__created_at="x"), "user.created_at is a reserved attribute"),
        (
            invalid(device__ip_address="1.2.3.4"),
            "device.ip_address is a reserved attribute",
        ),
        (invalid(event__id=3), "event.id is a reserved attribute"),
        (invalid(timestamp="yesterday"), "timestamp 'yesterday' is not an ISO 8601"),
        (invalid(timestamp="2015-01-07T17:28:58"), "needs a UTC offset"),
        (invalid(user__identified="yes"), "user.identified must be true or false"),
    ],
)
def test_invalid_data_points_are_422_with_details_in_development(
    client: testing.TestClient, keys: dict[str, str], body: dict[str, Any], detail: str
) -> None:
    dev = collect(client, keys["dev"], body)
    assert dev.status_code == 422
    assert dev.json["error"] == "Data point is invalid"
    assert detail in dev.json["details"]
    prod = collect(client, keys["prod"], body)
    assert prod.status_code == 422 and prod.content == b""  # production shows nothing


def test_every_problem_at_once(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    body = invalid(event__name="x", user__unique_id="", device__unique_id=None)
    details = collect(client, keys["dev"], body).json["details"]
    assert (
        "event.name" in details
        and "user.unique_id" in details
        and "device.unique_id" in details
    )


def test_sdk_extras_and_dates_are_accepted(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    body = invalid(
        event__date="2015-01-07T17:28:58.270+00:00",
        user__birthday="1990-01-01T00:00:00Z",
        user__nothing=None,
        user__vip=False,
    )
    assert collect(client, keys["dev"], body).status_code == 200


def test_sessions_inferred_from_the_gap(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    k = keys["dev"]  # gap 300 s
    minute = 60_000
    times = [0, 1, 3, 20, 21, 60]  # minutes: sessions [0-3], [20-21], [60]
    for m in reversed(times):  # out of order on purpose
        assert (
            collect(client, k, point("u1", "phone", T0 + m * minute)).status_code == 200
        )
    sessions = get(client, k, "/analyze/users/u1/sessions").json["sessions"]
    assert [(s["length"], s["events_count"]) for s in sessions] == [
        (180.0, 3),
        (60.0, 2),
        (0.0, 1),
    ]
    # a late point at 10 minutes bridges nothing (gap 7 and 10 min > 5 min)...
    collect(client, k, point("u1", "phone", T0 + 10 * minute))
    assert len(get(client, k, "/analyze/users/u1/sessions").json["sessions"]) == 4
    # ...but points at 7 and 15 minutes join [0-3], [10] and [20-21] into one
    collect(client, k, point("u1", "phone", T0 + 7 * minute))
    collect(client, k, point("u1", "phone", T0 + 15 * minute))
    sessions = get(client, k, "/analyze/users/u1/sessions").json["sessions"]
    assert [(s["length"], s["events_count"]) for s in sessions] == [
        (21 * 60.0, 8),
        (0.0, 1),
    ]
    # a window returns the sessions that overlap it, whole
    window = get(
        client,
        k,
        "/analyze/users/u1/sessions",
        **{"from": T0 + 12 * minute, "to": T0 + 13 * minute},
    )
    assert [s["events_count"] for s in window.json["sessions"]] == [8]
    # a session, with its events in time order
    detail = get(client, k, f"/analyze/sessions/{sessions[0]['id']}").json
    assert [e["timestamp"][11:16] for e in detail["events"]] == [
        "17:28",
        "17:29",
        "17:31",
        "17:35",
        "17:38",
        "17:43",
        "17:48",
        "17:49",
    ]
    user = get(client, k, "/analyze/users/u1").json["session"]
    assert user == {
        "total_number": 2,
        "total_length": 1260.0,
        "avg_length": 630.0,
        "min_length": 0.0,
        "max_length": 1260.0,
    }


def test_sessions_are_per_device(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    k = keys["dev"]
    collect(client, k, point("u2", "phone", T0))
    collect(client, k, point("u2", "tablet", T0 + 1000))
    sessions = get(client, k, "/analyze/users/u2/sessions").json["sessions"]
    assert [s["device_id"] for s in sessions] == ["phone", "tablet"]
    device = get(client, k, "/analyze/devices/tablet").json
    assert device["users"] == ["u2"]


def test_aliases_merge_history_irreversibly(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    k = keys["dev"]
    collect(client, k, point("anon-1", "phone", T0))
    collect(client, k, point("john", "phone", T0 + 60_000))
    alias = client.simulate_post(
        "/aliases",
        headers={"Authorization": f"Token {k}"},
        json={"unique_id": "john", "unique_id_alias": "anon-1"},
    )
    assert alias.status_code == 201
    user = get(client, k, "/analyze/users/john").json
    assert user["aliases"] == ["anon-1"]
    assert user["session"]["total_number"] == 1  # anon's event joined john's session
    # later points sent with the old id belong to the new user
    collect(client, k, point("anon-1", "phone", T0 + 120_000))
    sessions = get(client, k, "/analyze/users/john/sessions").json["sessions"]
    assert sessions[0]["events_count"] == 3
    assert get(client, k, "/analyze/users/anon-1").json["id"] == "john"
    # irreversible: the alias cannot move to someone else
    again = client.simulate_post(
        "/collect/aliases",
        headers={"Authorization": f"Token {k}"},
        json={"unique_id": "mary", "unique_id_alias": "anon-1"},
    )
    assert again.status_code == 422
    same = client.simulate_post(
        "/aliases",
        headers={"Authorization": f"Token {k}"},
        json={"unique_id": "john", "unique_id_alias": "anon-1"},
    )
    assert same.status_code == 422  # already done


def test_analyze_errors(client: testing.TestClient, keys: dict[str, str]) -> None:
    k = keys["dev"]
    missing = get(client, k, "/analyze/users/nobody")
    assert missing.status_code == 404 and missing.json == {"message": "User not found."}
    assert get(client, k, "/analyze/sessions/garbage").status_code == 404
    assert get(client, k, "/analyze/devices/none").status_code == 404
    collect(client, k, point("w", "d", T0))
    bad = get(client, k, "/analyze/users/w/sessions", **{"from": "soon"})
    assert bad.status_code == 400 and "from must be" in bad.json["message"]
    assert client.simulate_get("/analyze/users/w").status_code == 401


def test_one_project_never_sees_another(
    client: testing.TestClient, keys: dict[str, str]
) -> None:
    dev, prod = keys["dev"], keys["prod"]
    collect(client, dev, point("shared-id", "shared-device", T0))
    assert get(client, prod, "/analyze/users/shared-id").status_code == 404
    assert get(client, prod, "/analyze/users/shared-id/sessions").status_code == 404
    assert get(client, prod, "/analyze/devices/shared-device").status_code == 404
    sid = get(client, dev, "/analyze/users/shared-id/sessions").json["sessions"][0][
        "id"
    ]
    assert get(client, prod, f"/analyze/sessions/{sid}").status_code == 404
    alias = client.simulate_post(
        "/aliases",
        headers={"Authorization": f"Token {prod}"},
        json={"unique_id": "other", "unique_id_alias": "shared-id"},
    )
    assert alias.status_code == 201  # a different project's namespace: no conflict
    assert get(client, dev, "/analyze/users/shared-id").json["id"] == "shared-id"

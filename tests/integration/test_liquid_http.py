"""Liquid over HTTP on real Cassandra: several processes posting one user's events,
interleaved and out of order, to a multi-worker server; the sessions read back are
exactly the runs of the events posted."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random
from typing import Any

import requests

from service.domain.projects import Directory, Keys
from service.domain.sessions import runs
from service.storage.cassandra import CassandraBackend
from tests.integration.conftest import SECRET

T0 = 1_700_000_000_000


def body(user: str, device: str, ts: int, n: int) -> dict[str, Any]:
    stamp = dt.datetime.fromtimestamp(ts / 1000, dt.UTC).isoformat(
        timespec="milliseconds"
    )
    return {
        "timestamp": stamp,
        "user": {"unique_id": user, "identified": True, "n": n},
        "device": {"unique_id": device},
        "event": {"name": "tap tap", "n": n},
    }


def post_all(args: tuple[str, str, list[dict[str, Any]]]) -> list[int]:
    url, key, bodies = args
    with requests.Session() as s:
        s.headers["Authorization"] = f"Token {key}"
        return [
            s.post(url + "/collect/data_points", json=b, timeout=60).status_code
            for b in bodies
        ]


def test_concurrent_out_of_order_posts_give_exact_sessions(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    directory = Directory(cassandra_backend.projects, Keys(SECRET.encode()))
    _, key = directory.create(unique, session_gap=60)
    rnd = random.Random(11)
    events: list[tuple[str, int]] = []
    for device in ("phone", "tablet"):
        t = T0
        for _ in range(120):
            t += rnd.choice([1_000, 5_000, 30_000, 59_000, 61_000, 400_000])
            events.append((device, t))
    bodies = [body(unique, d, ts, i) for i, (d, ts) in enumerate(events)]
    bodies += rnd.sample(bodies, 40)  # SDK retries: the same data point again
    rnd.shuffle(bodies)
    shares = [bodies[i::4] for i in range(4)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        statuses = pool.map(post_all, [(server, key, share) for share in shares])
    assert all(code == 200 for codes in statuses for code in codes)

    headers = {"Authorization": f"Token {key}"}
    got = requests.get(
        f"{server}/analyze/users/{unique}/sessions", headers=headers, timeout=30
    ).json()
    expected = []
    for device in ("phone", "tablet"):
        stamps = sorted(ts for d, ts in events if d == device)
        expected += [(device, r.start, r.end, r.count) for r in runs(stamps, 60_000)]
    expected.sort(key=lambda x: (x[1], x[0]))
    assert len(expected) > 10  # the data makes many sessions, some bridged late
    actual = [
        (s["device_id"], _ms(s["started_at"]), _ms(s["ended_at"]), s["events_count"])
        for s in got["sessions"]
    ]
    assert actual == expected
    user = requests.get(
        f"{server}/analyze/users/{unique}", headers=headers, timeout=30
    ).json()
    assert user["session"]["total_number"] == len(expected)
    assert user["attrs"]["devices_count"] == 2


def test_another_project_sees_none_of_it(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    directory = Directory(cassandra_backend.projects, Keys(SECRET.encode()))
    _, mine = directory.create(unique + "-a")
    _, theirs = directory.create(unique + "-b")
    assert (
        requests.post(
            f"{server}/data_points",
            json=body("same", "dev", T0, 1),
            headers={"Authorization": f"Token {mine}"},
            timeout=30,
        ).status_code
        == 200
    )
    for path in (
        "/analyze/users/same",
        "/analyze/users/same/sessions",
        "/analyze/devices/dev",
    ):
        result = requests.get(
            server + path, headers={"Authorization": f"Token {theirs}"}, timeout=30
        )
        assert result.status_code == 404, path
        assert (
            requests.get(
                server + path, headers={"Authorization": f"Token {mine}"}, timeout=30
            ).status_code
            == 200
        )


def _ms(iso: str) -> int:
    moment = dt.datetime.fromisoformat(iso)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
        milliseconds=1
    )


def test_an_unreachable_store_is_a_503_and_never_a_200() -> None:
    """Not a 401 either: a key cannot be checked when the store does not answer."""
    from falcon import testing

    from service.app import create_app
    from service.config import Config
    from tests.integration.conftest import free_port

    config = Config.from_env(
        {
            "DATAPOINTS_STORE": f"cassandra://127.0.0.1:{free_port()}/nowhere?connect_timeout=2",
            "DATAPOINTS_SECRET_KEY": SECRET,
        }
    )
    client = testing.TestClient(create_app(config, CassandraBackend(config)))
    key = Keys(SECRET.encode()).issue("p1")[0]
    result = client.simulate_post(
        "/collect/data_points",
        json=body("u", "d", T0, 1),
        headers={"Authorization": f"Token {key}"},
    )
    assert result.status_code == 503
    assert "retry" in result.json["error"].lower()

"""Hostile input to OneNET's API: every answer is OneNET's own errno (with HTTP 200, as
OneNET answers), never a 500, and nothing of a refused upload is stored. Points at
times no calendar can show (written through the KairosDB API, or before this fix)
still read.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from falcon import testing

from service.config import Config
from service.domain.iot import series
from service.domain.projects import Directory, Keys
from service.records import LONG_MAX, LONG_MIN, PointBatch
from service.storage import Backend


class OneNet:
    def __init__(self, client: testing.TestClient, key: str) -> None:
        self.client, self.key = client, key
        made = self.call("POST", "/devices", json={"title": "sensor"})
        self.device = made.json["data"]["device_id"]
        self.device_key = made.json["data"]["key"]
        self.points = f"/devices/{self.device}/datapoints"

    def call(
        self, method: str, path: str, key: str | None = None, **kw: Any
    ) -> testing.Result:
        result = self.client.simulate_request(
            method, path, headers={"api-key": key or self.key}, **kw
        )
        assert result.status_code == 200, result.text  # OneNET's way: errno tells
        return result

    def upload(self, body: Any, kind: str | None = None) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        params = {"type": kind} if kind else {}
        return dict(self.call("POST", self.points, body=data, params=params).json)

    def streams(self) -> list[str]:
        listed = self.call("GET", f"/devices/{self.device}/datastreams").json
        assert listed["errno"] == 0, listed
        return [s["id"] for s in listed["data"]]


@pytest.fixture
def onenet(client: testing.TestClient, backend: Backend, config: Config) -> OneNet:
    _, key = Directory(backend.projects, Keys(config.secret())).create(
        "hostile iot", timezone="Asia/Shanghai"
    )
    return OneNet(client, key)


def errno5(answer: dict[str, Any], fragment: str) -> None:
    assert answer["errno"] == 5, answer
    assert fragment in answer["error"], answer


def uploads(at: str) -> list[tuple[str | None, Any]]:
    """The same point with time ``at`` in every upload type that carries a time."""
    return [
        (None, {"datastreams": [{"id": "t", "datapoints": [{"at": at, "value": 1}]}]}),
        ("1", {"datastreams": [{"id": "t", "datapoints": [{"at": at, "value": 1}]}]}),
        ("4", {"t": {at: 1}}),
        ("5", f",;t,{at},1".encode()),
    ]


@pytest.mark.parametrize(
    "at",
    [
        "2015-03-22T22:31:12+99:00",
        "2015-03-22T22:31:12+00:60",
        "2015-03-22T22:31:12-24:00",
        "2015-03-22T22:31:12+2400",
        "2015-03-22 22:31:12.5-99:99",
    ],
)
def test_impossible_utc_offsets_are_errno_5(onenet: OneNet, at: str) -> None:
    for kind, body in uploads(at):
        errno5(onenet.upload(body, kind), "has an impossible UTC offset")
    assert onenet.streams() == []
    for method in ("GET", "DELETE"):
        for name in ("start", "end"):
            answer = onenet.call(method, onenet.points, params={name: at}).json
            errno5(answer, f"{name} '{at}' has an impossible UTC offset")


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00",  # year 0 in UTC, read in Asia/Shanghai
        "0001-01-01T12:00:00+00:00",
        "9999-12-31T00:00:00Z",
        "9999-12-30T23:00:00-12:00",
    ],
)
def test_times_outside_the_calendar_are_errno_5(onenet: OneNet, at: str) -> None:
    for kind, body in uploads(at):
        errno5(onenet.upload(body, kind), "must be between 0001-01-02 and 9999-12-30")
    assert onenet.streams() == []


def test_times_at_the_edges_are_stored_and_read(onenet: OneNet) -> None:
    # Shanghai's time (LMT +08:05:43 before 1901): just inside the range in UTC
    edges = ["0001-01-02 08:06:00.000", "9999-12-31 07:59:59.999"]
    for at in edges:
        assert onenet.upload({"t": {at: at}}, "4")["errno"] == 0
    read = onenet.call("GET", onenet.points, params={"start": "0001-01-01T00:00:00"})
    got = read.json["data"]["datastreams"][0]["datapoints"]
    assert got == [{"at": at, "value": at} for at in edges]


def test_read_and_delete_windows_out_of_range(onenet: OneNet) -> None:
    assert onenet.upload({"t": 1}, "3")["errno"] == 0
    huge = str(LONG_MAX // 1000 + 1)
    for method in ("GET", "DELETE"):
        for params in (
            {"duration": huge},
            {"start": "2015-01-01T00:00:00", "duration": "9" * 5000},
            {"end": "2015-01-01T00:00:00", "duration": huge},
        ):
            answer = onenet.call(method, onenet.points, params=params).json
            errno5(answer, "duration must be at most")
        errno5(
            onenet.call(method, onenet.points, params={"duration": "-1"}).json,
            "must not be negative",
        )
    # the largest durations reach the ends of 64 bits and stop there
    for params in (
        {"start": "2015-01-01T00:00:00", "duration": str(LONG_MAX // 1000)},
        {"end": "9999-12-31T23:59:59", "duration": str(LONG_MAX // 1000)},
        {"start": "0001-01-01T00:00:00", "end": "9999-12-31T23:59:59+14:00"},
    ):
        answer = onenet.call("GET", onenet.points, params=params).json
        assert answer["errno"] == 0 and answer["data"]["count"] == 1, (params, answer)


def cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        [-5, 1],  # a 500 before: a negative stream index
        [2**31, None],
        [0, 2**63],
        [0, -(2**63) - 1],
        [0, 1.5],
        [0, "\ud800"],
        ["0", None],
        [0],
        {"a": 1},
        None,
    ],
)
def test_cursors_this_server_never_gave_are_errno_5(onenet: OneNet, value: Any) -> None:
    params = {"start": "2015-01-01T00:00:00", "cursor": cursor(value)}
    answer = onenet.call("GET", onenet.points, params=params).json
    errno5(answer, "cursor is not one this server gave")
    params["cursor"] = "!!"
    errno5(onenet.call("GET", onenet.points, params=params).json, "cursor")


def test_cursors_at_the_ends_of_64_bits_read_nothing(onenet: OneNet) -> None:
    assert onenet.upload({"t": 1}, "3")["errno"] == 0
    for last, sort in ((LONG_MIN, "DESC"), (LONG_MAX, "ASC")):
        params = {
            "start": "2015-01-01T00:00:00",
            "cursor": cursor([0, last]),
            "sort": sort,
        }
        answer = onenet.call("GET", onenet.points, params=params).json
        assert answer == {
            "errno": 0,
            "error": "succ",
            "data": {"count": 0, "datastreams": []},
        }


def test_ids_in_paths_and_parameters_are_checked(onenet: OneNet) -> None:
    long = "x" * 70_000  # past Cassandra's 64 KiB for a key
    dev = onenet.device
    for method, path in [
        ("GET", f"/devices/{long}"),
        ("PUT", f"/devices/{long}"),
        ("DELETE", f"/devices/{long}"),
        ("POST", f"/devices/{long}/datapoints"),
        ("GET", f"/devices/{long}/datapoints"),
        ("DELETE", f"/devices/{long}/datapoints"),
        ("GET", f"/devices/{long}/datastreams"),
        ("POST", f"/devices/{long}/datastreams"),
    ]:
        answer = onenet.call(method, path, json={"title": "x", "id": "s"}).json
        errno5(answer, "device id 'xxxx")
        assert len(answer["error"]) < 300  # never echoed whole
    for method in ("GET", "PUT", "DELETE"):
        answer = onenet.call(method, f"/devices/{dev}/datastreams/{long}", json={}).json
        errno5(answer, "datastream id 'xxxx")
    for method in ("GET", "DELETE"):
        for ids in (long, "ok,a b", ",".join(f"s{i}" for i in range(1001))):
            params = {"datastream_id": ids, "start": "2015-01-01T00:00:00"}
            errno5(onenet.call(method, onenet.points, params=params).json, "datastream")
    for ids in (long, f"{dev},{long}"):
        answer = onenet.call("GET", "/devices/datapoints", params={"devIds": ids}).json
        errno5(answer, "device id 'xxxx")
    assert onenet.call("GET", f"/devices/{dev}", "x" * 70_000).json["errno"] == 1
    assert onenet.call("GET", f"/devices/{dev}", "a." + long + ".b").json["errno"] == 1


def test_a_device_key_cannot_list_the_projects_devices(onenet: OneNet) -> None:
    answer = onenet.call("GET", "/devices", onenet.device_key).json
    assert answer == {"errno": 1, "error": "auth failed: this needs the project's key"}
    assert onenet.call("GET", "/devices").json["data"]["total_count"] == 1


@pytest.mark.parametrize(
    "body", [b",;t,\xff\xfe", b"\xff\xfet\xff1", b",;t,\xed\xa0\x80", b",;\x80,1"]
)
def test_type_5_bodies_that_are_not_utf8_are_errno_5(
    onenet: OneNet, body: bytes
) -> None:
    errno5(onenet.upload(body, "5"), "must be UTF-8 text")
    assert onenet.streams() == []


def test_device_and_stream_fields_json_cannot_carry_are_errno_5(
    onenet: OneNet,
) -> None:
    for field in ("location", "other", "auth_info"):
        body = f'{{"title": "x", "{field}": {{"lat": NaN}}}}'.encode()
        answer = onenet.call("POST", "/devices", body=body).json
        errno5(answer, f"{field} must not contain NaN or Infinity")
        answer = onenet.call("PUT", f"/devices/{onenet.device}", body=body).json
        errno5(answer, field)
    tags = [f"t{i}" for i in range(101)]
    errno5(
        onenet.call("POST", "/devices", json={"title": "x", "tags": tags}).json, "tags"
    )
    stream = {"id": "s", "tags": tags}
    path = f"/devices/{onenet.device}/datastreams"
    errno5(onenet.call("POST", path, json=stream).json, "tags")
    listed = onenet.call("GET", "/devices").json["data"]
    assert listed["total_count"] == 1 and listed["devices"][0]["location"] is None
    assert onenet.streams() == []


def test_points_at_any_64_bit_time_read_back(onenet: OneNet, backend: Backend) -> None:
    """The KairosDB API stores any 64-bit timestamp, into the same series OneNET
    reads; a time outside the years 1 to 9999 once made every read of the stream a
    500. It is shown in UTC with its true year."""
    assert onenet.upload({"t": 1}, "3")["errno"] == 0  # the stream exists
    year_10000 = int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)
    year_10000 += 86_400_000 + 1500  # 10000-01-01T00:00:01.500Z
    project_id = onenet.key.split(".")[0]  # a project key is <project>.<secret>
    backend.points.write_points(
        project_id,
        [
            PointBatch(
                series(onenet.device, "t"),
                [(LONG_MIN, "long", 1), (year_10000, "long", 2), (LONG_MAX, "long", 3)],
            )
        ],
        default_ttl=0,
    )
    streams = onenet.call("GET", f"/devices/{onenet.device}/datastreams").json
    assert streams["data"][0]["update_at"] == "292278994-08-17 07:12:55.807"
    window = {"start": "9999-01-01T00:00:00", "duration": str(LONG_MAX // 1000)}
    read = onenet.call("GET", onenet.points, params=window).json
    got = read["data"]["datastreams"][0]["datapoints"]
    assert got == [
        {"at": "10000-01-01 00:00:01.500", "value": 2},
        {"at": "292278994-08-17 07:12:55.807", "value": 3},
    ]
    latest = onenet.call("GET", "/devices/datapoints", params={"devIds": onenet.device})
    assert latest.json["data"]["devices"][0]["datastreams"][0]["value"] == 3
    oldest = onenet.call(
        "GET", onenet.points, params={"end": "2000-01-01T00:00:00", "limit": "1"}
    ).json["data"]["datastreams"][0]["datapoints"]
    assert oldest == [{"at": "-292275055-05-16 16:47:04.192", "value": 1}]

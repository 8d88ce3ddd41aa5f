"""China Mobile OneNET's HTTP API through Falcon's TestClient."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

import pytest
from falcon import testing

from service.app import create_app
from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import Backend

SEED = {
    "datastreams": [
        {
            "id": "temperature",
            "datapoints": [
                {"at": "2013-04-22T00:35:43", "value": "bacd"},
                {"at": "2013-04-22T00:55:43", "value": 84},
            ],
        },
        {
            "id": "key",
            "datapoints": [
                {"at": "2013-04-22T00:35:43", "value": {"x": 123, "y": 123.994}},
                {"at": "2013-04-22T00:35:43", "value": 23.001},
            ],
        },
    ]
}


class Api:
    def __init__(self, client: testing.TestClient, key: str) -> None:
        self.client, self.key = client, key

    def __call__(
        self, method: str, path: str, key: str | None = None, **kw: Any
    ) -> Any:
        result = self.client.simulate_request(
            method, path, headers={"api-key": key or self.key}, **kw
        )
        return result.json


@pytest.fixture
def api(client: testing.TestClient, backend: Backend, config: Config) -> Api:
    _, key = Directory(backend.projects, Keys(config.secret())).create(
        "iot", timezone="Asia/Shanghai"
    )
    return Api(client, key)


@pytest.fixture
def device(api: Api) -> tuple[str, str]:
    made = api(
        "POST",
        "/devices",
        json={
            "title": "greenhouse",
            "tags": ["farm", "north"],
            "location": {"lon": 116.4, "lat": 39.9},
        },
    )
    assert made["errno"] == 0
    return made["data"]["device_id"], made["data"]["key"]


def shanghai(text: str) -> int:
    moment = dt.datetime.fromisoformat(text).replace(
        tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    return int(moment.timestamp() * 1000)


def test_the_seed_upload_and_reading_it_back(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    assert api("POST", f"/devices/{dev}/datapoints", json=SEED) == {
        "errno": 0,
        "error": "succ",
    }
    got = api(
        "GET",
        f"/devices/{dev}/datapoints",
        params={"start": "2013-04-22T00:00:00", "end": "2013-04-22T01:00:00"},
    )
    assert got["errno"] == 0 and got["data"]["count"] == 3
    streams = {s["id"]: s["datapoints"] for s in got["data"]["datastreams"]}
    assert streams["temperature"] == [
        {"at": "2013-04-22 00:35:43.000", "value": "bacd"},
        {"at": "2013-04-22 00:55:43.000", "value": 84},
    ]
    # two points at one time of one stream: the later replaces the earlier
    assert streams["key"] == [{"at": "2013-04-22 00:35:43.000", "value": 23.001}]


def test_every_upload_type(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    before = int(time.time() * 1000)
    assert (
        api(
            "POST",
            f"/devices/{dev}/datapoints",
            params={"type": "3"},
            json={"humidity": "95.2%", "count": 7},
        )["errno"]
        == 0
    )
    assert (
        api(
            "POST",
            f"/devices/{dev}/datapoints",
            params={"type": "4"},
            json={
                "temperature": {
                    "2015-03-22T22:31:12": 22.5,
                    "2015-03-22 22:32:12.5": 23,
                }
            },
        )["errno"]
        == 0
    )
    assert (
        api(
            "POST",
            f"/devices/{dev}/datapoints",
            params={"type": "5"},
            body=",;temperature,2015-03-22T22:33:12,24.5;pm2.5,89;",
        )["errno"]
        == 0
    )
    assert (
        api(
            "POST",
            f"/devices/{dev}/datapoints",
            params={"type": "5"},
            body="|#pm10|2015-03-22T22:31:12|40#note|hello world",
        )["errno"]
        == 0
    )
    latest = {
        s["id"]: s["datapoints"][0]
        for s in api("GET", f"/devices/{dev}/datapoints")["data"]["datastreams"]
    }
    assert latest["humidity"]["value"] == "95.2%" and latest["count"]["value"] == 7
    assert latest["pm2.5"]["value"] == 89 and latest["note"]["value"] == "hello world"
    assert latest["temperature"] == {"at": "2015-03-22 22:33:12.000", "value": 24.5}
    # no `at`: the time received
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    assert latest["humidity"]["at"][:13] == now.strftime("%Y-%m-%d %H")
    temps = api(
        "GET",
        f"/devices/{dev}/datapoints",
        params={
            "datastream_id": "temperature",
            "start": "2015-03-22T22:00:00",
            "duration": "3600",
        },
    )
    assert [p["value"] for p in temps["data"]["datastreams"][0]["datapoints"]] == [
        22.5,
        23,
        24.5,
    ]
    assert (
        temps["data"]["datastreams"][0]["datapoints"][1]["at"]
        == "2015-03-22 22:32:12.500"
    )
    assert before > 0


@pytest.mark.parametrize(
    ("kind", "body", "fragment"),
    [
        (None, {"datastreams": []}, "datastreams may not be empty"),
        (None, {"datastreams": [{"datapoints": [{"value": 1}]}]}, "missing parameter"),
        (
            None,
            {
                "datastreams": [
                    {"id": "t", "datapoints": [{"at": "22/03/2015", "value": 1}]}
                ]
            },
            "invalid format",
        ),
        (
            None,
            {
                "datastreams": [
                    {"id": "t", "datapoints": [{"at": "2015-03-22T22:31:12"}]}
                ]
            },
            "missing parameter",
        ),
        (
            None,
            {"datastreams": [{"id": "bad id", "datapoints": [{"value": 1}]}]},
            "datastream id",
        ),
        (None, b"{not json", "Invalid json"),
        ("3", [1, 2], "invalid format"),
        ("3", {"t": None}, "may not be null"),
        ("4", {"t": 5}, "must map times to values"),
        ("4", {"t": {"yesterday": 5}}, "invalid format"),
        ("5", ",", "type 5 needs"),
        ("5", ",,t,1", "separators must differ"),
        ("5", ",;t,2015-03-22T22:31:12,1,9", "is not stream,time,value"),
        ("5", ",;1001", "is not stream,time,value"),
        ("5", ",;t,2015-13-45T22:31:12,1", "invalid format"),
        ("2", b"\x00\x01", "type 2 is not supported"),
    ],
)
def test_malformed_uploads(
    api: Api, device: tuple[str, str], kind: str | None, body: Any, fragment: str
) -> None:
    dev, _ = device
    kw: dict[str, Any] = {"params": {"type": kind} if kind else {}}
    if isinstance(body, (bytes, str)):
        kw["body"] = body
    else:
        kw["json"] = body
    result = api.client.simulate_post(
        f"/devices/{dev}/datapoints", headers={"api-key": api.key}, **kw
    )
    assert result.status_code == 200  # OneNET's way: the errno says it
    assert result.json["errno"] in (3, 5) and fragment in result.json["error"], (
        result.json
    )


def test_paging_with_a_cursor_both_ways(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    points = {
        "a": {f"2020-01-01T00:00:{s:02d}": s for s in range(0, 10)},
        "b": {f"2020-01-01T00:01:{s:02d}": 100 + s for s in range(0, 5)},
    }
    api("POST", f"/devices/{dev}/datapoints", params={"type": "4"}, json=points)
    for sort, expected in [
        ("ASC", [*range(10), *range(100, 105)]),
        ("DESC", [*range(9, -1, -1), *range(104, 99, -1)]),
    ]:
        seen, cursor, pages = [], None, 0
        while True:
            params = {
                "start": "2020-01-01T00:00:00",
                "end": "2020-01-01T00:02:00",
                "limit": "4",
                "sort": sort,
                "datastream_id": "a,b",
            }
            if cursor:
                params["cursor"] = cursor
            data = api("GET", f"/devices/{dev}/datapoints", params=params)["data"]
            assert data["count"] <= 4
            seen += [p["value"] for s in data["datastreams"] for p in s["datapoints"]]
            pages += 1
            cursor = data.get("cursor")
            if not cursor:
                break
        assert (
            seen == expected and pages == 4
        )  # 15 points, 4 per page: no empty last page


def test_end_plus_duration_counts_backwards(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    api(
        "POST",
        f"/devices/{dev}/datapoints",
        params={"type": "4"},
        json={"a": {f"2020-01-01T00:00:{s:02d}": s for s in range(10)}},
    )
    data = api(
        "GET",
        f"/devices/{dev}/datapoints",
        params={"end": "2020-01-01T00:00:08", "duration": "3"},
    )["data"]
    assert [p["value"] for p in data["datastreams"][0]["datapoints"]] == [8, 7, 6, 5]


def test_deleting_points(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    api(
        "POST",
        f"/devices/{dev}/datapoints",
        params={"type": "4"},
        json={
            "a": {f"2020-01-01T00:00:{s:02d}": s for s in range(10)},
            "b": {"2020-01-01T00:00:05": 1},
        },
    )
    assert (
        api(
            "DELETE",
            f"/devices/{dev}/datapoints",
            params={
                "datastream_id": "a",
                "start": "2020-01-01T00:00:03",
                "end": "2020-01-01T00:00:06",
            },
        )["errno"]
        == 0
    )
    data = api(
        "GET",
        f"/devices/{dev}/datapoints",
        params={"start": "2020-01-01T00:00:00", "datastream_id": "a"},
    )["data"]
    assert [p["value"] for p in data["datastreams"][0]["datapoints"]] == [
        0,
        1,
        2,
        7,
        8,
        9,
    ]
    api("DELETE", f"/devices/{dev}/datapoints")  # everything of every stream
    assert api("GET", f"/devices/{dev}/datapoints")["data"]["datastreams"] == []


def test_device_and_datastream_crud(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    shown = api("GET", f"/devices/{dev}")["data"]
    assert (shown["title"], shown["tags"], shown["location"]) == (
        "greenhouse",
        ["farm", "north"],
        {"lon": 116.4, "lat": 39.9},
    )
    assert (
        api("PUT", f"/devices/{dev}", json={"title": "hothouse", "desc": "east wing"})[
            "errno"
        ]
        == 0
    )
    assert api("GET", f"/devices/{dev}")["data"]["desc"] == "east wing"
    made = api(
        "POST",
        f"/devices/{dev}/datastreams",
        json={"id": "co2", "unit": "ppm", "unit_symbol": "ppm", "tags": ["air"]},
    )
    assert made["errno"] == 0 and made["data"]["ds_uuid"]
    assert api("POST", f"/devices/{dev}/datastreams", json={"id": "co2"})["errno"] == 14
    api("POST", f"/devices/{dev}/datapoints", params={"type": "3"}, json={"co2": 412})
    stream = api("GET", f"/devices/{dev}/datastreams/co2")["data"]
    assert (stream["unit"], stream["current_value"]) == ("ppm", 412) and stream[
        "update_at"
    ]
    assert (
        api("PUT", f"/devices/{dev}/datastreams/co2", json={"unit": "mg/m3"})["errno"]
        == 0
    )
    listed = api(
        "GET", f"/devices/{dev}/datastreams", params={"datastream_ids": "co2"}
    )["data"]
    assert [(s["id"], s["unit"], s["tags"]) for s in listed] == [
        ("co2", "mg/m3", ["air"])
    ]
    # an update changes what it names and keeps the rest, creation time included
    assert listed[0]["unit_symbol"] == "ppm"
    assert listed[0]["create_time"] == stream["create_time"]
    assert (
        api("PUT", f"/devices/{dev}/datastreams/nope", json={"unit": "x"})["errno"]
        == 12
    )
    assert api("DELETE", f"/devices/{dev}/datastreams/co2")["errno"] == 0
    assert api("GET", f"/devices/{dev}/datastreams/co2")["errno"] == 12
    for i in range(3):
        api("POST", "/devices", json={"title": f"extra {i}", "tags": ["south"]})
    page = api("GET", "/devices", params={"page": "2", "per_page": "2"})["data"]
    assert (page["total_count"], len(page["devices"])) == (4, 2)
    assert api("GET", "/devices", params={"tag": "south"})["data"]["total_count"] == 3
    assert api("GET", "/devices", params={"title": "HOT"})["data"]["total_count"] == 1
    assert api("GET", "/devices", params={"per_page": "101"})["errno"] == 5
    assert api("DELETE", f"/devices/{dev}")["errno"] == 0
    assert api("GET", f"/devices/{dev}")["errno"] == 11
    assert api("POST", "/devices", json={"desc": "no title"})["errno"] == 3


def test_latest_of_many_devices(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    other = api("POST", "/devices", json={"title": "second"})["data"]["device_id"]
    api("POST", f"/devices/{dev}/datapoints", params={"type": "3"}, json={"t": 1})
    api(
        "POST",
        f"/devices/{other}/datapoints",
        params={"type": "3"},
        json={"t": 2, "h": "x"},
    )
    data = api("GET", "/devices/datapoints", params={"devIds": f"{dev},{other}"})[
        "data"
    ]
    got = {
        d["id"]: {s["id"]: s["value"] for s in d["datastreams"]}
        for d in data["devices"]
    }
    assert got == {dev: {"t": 1}, other: {"t": 2, "h": "x"}}
    assert api("GET", "/devices/datapoints")["errno"] == 3


def test_key_scopes(
    api: Api, device: tuple[str, str], backend: Backend, config: Config
) -> None:
    dev, dev_key = device
    other_dev, other_key = (lambda d: (d["device_id"], d["key"]))(
        api("POST", "/devices", json={"title": "b"})["data"]
    )
    # a device key reaches its device, and only it
    assert (
        api(
            "POST",
            f"/devices/{dev}/datapoints",
            dev_key,
            params={"type": "3"},
            json={"t": 1},
        )["errno"]
        == 0
    )
    assert api("GET", f"/devices/{dev}", dev_key)["errno"] == 0
    for method, path in [
        ("POST", f"/devices/{other_dev}/datapoints"),
        ("GET", f"/devices/{other_dev}"),
        ("GET", f"/devices/{other_dev}/datapoints"),
        ("DELETE", f"/devices/{other_dev}/datapoints"),
        ("GET", f"/devices/{other_dev}/datastreams"),
        ("PUT", f"/devices/{other_dev}"),
    ]:
        assert (
            api(method, path, dev_key, params={"type": "3"}, json={"t": 1})["errno"]
            == 1
        ), path
    # naming the datastreams changes nothing: the other device's points stay its own
    api(
        "POST",
        f"/devices/{other_dev}/datapoints",
        other_key,
        params={"type": "3"},
        json={"t": 7},
    )
    for method in ("GET", "DELETE"):
        refused = api(
            method,
            f"/devices/{other_dev}/datapoints",
            dev_key,
            params={"datastream_id": "t"},
        )
        assert refused == {
            "errno": 1,
            "error": "auth failed: this key reaches another device",
        }, method
    kept = api(
        "GET",
        f"/devices/{other_dev}/datapoints",
        other_key,
        params={"datastream_id": "t"},
    )["data"]["datastreams"]
    assert [p["value"] for p in kept[0]["datapoints"]] == [7]
    for method in ("GET", "DELETE"):
        missing = api(
            method, "/devices/4040404040/datapoints", params={"datastream_id": "t"}
        )
        assert missing["errno"] == 11, method
    assert (
        api("POST", "/devices", dev_key, json={"title": "x"})["errno"] == 1
    )  # needs the project key
    # listing the project's devices is a project-level call (README; issue 9 item 7)
    assert api("GET", "/devices", dev_key) == {
        "errno": 1,
        "error": "auth failed: this needs the project's key",
    }
    # another project's key reaches nothing here
    _, foreign = Directory(backend.projects, Keys(config.secret())).create("foreign")
    assert api("GET", f"/devices/{dev}", foreign)["errno"] == 11
    assert (
        api(
            "POST",
            f"/devices/{dev}/datapoints",
            foreign,
            params={"type": "3"},
            json={"t": 1},
        )["errno"]
        == 11
    )
    assert api("GET", "/devices", foreign)["data"]["total_count"] == 0
    assert api("GET", f"/devices/{dev}", "junk")["errno"] == 1
    assert api("GET", f"/devices/{dev}", f"{dev_key[:-2]}xx")["errno"] == 1
    assert other_key


def test_kairosdb_reads_iot_points(api: Api, device: tuple[str, str]) -> None:
    dev, _ = device
    api(
        "POST",
        f"/devices/{dev}/datapoints",
        json={
            "datastreams": [
                {
                    "id": "temperature",
                    "datapoints": [
                        {"at": "2020-01-01T08:00:00", "value": 20},
                        {"at": "2020-01-01T08:00:10", "value": 22.5},
                    ],
                }
            ]
        },
    )
    query = {
        "start_absolute": 0,
        "metrics": [
            {
                "name": "temperature",
                "tags": {"device_id": dev},
                "aggregators": [
                    {"name": "avg", "sampling": {"value": 1, "unit": "days"}}
                ],
            }
        ],
    }
    result = api.client.simulate_post(
        "/api/v1/datapoints/query",
        json=query,
        headers={"Authorization": f"Token {api.key}"},
    )
    (r,) = result.json["queries"][0]["results"]
    assert r["values"][0][1] == 21.25 and r["tags"] == {"device_id": [dev]}
    assert r["values"][0][0] == shanghai(
        "2020-01-01T08:00:00"
    )  # `at` read in the project's zone


def test_rest_statuses_on_request(
    config: Config, backend: Backend, api: Api, device: tuple[str, str]
) -> None:
    dev, _ = device
    rest = testing.TestClient(
        create_app(config.replace(onenet_rest_statuses=True), backend)
    )
    bad = rest.simulate_post(
        f"/devices/{dev}/datapoints",
        headers={"api-key": api.key},
        json={"datastreams": []},
    )
    assert bad.status_code == 400 and bad.json["errno"] == 5
    assert (
        rest.simulate_get(f"/devices/{dev}", headers={"api-key": "x"}).status_code
        == 401
    )
    assert (
        rest.simulate_get("/devices/999", headers={"api-key": api.key}).status_code
        == 404
    )


def test_unknown_paths_and_limits_answer_in_onenet_terms(
    config: Config, backend: Backend, api: Api, device: tuple[str, str]
) -> None:
    dev, _ = device
    assert api("GET", f"/devices/{dev}/nothing/here") == {
        "errno": 15,
        "error": "not found",
    }
    small = dataclasses.replace(
        config.limits, max_body_bytes=4096, max_points_per_request=5
    )
    limited = Api(
        testing.TestClient(create_app(config.replace(limits=small), backend)), api.key
    )
    upload = f"/devices/{dev}/datapoints"
    many = {f"s{i}": i for i in range(6)}
    assert limited("POST", upload, params={"type": "3"}, json=many)["errno"] == 13
    huge = {"s": "x" * 5000}
    assert limited("POST", upload, params={"type": "3"}, json=huge)["errno"] == 13
    # nothing of either was stored
    assert api("GET", f"/devices/{dev}/datastreams")["data"] == []
    rest = testing.TestClient(
        create_app(config.replace(onenet_rest_statuses=True), backend)
    )
    lost = rest.simulate_get(f"/devices/{dev}/x/y", headers={"api-key": api.key})
    assert lost.status_code == 404 and lost.json["errno"] == 15

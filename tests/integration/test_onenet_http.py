"""OneNET over HTTP on real Cassandra: firmware-style uploads, reads, keys, and the
same points through the KairosDB query API."""

from __future__ import annotations

import requests

from service.domain.projects import Directory, Keys
from service.storage.cassandra import CassandraBackend
from tests.integration.conftest import SECRET


def test_devices_streams_and_points_over_http(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    _, key = Directory(cassandra_backend.projects, Keys(SECRET.encode())).create(
        unique, timezone="Asia/Shanghai"
    )
    s = requests.Session()
    s.headers["api-key"] = key
    made = s.post(
        f"{server}/devices", json={"title": "meter", "tags": ["b1"]}, timeout=30
    ).json()
    dev, dev_key = made["data"]["device_id"], made["data"]["key"]
    firmware = requests.Session()
    firmware.headers["api-key"] = dev_key
    assert firmware.post(
        f"{server}/devices/{dev}/datapoints",
        params={"type": "5"},
        data=",;power,2020-05-01T10:00:00,1.5;power,2020-05-01T10:00:10,2.5",
        timeout=30,
    ).json() == {"errno": 0, "error": "succ"}
    assert (
        firmware.post(
            f"{server}/devices/{dev}/datapoints",
            params={"type": "4"},
            json={
                "power": {"2020-05-01T10:00:10": 3.5},
                "state": {"2020-05-01T10:00:10": {"on": True}},
            },
            timeout=30,
        ).json()["errno"]
        == 0
    )
    data = s.get(
        f"{server}/devices/{dev}/datapoints",
        params={"datastream_id": "power", "start": "2020-05-01T09:00:00", "limit": 1},
        timeout=30,
    ).json()["data"]
    assert data["datastreams"][0]["datapoints"] == [
        {"at": "2020-05-01 10:00:00.000", "value": 1.5}
    ]
    more = s.get(
        f"{server}/devices/{dev}/datapoints",
        params={
            "datastream_id": "power",
            "start": "2020-05-01T09:00:00",
            "limit": 1,
            "cursor": data["cursor"],
        },
        timeout=30,
    ).json()["data"]
    assert more["datastreams"][0]["datapoints"] == [
        {"at": "2020-05-01 10:00:10.000", "value": 3.5}
    ]  # replaced
    assert "cursor" not in more
    latest = s.get(f"{server}/devices/{dev}/datapoints", timeout=30).json()["data"][
        "datastreams"
    ]
    assert {x["id"]: x["datapoints"][0]["value"] for x in latest} == {
        "power": 3.5,
        "state": {"on": True},
    }
    # the KairosDB query API reads the same series: metric = stream, tag device_id
    query = {
        "start_absolute": 0,
        "metrics": [
            {
                "name": "power",
                "tags": {"device_id": dev},
                "aggregators": [
                    {"name": "sum", "sampling": {"value": 1, "unit": "hours"}}
                ],
            }
        ],
    }
    result = requests.post(
        f"{server}/api/v1/datapoints/query",
        json=query,
        headers={"Authorization": f"Token {key}"},
        timeout=30,
    ).json()
    assert result["queries"][0]["results"][0]["values"][0][1] == 5.0
    # scopes: the device key reaches no other device; another project reaches nothing
    other = s.post(f"{server}/devices", json={"title": "other"}, timeout=30).json()[
        "data"
    ]["device_id"]
    assert firmware.get(f"{server}/devices/{other}", timeout=30).json()["errno"] == 1
    _, foreign = Directory(cassandra_backend.projects, Keys(SECRET.encode())).create(
        unique + "-x"
    )
    assert (
        requests.get(
            f"{server}/devices/{dev}/datapoints",
            headers={"api-key": foreign},
            timeout=30,
        ).json()["errno"]
        == 11
    )
    assert s.delete(f"{server}/devices/{dev}", timeout=30).json()["errno"] == 0
    empty = requests.post(
        f"{server}/api/v1/datapoints/query",
        json=query,
        headers={"Authorization": f"Token {key}"},
        timeout=30,
    ).json()
    assert (
        empty["queries"][0]["results"][0]["values"] == []
    )  # the device's points went with it

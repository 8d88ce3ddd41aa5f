"""Text that is not Unicode, and requests with very many problems, in every dialect.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``): a valid escape, but not valid
Unicode text, so it can be neither stored nor echoed. Every dialect answers it with a
4xx in its own envelope, and nothing of the request is stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from falcon import testing

from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import Backend

# Raw JSON text: json.dumps would refuse to build these bodies.
LONE = ["\\ud800", "a\\udc00", "\\udbff!"]


@pytest.fixture
def key(backend: Backend, config: Config) -> tuple[str, str]:
    project, api_key = Directory(backend.projects, Keys(config.secret())).create(
        "hostile"
    )
    return project.id, api_key


def post(client: testing.TestClient, path: str, body: str, **headers: str) -> Any:
    return client.simulate_post(
        path,
        body=body.encode(),
        headers={"Content-Type": "application/json", **headers},
    )


@pytest.mark.parametrize("lone", LONE)
@pytest.mark.parametrize("where", ["name", "tag name", "tag value", "value"])
def test_kairosdb_refuses_lone_surrogates(
    client: testing.TestClient, unique: str, lone: str, where: str
) -> None:
    name = f"{unique}{lone}" if where == "name" else unique
    tag = f'"{lone}": "x"' if where == "tag name" else f'"host": "{lone}"'
    if where not in ("tag name", "tag value"):
        tag = '"host": "a"'
    value = f'"{lone}"' if where == "value" else "1"
    body = f'[{{"name": "{name}", "tags": {{{tag}}}, "datapoints": [[1, {value}]]}}]'
    result = post(client, "/api/v1/datapoints", body)
    assert result.status_code == 400
    assert "not valid Unicode" in result.json["errors"][0]
    names = client.simulate_get("/api/v1/metricnames", params={"prefix": unique})
    assert names.json == {"results": []}


def test_liquid_refuses_lone_surrogates_and_stores_nothing(
    client: testing.TestClient, key: tuple[str, str], unique: str
) -> None:
    auth = {"Authorization": f"Token {key[1]}"}
    body = (
        f'{{"user": {{"unique_id": "{unique}", "nick\\ud800": "x"}}, '
        '"device": {"unique_id": "d1"}, "event": {"name": "Open"}}'
    )
    result = post(client, "/collect/data_points", body, **auth)
    assert result.status_code == 400
    assert "not valid Unicode" in result.json["error"]
    user = client.simulate_get(f"/analyze/users/{unique}", headers=auth)
    assert user.status_code == 404


def test_mda_refuses_lone_surrogates_and_stores_nothing(
    client: testing.TestClient, key: tuple[str, str]
) -> None:
    project, api_key = key
    auth = {"Authorization": f"Token {api_key}"}
    body = '{"session": {"unit_id": "u1", "data": {"q1": "bad \\udc00 text"}}}'
    result = post(client, f"/api/v1/projects/{project}/sessions", body, **auth)
    assert result.status_code == 400
    assert result.json["status"] == "bad request"
    assert "not valid Unicode" in result.json["result"]["errors"][0]
    listed = client.simulate_get(f"/api/v1/projects/{project}/sessions", headers=auth)
    assert listed.status_code == 200
    assert listed.json["result"] == []


def test_onenet_refuses_lone_surrogates(
    client: testing.TestClient, key: tuple[str, str]
) -> None:
    _, api_key = key
    created = client.simulate_post(
        "/devices", json={"title": "sensor"}, headers={"api-key": api_key}
    )
    device = created.json["data"]["device_id"]
    body = '{"datastreams": [{"id": "t\\ud800", "datapoints": [{"value": 1}]}]}'
    result = post(client, f"/devices/{device}/datapoints", body, **{"api-key": api_key})
    assert result.status_code == 200  # OneNET's way: the errno tells
    assert result.json["errno"] == 5
    assert "not valid Unicode" in result.json["error"]
    streams = client.simulate_get(
        f"/devices/{device}/datastreams", headers={"api-key": api_key}
    )
    assert streams.json["data"] == []


def test_many_problems_are_capped_and_counted(
    client: testing.TestClient, unique: str
) -> None:
    points = ", ".join(f'[{i}, "not a number {i}", "long"]' for i in range(5000))
    body = f'[{{"name": "{unique}", "tags": {{"h": "a"}}, "datapoints": [{points}]}}]'
    result = post(client, "/api/v1/datapoints", body)
    assert result.status_code == 400
    messages = result.json["errors"]
    assert len(messages) == 101
    assert messages[0].startswith(f"metric[0](name={unique}).datapoints[0]")
    assert messages[-1] == "... and 4900 more problems."

"""Projects: the CLI, and one project's key never reaching another's data."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from falcon import testing

from service import cli
from service.app import create_app
from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import Backend


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Config,
    *args: str,
) -> tuple[int, Any]:
    monkeypatch.setenv("DATAPOINTS_STORE", config.store_url)
    monkeypatch.setenv("DATAPOINTS_SECRET_KEY", config.secret_key or "")
    code = cli.main(list(args))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_projects_cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Config,
    backend: Backend,
) -> None:
    # the store may hold other tests' projects (on Cassandra the keyspace is shared)
    _, before = run(capsys, monkeypatch, config, "projects", "list")
    code, made = run(
        capsys,
        monkeypatch,
        config,
        "projects",
        "create",
        "My App",
        "--mode",
        "production",
        "--session-gap",
        "120",
        "--timezone",
        "Asia/Shanghai",
    )
    assert code == 0
    assert {made[k] for k in ("name", "mode", "session_gap", "timezone")} == {
        "My App",
        "production",
        120,
        "Asia/Shanghai",
    }
    key = made["api_key"]
    directory = Directory(backend.projects, Keys(config.secret()))
    assert directory.by_key(key).id == made["id"]
    _, listed = run(capsys, monkeypatch, config, "projects", "list")
    new = [p for p in listed if p["id"] not in {b["id"] for b in before}]
    assert [p["id"] for p in new] == [made["id"]] and "api_key" not in new[0]
    _, shown = run(capsys, monkeypatch, config, "projects", "show", made["id"])
    assert shown["name"] == "My App" and "key" not in json.dumps(shown)
    _, changed = run(
        capsys,
        monkeypatch,
        config,
        "projects",
        "set",
        made["id"],
        "--mode",
        "development",
        "--name",
        "Renamed",
    )
    assert (changed["mode"], changed["name"], changed["session_gap"]) == (
        "development",
        "Renamed",
        120,
    )
    _, rotated = run(capsys, monkeypatch, config, "projects", "rotate-key", made["id"])
    fresh = Directory(backend.projects, Keys(config.secret()))
    assert fresh.by_key(rotated["api_key"]).id == made["id"]
    with pytest.raises(Exception, match="Invalid API key"):
        fresh.by_key(key)
    assert run(capsys, monkeypatch, config, "projects", "show", "nope")[0] == 2
    assert (
        run(
            capsys,
            monkeypatch,
            config,
            "projects",
            "set",
            made["id"],
            "--timezone",
            "Nowhere",
        )[0]
        == 2
    )


@pytest.fixture
def two(backend: Backend, config: Config) -> tuple[str, str]:
    d = Directory(backend.projects, Keys(config.secret()))
    return d.create("one")[1], d.create("two")[1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


def test_kairosdb_endpoints_are_per_project(
    client: testing.TestClient, two: tuple[str, str]
) -> None:
    one, other = two
    body = [{"name": "secret.metric", "tags": {"host": "a"}, "datapoints": [[1, 1]]}]
    assert (
        client.simulate_post(
            "/api/v1/datapoints", json=body, headers=auth(one)
        ).status_code
        == 204
    )
    query = {"start_absolute": 0, "metrics": [{"name": "secret.metric"}]}

    def visible(headers: dict[str, str]) -> list[Any]:
        result = client.simulate_post(
            "/api/v1/datapoints/query", json=query, headers=headers
        )
        return result.json["queries"][0]["results"][0]["values"]  # type: ignore[no-any-return]

    assert visible(auth(one)) == [[1, 1]]
    assert visible(auth(other)) == []
    assert visible({}) == []  # the public project
    basic = base64.b64encode(f"{one.split('.')[0]}:{one}".encode()).decode()
    assert visible({"Authorization": f"Basic {basic}"}) == [[1, 1]]
    for path in ("/api/v1/metricnames", "/api/v1/tagnames", "/api/v1/tagvalues"):
        assert client.simulate_get(path, headers=auth(other)).json == {"results": []}
        assert client.simulate_get(path, headers=auth(one)).json["results"]
    tags = client.simulate_post(
        "/api/v1/datapoints/query/tags", json=query, headers=auth(other)
    )
    assert tags.json["queries"][0]["results"][0]["tags"] == {}
    # another project's deletes do not reach this one
    client.simulate_post("/api/v1/datapoints/delete", json=query, headers=auth(other))
    client.simulate_delete("/api/v1/metric/secret.metric", headers=auth(other))
    client.simulate_delete("/api/v1/metric/secret.metric")
    assert visible(auth(one)) == [[1, 1]]
    bad = client.simulate_post(
        "/api/v1/datapoints/query", json=query, headers=auth("x.y")
    )
    assert bad.status_code == 401 and bad.json == {"errors": ["Invalid API key."]}


def test_kairosdb_can_require_a_key(
    config: Config, backend: Backend, two: tuple[str, str]
) -> None:
    client = testing.TestClient(
        create_app(config.replace(kairosdb_public=False), backend)
    )
    body = [{"name": "m", "tags": {"h": "a"}, "datapoints": [[1, 1]]}]
    assert client.simulate_post("/api/v1/datapoints", json=body).status_code == 401
    assert (
        client.simulate_post(
            "/api/v1/datapoints", json=body, headers=auth(two[0])
        ).status_code
        == 204
    )

"""Mobile Data Anywhere's API through Falcon's TestClient, with bodies built by an HTTP
client library (requests), not by hand."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import pytest
import requests
from falcon import testing

from service.config import Config
from service.dialects.mda.auth import signature
from service.domain.projects import Directory, Keys
from service.storage import Backend
from tests.probes import attachment_rows

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)


@pytest.fixture
def project(backend: Backend, config: Config) -> tuple[str, str]:
    p, key = Directory(backend.projects, Keys(config.secret())).create("forms")
    return p.id, key


def send(
    client: testing.TestClient,
    method: str,
    path: str,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> testing.Result:
    prepared = requests.Request(method, "http://test" + path, **kw).prepare()
    all_headers = dict(prepared.headers)
    if key:
        all_headers["Authorization"] = f"Token {key}"
    all_headers.update(headers or {})
    body = prepared.body
    body = body.encode() if isinstance(body, str) else body
    path_only = prepared.path_url.split("?")[0]
    query = prepared.path_url.partition("?")[2]
    return client.simulate_request(
        method, path_only, body=body, headers=all_headers, query_string=query
    )


def test_create_from_the_seed_json(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    seed = {
        "session": {
            "uuid": "12341234-12341234-1234-1234-123412341234",
            "unit_id": "mydevice",
            "created": 1234567890,
            "saved": 1234567890,
            "data": {
                "point1": "value1",
                "point2": "value2",
                "sketch1": {"rawData": base64.b64encode(PNG).decode()},
            },
        }
    }
    result = send(client, "POST", f"/api/v1/projects/{pid}/sessions", key, json=seed)
    assert result.status_code == 200, result.text
    body = result.json
    assert body["status"] == "success"
    s = body["result"]
    assert (s["uuid"], s["unit_id"], s["created_timestamp"], s["saved"]) == (
        "12341234-12341234-1234-1234-123412341234",
        "mydevice",
        1234567890,
        "2009-02-13T23:31:30Z",
    )
    assert abs(s["received_timestamp"] - time.time()) < 5 and s["is_deleted"] is False
    assert s["data"]["point1"] == "value1"
    assert s["data"]["sketch1"] == {
        "filename": "sketch1.png",
        "content_type": "image/png",
        "length": len(PNG),
        "md5": hashlib.md5(PNG).hexdigest(),
    }
    got = send(
        client,
        "GET",
        f"/api/v1/projects/{pid}/sessions/{s['uuid']}/attachments/sketch1",
        key,
    )
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"


def test_urlencoded_with_bracket_names(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    form = {
        "session[unit_id]": "unit-7",
        "session[created]": "1700000000",
        "session[data][Point1]": "hello",
        "session[data][__timezone__]": "36000",
        "session[data][sketch1][rawData]": base64.encodebytes(
            b"\x00\x01binary"
        ).decode(),
    }
    result = send(client, "POST", f"/api/v1/projects/{pid}/sessions", key, data=form)
    assert result.status_code == 200, result.text
    s = result.json["result"]
    assert s["data"]["point1"] == "hello"  # lower-cased
    assert s["data"]["__timezone__"] == "36000"
    assert s["data"]["sketch1"]["length"] == 8 and s["created_timestamp"] == 1700000000
    uuid = s["uuid"]
    assert len(uuid) == 36  # a new UUID4
    raw = send(
        client, "GET", f"/api/v1/project/{pid}/sessions/{uuid}/attachments/SKETCH1", key
    )
    assert raw.content == b"\x00\x01binary"


def test_multipart_with_files_round_trips_byte_for_byte(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    photo = os.urandom(1_500_000)
    result = send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        data={"session[unit_id]": "cam", "session[data][note]": "a photo"},
        files={"session[data][Photo1]": ("photo.jpg", photo, "image/jpeg")},
    )
    assert result.status_code == 200, result.text
    s = result.json["result"]
    assert s["data"]["photo1"] == {
        "filename": "photo.jpg",
        "content_type": "image/jpeg",
        "length": len(photo),
        "md5": hashlib.md5(photo).hexdigest(),
    }
    got = send(
        client,
        "GET",
        f"/api/v1/projects/{pid}/sessions/{s['uuid']}/attachments/photo1",
        key,
    )
    assert hashlib.md5(got.content).hexdigest() == hashlib.md5(photo).hexdigest()


def test_replace_by_uuid_leaves_no_trace(
    client: testing.TestClient, project: tuple[str, str], backend: Backend
) -> None:
    pid, key = project
    first = send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        data={
            "session[uuid]": "abc-1",
            "session[unit_id]": "u",
            "session[data][old]": "x",
        },
        files={
            "session[data][pic]": (
                "p.bin",
                os.urandom(600_000),
                "application/octet-stream",
            )
        },
    )
    assert (
        first.status_code == 200 and attachment_rows(backend, pid, "abc-1") == 3
    )  # 256 KiB chunks
    second = send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        json={"session": {"uuid": "abc-1", "unit_id": "u2", "data": {"new": "y"}}},
    )
    assert second.json["result"]["data"] == {"new": "y"}
    shown = send(client, "GET", f"/api/v1/projects/{pid}/sessions/abc-1", key).json[
        "result"
    ]
    assert shown["data"] == {"new": "y"} and shown["unit_id"] == "u2"
    assert (
        send(
            client, "GET", f"/api/v1/projects/{pid}/sessions/abc-1/attachments/pic", key
        ).status_code
        == 404
    )
    assert attachment_rows(backend, pid, "abc-1") == 0


def test_merge_update_and_attachment_replacement(
    client: testing.TestClient, project: tuple[str, str], backend: Backend
) -> None:
    pid, key = project
    send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        data={
            "session[uuid]": "m1",
            "session[unit_id]": "u",
            "session[data][a]": "1",
            "session[data][b]": "2",
        },
        files={"session[data][pic]": ("one.png", PNG, "image/png")},
    )
    updated = send(
        client,
        "PUT",
        f"/api/v1/projects/{pid}/sessions/m1",
        key,
        data={"session[data][B]": "20", "session[saved]": "1800000000"},
        files={"session[data][pic]": ("two.png", PNG[:100], "image/png")},
    )
    assert updated.status_code == 200, updated.text
    data = updated.json["result"]["data"]
    assert (data["a"], data["b"], data["pic"]["filename"], data["pic"]["length"]) == (
        "1",
        "20",
        "two.png",
        100,
    )
    assert updated.json["result"]["saved_timestamp"] == 1800000000
    assert attachment_rows(backend, pid, "m1") == 1  # the old bytes are gone
    missing = send(
        client,
        "PUT",
        f"/api/v1/projects/{pid}/sessions/nope",
        key,
        json={"session": {}},
    )
    assert missing.status_code == 404
    assert missing.json == {
        "status": "not found",
        "result": {"errors": ["no session 'nope'"]},
    }


def test_soft_delete_hides_unless_asked(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        json={"session": {"uuid": "d1", "unit_id": "u"}},
    )
    assert send(client, "DELETE", f"/api/v1/projects/{pid}/sessions/d1", key).json[
        "result"
    ]["is_deleted"]
    assert (
        send(client, "GET", f"/api/v1/projects/{pid}/sessions/d1", key).status_code
        == 404
    )
    shown = send(client, "GET", f"/api/v1/projects/{pid}/sessions/d1?deleted=1", key)
    assert shown.status_code == 200 and shown.json["result"]["is_deleted"] is True
    listed = send(client, "GET", f"/api/v1/projects/{pid}/sessions", key).json["result"]
    assert "d1" not in [s["uuid"] for s in listed]
    listed = send(
        client, "GET", f"/api/v1/projects/{pid}/sessions?deleted=1", key
    ).json["result"]
    assert "d1" in [s["uuid"] for s in listed]
    assert (
        send(client, "DELETE", f"/api/v1/projects/{pid}/sessions/d1", key).status_code
        == 404
    )


def test_listing_filters_and_pages(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    for i in range(7):
        send(
            client,
            "POST",
            f"/api/v1/projects/{pid}/sessions",
            key,
            json={
                "session": {
                    "uuid": f"s{i}",
                    "unit_id": "even" if i % 2 == 0 else "odd",
                    "saved": 1000 + i,
                }
            },
        )
    pages, cursor = [], None
    while True:
        path = f"/api/v1/projects/{pid}/sessions?limit=3" + (
            f"&cursor={cursor}" if cursor else ""
        )
        body = send(client, "GET", path, key).json
        pages.append([s["uuid"] for s in body["result"]])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert pages == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6"]]
    evens = send(
        client,
        "GET",
        f"/api/v1/projects/{pid}/sessions?unit_id=even&saved_from=1001&saved_to=1005",
        key,
    )
    assert [s["uuid"] for s in evens.json["result"]] == ["s2", "s4"]


def test_batch(client: testing.TestClient, project: tuple[str, str]) -> None:
    pid, key = project
    send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        json={"session": {"uuid": "b1", "unit_id": "u", "data": {"x": "1"}}},
    )
    send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        json={"session": {"uuid": "b2", "unit_id": "u"}},
    )
    body = {
        "sessionsToAdd": {pid: [{"uuid": "b3", "unit_id": "u", "data": {"y": "2"}}]},
        "sessionsToUpdate": {pid: [{"uuid": "b1", "data": {"z": "3"}}]},
        "sessionsToDelete": {pid: [{"uuid": "b2"}]},
    }
    result = send(client, "POST", "/api/v1/sessions/batch", key, json=body)
    assert result.json == {
        "status": "success",
        "result": {"added": ["b3"], "updated": ["b1"], "deleted": ["b2"]},
    }
    b1 = send(client, "GET", f"/api/v1/projects/{pid}/sessions/b1", key).json["result"]
    assert b1["data"] == {"x": "1", "z": "3"}
    bad = {
        "sessionsToUpdate": {pid: [{"uuid": "nope", "data": {}}]},
        "sessionsToAdd": {pid: [{"uuid": "b4", "unit_id": "u"}]},
    }
    assert (
        send(client, "POST", "/api/v1/sessions/batch", key, json=bad).status_code == 404
    )
    assert (
        send(client, "GET", f"/api/v1/projects/{pid}/sessions/b4", key).status_code
        == 404
    )  # nothing applied


def test_attachment_endpoints(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        json={"session": {"uuid": "a1", "unit_id": "u"}},
    )
    base = f"/api/v1/projects/{pid}/sessions/a1/attachments"
    multipart = send(
        client,
        "PUT",
        f"{base}/Signature",
        key,
        files={"attachment": ("sig.png", PNG, "image/png")},
    )
    assert multipart.json == {
        "status": "success",
        "result": {"length": len(PNG), "md5": hashlib.md5(PNG).hexdigest()},
    }
    raw = send(
        client,
        "PUT",
        f"/api/v1/project/{pid}/sessions/a1/attachments/doc?filename=report.pdf",
        key,
        data=b"%PDF-1.4 body",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert raw.json["result"] == {
        "length": 13,
        "md5": hashlib.md5(b"%PDF-1.4 body").hexdigest(),
    }
    session = send(client, "GET", f"/api/v1/projects/{pid}/sessions/a1", key).json[
        "result"
    ]
    assert session["data"]["signature"]["filename"] == "sig.png"
    assert session["data"]["doc"]["filename"] == "report.pdf"
    assert send(client, "GET", f"{base}/doc", key).content == b"%PDF-1.4 body"
    assert send(client, "DELETE", f"{base}/doc", key).status_code == 200
    assert send(client, "GET", f"{base}/doc", key).status_code == 404
    assert (
        send(
            client,
            "PUT",
            f"{base}/x",
            key,
            data=b"t",
            headers={"Content-Type": "text/plain"},
        ).status_code
        == 400
    )
    assert (
        send(client, "PUT", f"{base}/x", key, files={"other": ("a", b"b")}).status_code
        == 400
    )
    assert (
        send(
            client,
            "PUT",
            f"/api/v1/projects/{pid}/sessions/none/attachments/x",
            key,
            files={"attachment": ("a", b"b")},
        ).status_code
        == 404
    )


def test_time_needs_no_authentication(client: testing.TestClient) -> None:
    result = client.simulate_get("/api/v1/time")
    assert (
        result.json["status"] == "success"
        and abs(result.json["result"] - time.time()) < 5
    )


def test_devices(client: testing.TestClient, project: tuple[str, str]) -> None:
    pid, key = project
    for i, unit in enumerate(["t1", "t1", "t2"]):
        send(
            client,
            "POST",
            f"/api/v1/projects/{pid}/sessions",
            key,
            json={"session": {"uuid": f"dv{i}", "unit_id": unit}},
        )
    devices = send(client, "GET", f"/api/v1/devices?project_id={pid}", key).json[
        "result"
    ]
    assert [(d["unit_id"], d["session_count"]) for d in devices] == [
        ("t1", 2),
        ("t2", 1),
    ]
    one = send(client, "GET", "/api/v1/devices/t1", key).json["result"]
    assert one["first_used_timestamp"] <= one["last_used_timestamp"]
    assert send(client, "GET", "/api/v1/devices/none", key).status_code == 404


def test_mda_signature_scheme(
    client: testing.TestClient, project: tuple[str, str]
) -> None:
    pid, key = project
    ts = str(int(time.time()))

    def signed(user: str, stamp: str, secret: str) -> dict[str, str]:
        creds = base64.b64encode(
            f"{user}:{signature(user, stamp, secret)}".encode()
        ).decode()
        return {"Authorization": f"Basic {creds}", "HTTP-X-API-TIMESTAMP": stamp}

    path = f"/api/v1/projects/{pid}/sessions"
    body = {"session": {"unit_id": "signed"}}
    assert (
        send(client, "POST", path, headers=signed(pid, ts, key), json=body).status_code
        == 200
    )
    for headers in (
        signed(pid, ts, key + "x"),
        signed(pid, str(int(ts) - 301), key),
        signed("other", ts, key),
        {"HTTP-X-API-TIMESTAMP": ts},
        {},
    ):
        result = send(client, "POST", path, headers=headers, json=body)
        assert result.status_code == 403
        assert result.json["status"] == "forbidden" and result.json["result"]["errors"]


def test_a_key_reaches_only_its_own_project(
    client: testing.TestClient,
    project: tuple[str, str],
    backend: Backend,
    config: Config,
) -> None:
    pid, key = project
    _, other = Directory(backend.projects, Keys(config.secret())).create("other")
    send(
        client,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        json={"session": {"uuid": "mine", "unit_id": "u"}},
    )
    for method, path in [
        ("GET", f"/api/v1/projects/{pid}/sessions"),
        ("GET", f"/api/v1/projects/{pid}/sessions/mine"),
        ("PUT", f"/api/v1/projects/{pid}/sessions/mine"),
        ("DELETE", f"/api/v1/projects/{pid}/sessions/mine"),
        ("GET", f"/api/v1/projects/{pid}/sessions/mine/attachments/x"),
        ("GET", f"/api/v1/devices?project_id={pid}"),
    ]:
        assert (
            send(client, method, path, other, json={"session": {}}).status_code == 403
        ), path
    assert (
        send(
            client,
            "POST",
            "/api/v1/sessions/batch",
            other,
            json={"sessionsToDelete": {pid: [{"uuid": "mine"}]}},
        ).status_code
        == 403
    )
    # the other project's own namespace does not hold it either
    other_pid = other.split(".")[0]
    assert (
        send(
            client, "GET", f"/api/v1/projects/{other_pid}/sessions/mine", other
        ).status_code
        == 404
    )
    assert send(client, "GET", "/api/v1/devices", other).json["result"] == []


@pytest.mark.parametrize(
    ("kw", "status", "fragment"),
    [
        (
            {"json": {"session": {"data": {"a": "b"}}}},
            400,
            "session[unit_id] is required",
        ),
        ({"json": {"nothing": 1}}, 400, "session is required"),
        (
            {
                "json": {
                    "session": {
                        "unit_id": "u",
                        "data": {"pic": {"rawData": "***not base64***"}},
                    }
                }
            },
            400,
            "session[data][pic][rawData] is not valid base64",
        ),
        (
            {"json": {"session": {"unit_id": "u", "data": {"pic": {"raw": "x"}}}}},
            400,
            "must be a value or",
        ),
        (
            {"json": {"session": {"unit_id": "u", "created": "yesterday"}}},
            400,
            "session[created]",
        ),
        (
            {"data": {"session[unit_id]": "u", "session[data][a[b]]": "1"}},
            400,
            "Bad field names",
        ),
        (
            {"data": {"session[unit_id]": "u", "session[data][x]]": "1"}},
            400,
            "Bad field names",
        ),
        (
            {"data": {"session[unit_id]": "u", "session[data][]": "1"}},
            400,
            "Bad field names",
        ),
        (
            {"json": {"session": {"unit_id": "u", "data": {"a[b]": "1"}}}},
            400,
            "not a valid point name",
        ),
        (
            {"data": {"session[unit_id]": "u", "session[data][a][b][c][d]": "1"}},
            400,
            "Bad field names",
        ),
        (
            {"data": {"session[unit_id]": "u"}, "files": {"photo": ("p.jpg", b"x")}},
            400,
            "file part 'photo' must be named session[data][<point>]",
        ),
        (
            {"data": b"<xml/>", "headers": {"Content-Type": "application/xml"}},
            400,
            "is not accepted",
        ),
        (
            {"data": b"{bad json", "headers": {"Content-Type": "application/json"}},
            400,
            "Invalid json",
        ),
    ],
)
def test_malformed_input_is_a_clear_4xx(
    client: testing.TestClient,
    project: tuple[str, str],
    kw: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    pid, key = project
    result = send(client, "POST", f"/api/v1/projects/{pid}/sessions", key, **kw)
    assert result.status_code == status, result.text
    assert result.json["status"] == "bad request"
    assert any(fragment in e for e in result.json["result"]["errors"]), result.json


def test_oversize_files_are_413(
    config: Config, backend: Backend, project: tuple[str, str]
) -> None:
    from service.app import create_app

    small = testing.TestClient(
        create_app(config.replace(max_attachment_bytes=1000), backend)
    )
    pid, key = project
    result = send(
        small,
        "POST",
        f"/api/v1/projects/{pid}/sessions",
        key,
        data={"session[unit_id]": "u"},
        files={"session[data][big]": ("b.bin", os.urandom(1001))},
    )
    assert result.status_code == 413 and result.json["status"] == "payload too large"
    raw = {
        "session": {
            "unit_id": "u",
            "data": {"big": {"rawData": base64.b64encode(os.urandom(2000)).decode()}},
        }
    }
    assert (
        send(
            small, "POST", f"/api/v1/projects/{pid}/sessions", key, json=raw
        ).status_code
        == 413
    )


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

names = st.text(alphabet="session[]dataunit_id0123ABrawD", min_size=1, max_size=30)


@settings(max_examples=150)
@given(st.dictionaries(names, st.text(max_size=20), max_size=8), st.booleans())
def test_random_forms_never_500(
    client: testing.TestClient,
    project: tuple[str, str],
    form: dict[str, str],
    multipart: bool,
) -> None:
    pid, key = project
    kw: dict[str, Any] = {"data": form}
    if multipart:
        kw["files"] = {next(iter(form), "f"): ("x.bin", b"1")}
    result = send(client, "POST", f"/api/v1/projects/{pid}/sessions", key, **kw)
    assert result.status_code in (200, 400), result.text
    assert result.json["status"] in ("success", "bad request")

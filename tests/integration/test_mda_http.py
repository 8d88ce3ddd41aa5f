"""Mobile Data Anywhere over HTTP on real Cassandra, with real form bodies."""

from __future__ import annotations

import base64
import hashlib
import os
import time

import requests

from service.dialects.mda.auth import signature
from service.domain.projects import Directory, Keys
from service.storage.cassandra import CassandraBackend
from tests.integration.conftest import SECRET
from tests.probes import attachment_rows


def test_forms_with_attachments_over_http(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    project, key = Directory(cassandra_backend.projects, Keys(SECRET.encode())).create(
        unique
    )
    s = requests.Session()
    s.headers["Authorization"] = f"Token {key}"
    base = f"{server}/api/v1/projects/{project.id}/sessions"
    photo = os.urandom(900_000)
    made = s.post(
        base,
        data={
            "session[uuid]": "f-1",
            "session[unit_id]": "tablet",
            "session[data][Note]": "hi",
            "session[data][__timezone__]": "36000",
        },
        files={"session[data][photo]": ("photo.jpg", photo, "image/jpeg")},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    assert (
        made.json()["result"]["data"]["photo"]["md5"] == hashlib.md5(photo).hexdigest()
    )
    got = s.get(f"{base}/f-1/attachments/photo", timeout=30)
    assert got.content == photo and got.headers["Content-Type"] == "image/jpeg"
    assert attachment_rows(cassandra_backend, project.id, "f-1") == 4
    # replace by uuid: the old photo's chunks go
    replaced = s.post(
        base,
        json={
            "session": {
                "uuid": "f-1",
                "unit_id": "tablet",
                "data": {"sketch": {"rawData": base64.b64encode(b"lines").decode()}},
            }
        },
        timeout=30,
    )
    assert replaced.json()["result"]["data"] == {
        "sketch": {
            "filename": "sketch.bin",
            "content_type": "application/octet-stream",
            "length": 5,
            "md5": hashlib.md5(b"lines").hexdigest(),
        }
    }
    assert attachment_rows(cassandra_backend, project.id, "f-1") == 1
    # MDA's own signature scheme
    stamp = str(int(time.time()))
    creds = base64.b64encode(
        f"{project.id}:{signature(project.id, stamp, key)}".encode()
    ).decode()
    signed = requests.get(
        f"{base}/f-1",
        headers={"Authorization": f"Basic {creds}", "HTTP-X-API-TIMESTAMP": stamp},
        timeout=30,
    )
    assert signed.status_code == 200 and signed.json()["result"]["unit_id"] == "tablet"
    assert s.delete(f"{base}/f-1", timeout=30).json()["result"]["is_deleted"] is True
    assert s.get(base, timeout=30).json()["result"] == []
    devices = s.get(f"{server}/api/v1/devices", timeout=30).json()["result"]
    assert [d["unit_id"] for d in devices] == ["tablet"]


def test_merge_batch_and_bad_input_over_http(
    server: str, cassandra_backend: CassandraBackend, unique: str
) -> None:
    project, key = Directory(cassandra_backend.projects, Keys(SECRET.encode())).create(
        unique
    )
    s = requests.Session()
    s.headers["Authorization"] = f"Token {key}"
    base = f"{server}/api/v1/projects/{project.id}/sessions"
    s.post(
        base,
        data={
            "session[uuid]": "m",
            "session[unit_id]": "u",
            "session[data][a]": "1",
            "session[data][b]": "2",
        },
        timeout=30,
    )
    merged = s.put(f"{base}/m", data={"session[data][b]": "3"}, timeout=30).json()[
        "result"
    ]
    assert merged["data"] == {"a": "1", "b": "3"}
    batch = {
        "sessionsToAdd": {project.id: [{"uuid": "n", "unit_id": "u"}]},
        "sessionsToDelete": {project.id: [{"uuid": "m"}]},
    }
    assert s.post(f"{server}/api/v1/sessions/batch", json=batch, timeout=30).json()[
        "result"
    ] == {"added": ["n"], "updated": [], "deleted": ["m"]}
    assert [x["uuid"] for x in s.get(base, timeout=30).json()["result"]] == ["n"]
    for bad, status in [
        ({"data": {"session[data][a]": "1"}}, 400),
        (
            {"json": {"session": {"unit_id": "u", "data": {"p": {"rawData": "!!"}}}}},
            400,
        ),
        ({"data": {"session[unit_id]": "u", "session[data][x]]": "1"}}, 400),
        ({"data": b"x", "headers": {"Content-Type": "text/csv"}}, 400),
    ]:
        result = s.post(base, timeout=30, **bad)
        assert (
            result.status_code == status and result.json()["status"] == "bad request"
        ), bad

"""Whatever a client sends to Mobile Data Anywhere's endpoints, the answer is a 2xx or
a 4xx in MDA's envelope, never a 5xx; and a request answered with an error stores no
session (derandomized in CI; HYPOTHESIS_PROFILE=explore runs longer). A 500 found
here becomes a plain test in test_mda_hostile.py.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from falcon import testing
from hypothesis import event, example, given
from hypothesis import strategies as st

from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import Backend
from tests.hostile.fields import (
    anything,
    cursors,
    json_bytes,
    millis,
    names,
    query,
    scalars,
    segments,
    text,
)

BOUNDARY = "fuzzboundary"
# Field names as MDA forms spell them, and broken ones.
bracket_names = st.text(alphabet="session[]dataunit_id0123ABrawD", max_size=30) | names
raw_names = bracket_names.map(lambda n: n.encode("utf-8", "surrogatepass")) | st.binary(
    max_size=12
)
sessions = st.fixed_dictionaries(
    {},
    optional={
        "uuid": names | anything,
        "unit_id": names | anything,
        "created": millis | anything,
        "saved": millis | anything,
        "is_deleted": anything,
        "data": st.dictionaries(
            names,
            scalars
            | st.fixed_dictionaries(
                {"rawData": text | st.binary().map(base64.b64encode).map(bytes.decode)}
            )
            | anything,
            max_size=4,
        )
        | anything,
    },
)


def multipart(parts: list[tuple[bytes, bytes | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        head = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            head += b'; filename="' + filename + b'"'
        out += b"--" + BOUNDARY.encode() + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + BOUNDARY.encode() + b"--\r\n"


_part = st.tuples(
    raw_names.filter(lambda n: b'"' not in n and b"\r" not in n and b"\n" not in n),
    st.none() | st.binary(max_size=8).filter(lambda n: not set(n) & set(b'"\r\n')),
    st.binary(max_size=16),
)
# Well-formed sessions with values at the edges (what must be stored and listed).
points = st.text(alphabet="abcAB_é 1", min_size=1, max_size=6)
good_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.binary(max_size=16).map(lambda b: {"rawData": base64.b64encode(b).decode()})
)
good_sessions = st.fixed_dictionaries(
    {"unit_id": st.text(min_size=1, max_size=8)},
    optional={
        "uuid": st.from_regex(r"[A-Za-z0-9{}_.:-]{1,64}", fullmatch=True),
        "created": st.integers(0, 253_402_300_799),
        "saved": st.integers(0, 253_402_300_799),
        "is_deleted": st.booleans(),
        "data": st.dictionaries(points, good_values, max_size=4),
    },
)
good_parts = st.lists(
    st.tuples(
        points.map(lambda p: f"session[data][{p}]".encode()),
        st.none()
        | st.text(min_size=1, max_size=8)
        .filter(lambda n: '"' not in n and "\\" not in n)
        .map(str.encode),
        st.text(max_size=8).map(str.encode),
    ),
    max_size=4,
)
bodies = st.one_of(
    st.tuples(
        st.just("application/json"),
        st.fixed_dictionaries({"session": good_sessions}).map(json_bytes),
    ),
    st.tuples(
        st.just(f"multipart/form-data; boundary={BOUNDARY}"),
        good_parts.map(
            lambda parts: multipart([(b"session[unit_id]", None, b"u"), *parts])
        ),
    ),
    st.tuples(
        st.just("application/json"),
        st.fixed_dictionaries({"session": sessions}).map(json_bytes)
        | anything.map(json_bytes)
        | st.binary(max_size=32),
    ),
    st.tuples(
        st.just("application/x-www-form-urlencoded"),
        st.lists(st.tuples(raw_names, st.binary(max_size=12)), max_size=6).map(
            lambda pairs: b"&".join(
                urllib.parse.quote_from_bytes(k).encode()
                + b"="
                + urllib.parse.quote_from_bytes(v).encode()
                for k, v in pairs
            )
        )
        | st.binary(max_size=32),
    ),
    st.tuples(
        st.just(f"multipart/form-data; boundary={BOUNDARY}"),
        st.lists(_part, max_size=4).map(
            lambda parts: multipart([(b"session[unit_id]", None, b"u"), *parts])
        )
        | st.binary(max_size=32),
    ),
    st.tuples(
        st.sampled_from(["", "text/plain", "application/xml"]), st.binary(max_size=8)
    ),
)


@pytest.fixture
def mda(backend: Backend, config: Config) -> Callable[[], tuple[str, dict[str, str]]]:
    """A new project for each example: the checks that count its sessions stay
    cheap however many examples run."""
    directory = Directory(backend.projects, Keys(config.secret()))

    def new() -> tuple[str, dict[str, str]]:
        project, key = directory.create("fuzz")
        return project.id, {"Authorization": f"Token {key}"}

    return new


def check_mda(result: testing.Result) -> None:
    status = result.status_code
    event(f"HTTP {status}")  # (--hypothesis-show-statistics shows the mix)
    assert status == 200 or 400 <= status < 500, (status, result.text)
    body = result.json
    if status == 200:
        assert body["status"] == "success", body
        return
    errors = body["result"]["errors"]
    assert body["status"] != "success" and errors, body
    assert all(isinstance(e, str) and e for e in errors), body


def count(client: testing.TestClient, pid: str, auth: dict[str, str]) -> int:
    listed = client.simulate_get(
        f"/api/v1/projects/{pid}/sessions",
        params={"deleted": "1", "limit": "1000"},
        headers=auth,
    )
    assert listed.status_code == 200, listed.text
    return len(listed.json["result"])


@given(body=bodies, method=st.sampled_from(["POST", "PUT"]))
@example(  # the 500 the CI run found: a file part named session
    body=(
        f"multipart/form-data; boundary={BOUNDARY}",
        multipart([(b"session[unit_id]", None, b"u"), (b"session", b"x.bin", b"1")]),
    ),
    method="POST",
)
@example(  # non-UTF-8 bytes in a part's name
    body=(
        f"multipart/form-data; boundary={BOUNDARY}",
        multipart([(b"session[unit_id]", None, b"u"), (b"\xff", None, b"1")]),
    ),
    method="POST",
)
def test_session_bodies_never_5xx_and_errors_store_nothing(
    client: testing.TestClient,
    mda: Callable[[], tuple[str, dict[str, str]]],
    body: tuple[str, bytes],
    method: str,
) -> None:
    pid, auth = mda()
    kind, data = body
    path = f"/api/v1/projects/{pid}/sessions"
    if method == "PUT":
        made = client.simulate_post(
            path, json={"session": {"uuid": "s1", "unit_id": "u"}}, headers=auth
        )
        assert made.status_code == 200
        path += "/s1"
    before = count(client, pid, auth)
    headers = {**auth, "Content-Type": kind} if kind else auth
    result = client.simulate_request(method, path, body=data, headers=headers)
    check_mda(result)
    if result.status_code != 200:
        assert count(client, pid, auth) == before


@given(
    groups=st.dictionaries(
        st.sampled_from(["sessionsToAdd", "sessionsToUpdate", "sessionsToDelete"]),
        st.lists(good_sessions | sessions | anything, max_size=3) | anything,
        max_size=3,
    ),
    own=st.sampled_from([True, True, True, False]),
)
def test_batches_never_5xx_and_errors_store_nothing(
    client: testing.TestClient,
    mda: Callable[[], tuple[str, dict[str, str]]],
    groups: dict[str, Any],
    own: bool,
) -> None:
    pid, auth = mda()
    body = {g: {pid if own else "other": v} for g, v in groups.items()}
    before = count(client, pid, auth)
    result = client.simulate_post(
        "/api/v1/sessions/batch", body=json_bytes(body), headers=auth
    )
    check_mda(result)
    if result.status_code != 200:
        assert count(client, pid, auth) == before


@given(
    route=st.sampled_from(
        [
            "/api/v1/projects/{pid}/sessions",
            "/api/v1/projects/{pid}/sessions/{id}",
            "/api/v1/project/{pid}/sessions/s1/attachments/{id}",
            "/api/v1/projects/{pid}/sessions/{id}/attachments/p",
            "/api/v1/devices",
            "/api/v1/devices/{id}",
            "/api/v1/projects/{id}/sessions",
        ]
    ),
    method=st.sampled_from(["GET", "DELETE", "PUT"]),
    ident=segments,
    params=st.dictionaries(
        st.sampled_from(
            [
                "limit",
                "cursor",
                "saved_from",
                "saved_to",
                "unit_id",
                "deleted",
                "filename",
                "project_id",
            ]
        ),
        millis | cursors | st.binary(max_size=8) | names,
        max_size=4,
    ),
)
def test_paths_and_parameters_never_5xx(
    client: testing.TestClient,
    mda: Callable[[], tuple[str, dict[str, str]]],
    route: str,
    method: str,
    ident: str,
    params: dict[str, Any],
) -> None:
    pid, auth = mda()
    client.simulate_post(
        f"/api/v1/projects/{pid}/sessions",
        json={"session": {"uuid": "s1", "unit_id": "u", "data": {"q": "1"}}},
        headers=auth,
    )
    result = client.simulate_request(
        method,
        route.format(pid=pid, id=ident),
        query_string=query(params),
        body=b"x",
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    if result.status_code == 200 and "/attachments/" in route and method == "GET":
        return  # the attachment's bytes
    check_mda(result)

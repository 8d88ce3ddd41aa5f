"""Whatever a client sends to any KairosDB endpoint, the answer is a 2xx or a clear
4xx in KairosDB's envelope, never a 5xx.

The requests come from tests/hostile (shared with bench/fuzz_http.py, which runs the
same for as long as an operator likes): documents shaped like KairosDB's with huge
integers, NaN and Infinity, lone surrogates, names past the key limit, deep nesting
and the wrong type in every slot. CI runs them derandomized (the ``ci`` profile);
a failure found while exploring is pinned as a plain regression test below.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from falcon import testing
from hypothesis import given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import Backend
from tests.hostile import Request, violations
from tests.hostile import kairosdb as hostile

# A small result budget: a random query that would return millions of points (say
# gaps every millisecond) is a quick 400 rather than a slow example.
MAX_QUERY_POINTS = 10_000
TIMES = [-(2**62), 0, 1, 2, 10**12, 2**62]


@pytest.fixture
def fuzzed(config: Config, backend: Backend) -> tuple[testing.TestClient, str]:
    _, key = Directory(backend.projects, Keys(config.secret())).create("fuzz")
    app = create_app(config.replace(max_query_points=MAX_QUERY_POINTS), backend)
    client = testing.TestClient(app)
    # some data for queries, deletes and metadata to find (under names the
    # strategies draw often: hypothesis starts text from "0")
    body = [
        {"name": name, "tags": {"0": tag}, "datapoints": [[t, t % 7] for t in TIMES]}
        for name in ("0", "m")
        for tag in ("0", "a")
    ]
    for headers in ({}, {"Authorization": f"Token {key}"}):
        sent = client.simulate_post("/api/v1/datapoints", json=body, headers=headers)
        assert sent.status_code == 204, sent.text
    return client, key


def send(client: testing.TestClient, request: Request) -> testing.Result:
    result = client.simulate_request(
        request.method,
        request.path,
        params=request.params or None,
        headers=request.headers,
        body=request.body,
    )
    found = violations(
        request,
        result.status_code,
        result.headers.get("content-type", ""),
        result.content,
    )
    assert not found, (found, request, result.text[:2000])
    return result


# (no max_examples here: the profile sets it, 200 in CI, 5,000 with "explore")
@given(data=st.data())
def test_writes(fuzzed: tuple[testing.TestClient, str], data: st.DataObject) -> None:
    client, key = fuzzed
    send(client, data.draw(hostile.requests(key, kinds=("write",))))


@given(data=st.data())
def test_queries(fuzzed: tuple[testing.TestClient, str], data: st.DataObject) -> None:
    client, key = fuzzed
    send(client, data.draw(hostile.requests(key, kinds=("query", "get"))))


@given(data=st.data())
def test_tags_deletes_and_metadata(
    fuzzed: tuple[testing.TestClient, str], data: st.DataObject
) -> None:
    client, key = fuzzed
    kinds = ("tags", "delete", "meta")
    send(client, data.draw(hostile.requests(key, kinds=kinds)))


# -- the first tests of this module, kept: plain bodies and bytes -------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100)
@given(anything)
def test_random_bodies_get_204_or_a_clear_4xx(
    client: testing.TestClient, body: Any
) -> None:
    result = client.simulate_post("/api/v1/datapoints", body=json.dumps(body).encode())
    assert result.status_code in (204, 400), result.text
    if result.status_code == 400:
        errors = result.json["errors"]
        assert errors
        assert all(isinstance(e, str) and e for e in errors)


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_random_bytes_get_a_clear_4xx(client: testing.TestClient, body: bytes) -> None:
    for headers in ({}, {"Content-Encoding": "gzip"}):
        result = client.simulate_post("/api/v1/datapoints", body=body, headers=headers)
        assert result.status_code in (204, 400), result.text

"""Whatever a client sends to Liquid's endpoints, the answer is a 2xx or a 4xx in
Liquid's own envelope, never a 5xx (derandomized in CI; HYPOTHESIS_PROFILE=explore
runs longer). A 500 found here becomes a plain test in test_liquid_hostile.py.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable
from typing import Any

import pytest
from falcon import testing
from hypothesis import event, given
from hypothesis import strategies as st

from service.config import Config
from service.domain.projects import Directory, Keys
from service.storage import Backend
from tests.hostile.fields import (
    anything,
    json_bytes,
    millis,
    names,
    path_segment,
    query,
    scalars,
    segments,
    times,
)

attributes = st.dictionaries(names, scalars | anything, max_size=4)
# Mostly well-formed ids and names, so that examples get past the first checks.
ids = st.text(alphabet="abcd-", min_size=1, max_size=6)
event_names = st.sampled_from(["Open App", "Buy", "x" * 50, "x" * 51])


def entity(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    made = st.builds(
        lambda own, attrs: {**attrs, **own},
        st.fixed_dictionaries(fields),
        attributes,
    )
    return made | made | made | anything


# Well-formed data points with values at the edges (what must be stored and read)...
valid_times = st.datetimes(
    min_value=dt.datetime(1, 1, 3), max_value=dt.datetime(9999, 12, 29)
).flatmap(
    lambda moment: st.timezones().map(
        lambda zone: moment.replace(tzinfo=zone).isoformat()
    )
)
good = st.fixed_dictionaries(
    {
        "user": st.fixed_dictionaries(
            {"unique_id": ids}, optional={"identified": st.booleans()}
        ),
        "device": st.fixed_dictionaries({"unique_id": ids}),
        "event": st.fixed_dictionaries({"name": event_names}),
    },
    optional={"timestamp": valid_times, "values": anything},
).flatmap(
    lambda d: st.tuples(
        st.just(d),
        st.dictionaries(ids, scalars, max_size=4),
        st.sampled_from(["user", "device", "event"]),
    ).map(lambda t: {**t[0], t[2]: {**t[1], **t[0][t[2]]}})
)
# ... and any shape at all.
bad = st.fixed_dictionaries(
    {
        "user": entity({"unique_id": ids | names | anything}),
        "device": entity({"unique_id": ids | names}),
        "event": entity({"name": event_names | names | anything}),
    },
    optional={"timestamp": times | anything, "values": anything},
) | st.fixed_dictionaries(
    {},
    optional={
        "timestamp": times,
        "user": anything,
        "device": anything,
        "event": st.fixed_dictionaries({"name": event_names, "date": times}),
    },
)
data_points = good | bad
# (document or None, body, Content-Encoding)
bodies = st.one_of(
    data_points.map(lambda d: (d, json_bytes(d), "")),
    data_points.map(lambda d: (d, gzip.compress(json_bytes(d)), "gzip")),
    anything.map(lambda d: (None, json_bytes(d), "")),
    st.tuples(st.none(), st.binary(max_size=64), st.sampled_from(["", "gzip", "br"])),
)


@pytest.fixture
def new_key(backend: Backend, config: Config) -> Callable[[str], str]:
    """The key of a new project (of a mode) for each example: what one example
    stores does not pile up under the next."""
    directory = Directory(backend.projects, Keys(config.secret()))

    def new(mode: str = "development") -> str:
        return directory.create("fuzz", mode=mode)[1]

    return new


def check_liquid(result: testing.Result, production: bool, *, ok: int) -> None:
    status = result.status_code
    event(f"HTTP {status}")  # (--hypothesis-show-statistics shows the mix)
    assert status == ok or 400 <= status < 500, (status, result.text)
    if status == ok:
        return
    if production and status in (400, 422):
        assert result.content == b""  # production apps see no details
        return
    body = result.json
    assert isinstance(body["error"], str) and body["error"], body
    if status == 422:
        assert isinstance(body["details"], str) and body["details"], body


@given(
    body=bodies,
    path=st.sampled_from(["/data_points", "/collect/data_points"]),
    production=st.booleans(),
)
def test_data_points_never_5xx(
    client: testing.TestClient,
    new_key: Callable[[str], str],
    body: tuple[Any, bytes, str],
    path: str,
    production: bool,
) -> None:
    doc, data, encoding = body
    key = new_key("production" if production else "development")
    headers = {"Authorization": f"Token {key}"}
    if encoding:
        headers["Content-Encoding"] = encoding
    result = client.simulate_post(path, body=data, headers=headers)
    check_liquid(result, production, ok=200)
    if result.status_code != 200 or doc is None:
        return
    # stored, so it reads back: the user, their sessions, the device (an id with a
    # "/" cannot be named in a path: Falcon routes on the decoded path)
    if "/" not in doc["user"]["unique_id"] + doc["device"]["unique_id"]:
        user = path_segment(doc["user"]["unique_id"])
        device = path_segment(doc["device"]["unique_id"])
        for read in (
            f"/analyze/users/{user}",
            f"/analyze/users/{user}/sessions",
            f"/analyze/devices/{device}",
        ):
            got = client.simulate_get(read, headers=headers)
            assert got.status_code == 200, (read, got.text)


@given(
    body=st.fixed_dictionaries(
        {},
        optional={"unique_id": names | anything, "unique_id_alias": names | anything},
    ).map(json_bytes)
    | st.binary(max_size=32),
)
def test_aliases_never_5xx(
    client: testing.TestClient, new_key: Callable[[str], str], body: bytes
) -> None:
    result = client.simulate_post(
        "/aliases",
        body=body,
        headers={"Authorization": f"Token {new_key('development')}"},
    )
    check_liquid(result, False, ok=201)


@given(
    route=st.sampled_from(
        [
            "/analyze/users/{}",
            "/analyze/users/{}/sessions",
            "/analyze/sessions/{}",
            "/analyze/devices/{}",
        ]
    ),
    ident=segments | st.sampled_from(["u1", "WyJ1MSIsImQxIiwwXQ"]),
    params=st.dictionaries(
        st.sampled_from(["from", "to"]), millis | times | st.binary(max_size=8)
    ),
)
def test_analyze_never_5xx(
    client: testing.TestClient,
    new_key: Callable[[str], str],
    route: str,
    ident: str,
    params: dict[str, Any],
) -> None:
    key = new_key("development")
    seed = b'{"user": {"unique_id": "u1"}, "device": {"unique_id": "d1"}, "event": {"name": "Open"}, "timestamp": "1970-01-01T00:00:00Z"}'
    client.simulate_post(
        "/data_points", body=seed, headers={"Authorization": f"Token {key}"}
    )
    result = client.simulate_get(
        route.format(ident),
        query_string=query(params),
        headers={"Authorization": f"Token {key}"},
    )
    event(f"HTTP {result.status_code}")
    assert result.status_code in (200, 400, 401, 404), (result.status_code, result.text)
    if result.status_code != 200:
        message = result.json["message"]
        assert isinstance(message, str) and message
    else:
        assert isinstance(result.json, dict)

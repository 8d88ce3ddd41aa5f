"""Whatever a client sends, the answer is a 2xx or a clear 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

from falcon import testing
from hypothesis import given, settings
from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
metric_like = st.fixed_dictionaries(
    {},
    optional={
        "name": anything | st.text(max_size=5),
        "tags": anything | st.dictionaries(st.text(max_size=3), anything, max_size=3),
        "type": anything
        | st.sampled_from(["long", "double", "string", "json", "complex-number"]),
        "ttl": anything,
        "timestamp": anything,
        "time": anything,
        "value": anything,
        "datapoints": st.lists(st.lists(anything, max_size=4) | anything, max_size=5),
    },
)


@settings(max_examples=300)
@given(st.lists(metric_like, max_size=4) | metric_like | anything)
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

"""KairosDB's integration fixtures, replayed against the embedded store."""

from __future__ import annotations

import pytest
from falcon import testing

from tests.kairos_fixtures import assert_same, load

TESTS = [
    "test_verifyAddedDataPoints",
    "test_aggregators",
    "test_groupBy",
    "test_emptyQuery",
]


@pytest.mark.parametrize("test", TESTS)
def test_kairosdb_fixture(client: testing.TestClient, unique: str, test: str) -> None:
    metric = "integration_test_" + unique
    datapoints = load(test, "datapoints", metric)
    if datapoints is not None:
        assert (
            client.simulate_post("/api/v1/datapoints", json=datapoints).status_code
            == 204
        )
    query = load(test, "query", metric)
    result = client.simulate_post("/api/v1/datapoints/query", json=query)
    assert result.status_code == 200, result.text
    assert_same(load(test, "response", metric), result.json)
    # and the cleanup KairosDB's test does: delete, then nothing is left
    assert (
        client.simulate_post("/api/v1/datapoints/delete", json=query).status_code == 204
    )
    after = client.simulate_post("/api/v1/datapoints/query", json=query).json
    assert all(r["values"] == [] for q in after["queries"] for r in q["results"])

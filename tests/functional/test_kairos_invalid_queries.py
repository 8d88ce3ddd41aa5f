"""Every invalid query in KairosDB's own fixture set is a 400 with a message a user can
act on, in KairosDB's form (query.metric[0]...), naming no internal class or field.

KairosDB's expected message is kept in the fixture file (``kairos_message``); where
ours differs it is because KairosDB's leaks a Java field (``m_divisor``,
``rangeSize``), dumps every time-zone id, or does not say what is valid.
"""

from __future__ import annotations

import json
import re

import pytest
from falcon import testing

from tests.kairos_fixtures import invalid_queries

FIXTURES = {e["file"]: e for e in invalid_queries()}
LEAKS = re.compile(r"\bm_|class |org\.|java|Exception|rangeSize|groupCount|setter")

# None: the fixture is a valid query (KairosDB's test suite no longer uses it as an
# invalid one), so it must answer 200.
EXPECTED: dict[str, list[str] | None] = {
    "invalid-query-metric-cache-time.json": [
        "query.cache_time must be greater than or equal to 0"
    ],
    "invalid-query-metric-no-start_date.json": [
        "query.metric[0].start_time relative or absolute time must be set"
    ],
    "invalid-query-metric-absoluteEndTime-less-than-startTime.json": [
        "query.metric[0].end_time must be greater than the start time"
    ],
    "invalid-query-metric-relativeEndTime-less-than-startTime.json": [
        "query.metric[0].end_time must be greater than the start time"
    ],
    "invalid-query-metric-relative-startTime-value.json": [
        "query.start_relative.value must be greater than or equal to 1"
    ],
    "invalid-query-metric-relative-endTime-value.json": [
        "query.end_relative.value must be greater than or equal to 1"
    ],
    "invalid-query-metric-no-metric.json": [
        "query.metric[] must have a size of at least 1"
    ],
    "invalid-query-metric-empty-name.json": ["query.metric[0].name may not be empty"],
    "query-metric-null-tag-value-in-array.json": [
        "query.metric[0].tags[0].host value must not be null or empty"
    ],
    "invalid-query-metric-tag-empty-name.json": [
        "query.metric[0].tags[0] name must not be empty"
    ],
    "invalid-query-metric-tag-empty-value-in-array.json": [
        "query.metric[0].tags[0].host value must not be null or empty"
    ],
    "query-metric-null-tag-value.json": [
        "query.metric[0].tags[0].host value must not be null or empty"
    ],
    "invalid-query-metric-tag-empty-value.json": [
        "query.metric[0].tags[0].host value must not be null or empty"
    ],
    "invalid-query-metric-aggregators-no-name.json": [
        "query.metric[0].aggregators[0] must have a name"
    ],
    "invalid-query-metric-aggregators-empty-name.json": [
        "query.metric[0].aggregators[0] must have a name"
    ],
    "invalid-query-metric-aggregators.json": [
        "query.metric[0].aggregators[0].bogus invalid aggregators name; use one of avg, count, dev, diff, div, filter, first, gaps, last, least_squares, max, min, percentile, rate, sampler, save_as, scale, sma, sum, trim"
    ],
    "invalid-query-metric-aggregators-sampling-value.json": [
        "query.metric[0].aggregators[0].sampling.value must be greater than or equal to 1"
    ],
    "invalid-query-metric-aggregators-sampling-timezone.json": [
        "query.time_zone bogus is not a valid time zone; use an IANA name such as UTC or Europe/Paris"
    ],
    "invalid-query-metric-aggregators-div-no-divisor.json": [
        "query.metric[0].aggregators[0].divisor may not be zero"
    ],
    "invalid-query-metric-aggregators-div-divisor-zero.json": [
        "query.metric[0].aggregators[0].divisor may not be zero"
    ],
    "invalid-query-metric-aggregators-percentile-no-percentile.json": [
        "query.metric[0].aggregators[0].percentile may not be zero"
    ],
    "invalid-query-metric-aggregators-percentile-percentile-zero.json": [
        "query.metric[0].aggregators[0].percentile may not be zero"
    ],
    "invalid-query-metric-aggregators-percentile-percentile.json": [
        "query.metric[0].aggregators[0].percentile must be a number"
    ],
    "invalid-query-metric-aggregators-sampling-unit.json": [
        "query.metric[0].aggregators[0].sampling.unit bogus is not a valid time unit, must be one of MILLISECONDS,SECONDS,MINUTES,HOURS,DAYS,WEEKS,MONTHS,YEARS"
    ],
    "invalid-query-metric-group_by-no-name.json": [
        "query.metric[0].group_by[0] must have a name",
        "query.metric[0].group_by[1].simpleTime invalid group_by name; use one of bin, tag, time, value",
    ],
    "invalid-query-metric-group_by-empty-name.json": [
        "query.metric[0].group_by[1] must have a name"
    ],
    "invalid-query-metric-group_by.json": [
        "query.metric[0].group_by[0].bogus invalid group_by name; use one of bin, tag, time, value"
    ],
    "invalid-query-metric-group_by-tag-missing-tags.json": [
        "query.metric[0].group_by[0].tags may not be null"
    ],
    "invalid-query-metric-group_by-tag-empty-tags.json": [
        "query.metric[0].group_by[0].tags may not be empty"
    ],
    "invalid-query-metric-group_by-time-missing-range_size.json": [
        "query.metric[0].group_by[0].range_size may not be null"
    ],
    "invalid-query-metric-group_by-time-range_size_value.json": [
        "query.metric[0].group_by[0].range_size.value must be greater than or equal to 1"
    ],
    "invalid-query-metric-group_by-time-range_size_unit.json": [
        "query.metric[0].group_by[0].range_size.unit bogus is not a valid time unit, must be one of MILLISECONDS,SECONDS,MINUTES,HOURS,DAYS,WEEKS,MONTHS,YEARS"
    ],
    "invalid-query-metric-group_by-time-missing-group_count.json": [
        "query.metric[0].group_by[0].group_count must be greater than or equal to 1"
    ],
    "invalid-query-metric-group_by-value-range_size.json": [
        "query.metric[0].group_by[0].range_size.value must be greater than or equal to 1"
    ],
    "invalid-query-metric-no-name.json": ["query.metric[0].name may not be null"],
    "invalid-query-metric-relative-unit.json": [
        "query.start_relative.unit bogus is not a valid time unit, must be one of MILLISECONDS,SECONDS,MINUTES,HOURS,DAYS,WEEKS,MONTHS,YEARS"
    ],
    "invalid-query-metric-json.json": ["Invalid json. Extra data at line 2 column 21."],
    "invalid-query-metric-aggregators-sum-no-sampling.json": None,
    "invalid-query-metric-no-aggregators.json": [
        "query.metric[0].group_by[1].simpleTime invalid group_by name; use one of bin, tag, time, value"
    ],
    "invalid-query-metric-aggregators-empty.json": None,
    "invalid-query-metric-relative-startTime-before-epoch.json": None,
    "invalid-query-metric-aggregators-histogram-no-percentile.json": [
        "query.metric[0].aggregators[0].histogram invalid aggregators name; use one of avg, count, dev, diff, div, filter, first, gaps, last, least_squares, max, min, percentile, rate, sampler, save_as, scale, sma, sum, trim"
    ],
    "invalid-query-metric-aggregators-histogram-percentile-zero.json": [
        "query.metric[0].aggregators[0].histogram invalid aggregators name; use one of avg, count, dev, diff, div, filter, first, gaps, last, least_squares, max, min, percentile, rate, sampler, save_as, scale, sma, sum, trim"
    ],
    "invalid-query-metric-aggregators-histogram-percentile.json": [
        "query.metric[0].aggregators[0].histogram invalid aggregators name; use one of avg, count, dev, diff, div, filter, first, gaps, last, least_squares, max, min, percentile, rate, sampler, save_as, scale, sma, sum, trim"
    ],
    "query-metric-invalid-relative-unit.json": [
        "query.start_relative.unit bogus is not a valid time unit, must be one of MILLISECONDS,SECONDS,MINUTES,HOURS,DAYS,WEEKS,MONTHS,YEARS"
    ],
    "query-metric-invalid-json.json": ["Invalid json. Extra data at line 2 column 21."],
}


def test_every_fixture_is_covered() -> None:
    assert set(EXPECTED) == set(FIXTURES)
    assert len(FIXTURES) >= 42


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_invalid_query_fixture(
    client: testing.TestClient, name: str, method: str
) -> None:
    fixture = FIXTURES[name]
    body = fixture.get("query_text") or json.dumps(fixture["query"])
    if method == "POST":
        result = client.simulate_post("/api/v1/datapoints/query", body=body.encode())
    else:
        result = client.simulate_get("/api/v1/datapoints/query", params={"query": body})
    expected = EXPECTED[name]
    if expected is None:
        assert result.status_code == 200, result.text
        return
    assert result.status_code == 400
    assert result.json == {"errors": expected}
    for message in expected:
        assert not LEAKS.search(message), message

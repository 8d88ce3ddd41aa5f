"""KairosDB input over the documented limits, and Basic auth, on the embedded store.

Names that become store keys are bounded (``records.MAX_NAME_BYTES``); times are the
64-bit range of ms; durations no longer than that; counts Java ints. Everything past
a limit is a 400 in KairosDB's envelope, naming where, quoting the input clipped, and
storing nothing. tests/integration/dialects runs this module again on real Cassandra,
where a key component over 64 KiB used to be a 500.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from falcon import testing

from service.config import Config
from service.domain.projects import Directory, Keys
from service.records import (
    LONG_MAX,
    LONG_MIN,
    MAX_NAME_BYTES,
    MAX_TAGS,
    MAX_TAGS_BYTES,
)
from service.storage import Backend

HUGE = "n" * 70 * 1024  # past Cassandra's 64 KiB key limit
OVER = "é" * (MAX_NAME_BYTES // 2 + 1)  # 4,098 bytes in 2,049 characters
AT = "é" * (MAX_NAME_BYTES // 2)  # exactly the limit
TOO_LONG = f"may not be longer than {MAX_NAME_BYTES} bytes (UTF-8)"


def post(client: testing.TestClient, path: str, body: Any, **headers: str) -> Any:
    return client.simulate_post(path, body=json.dumps(body).encode(), headers=headers)


def query(client: testing.TestClient, metric: str, **extra: Any) -> Any:
    body = {"start_absolute": 0, "metrics": [{"name": metric, **extra}]}
    result = post(client, "/api/v1/datapoints/query", body)
    assert result.status_code == 200, result.text
    return result.json["queries"][0]["results"]


def small(result: Any) -> None:
    """A 400 in KairosDB's envelope that does not repeat a huge input."""
    assert result.status_code == 400
    assert set(result.json) == {"errors"}
    assert len(result.content) < 2000, len(result.content)


# -- names on the write path ------------------------------------------------------


@pytest.mark.parametrize("long_name", [HUGE, OVER], ids=["70KiB", "4098B"])
@pytest.mark.parametrize("where", ["metric", "tag name", "tag value"])
def test_names_over_the_limit_are_a_400_and_store_nothing(
    client: testing.TestClient, unique: str, long_name: str, where: str
) -> None:
    metric = f"{unique}{long_name}" if where == "metric" else unique
    tags = {"host": "a"}
    if where == "tag name":
        tags = {long_name: "a"}
    elif where == "tag value":
        tags = {"host": long_name}
    body = [
        {"name": f"{unique}.ok", "tags": {"host": "a"}, "datapoints": [[1, 1]]},
        {"name": metric, "tags": tags, "datapoints": [[1, 1]]},
    ]
    result = post(client, "/api/v1/datapoints", body)
    small(result)
    (message,) = result.json["errors"]
    shown = f"metric[1](name={metric[:64]}...({len(metric)} characters))"
    expected = {
        "metric": f"{shown}.name {TOO_LONG}.",
        "tag name": f"metric[1](name={unique}).tag[{long_name[:64]}...("
        f"{len(long_name)} characters)].name {TOO_LONG}.",
        "tag value": f"metric[1](name={unique}).tag[host].value {TOO_LONG}.",
    }[where]
    assert message == expected
    # nothing of the request, not even its valid metric
    names = client.simulate_get("/api/v1/metricnames", params={"prefix": unique})
    assert names.json == {"results": []}


def test_names_at_the_limit_are_stored_and_read_back(
    client: testing.TestClient, unique: str
) -> None:
    room = MAX_NAME_BYTES - len(unique)
    metric = unique + "x" * (room % 2) + "é" * (room // 2)
    assert len(metric.encode()) == MAX_NAME_BYTES
    body = [{"name": metric, "tags": {AT: AT}, "datapoints": [[1, 1], [2, 2]]}]
    assert post(client, "/api/v1/datapoints", body).status_code == 204
    (result,) = query(client, metric, tags={AT: [AT]})
    assert result["tags"] == {AT: [AT]}
    assert result["values"] == [[1, 1], [2, 2]]
    params = {"prefix": metric}
    assert client.simulate_get("/api/v1/metricnames", params=params).json == {
        "results": [metric]
    }
    names = client.simulate_get("/api/v1/tagnames", params={"metric": metric})
    assert names.json == {"results": [AT]}
    values = client.simulate_get(
        "/api/v1/tagvalues", params={"metric": metric, "tag": AT}
    )
    assert values.json == {"results": [AT]}
    deleted = client.simulate_delete(f"/api/v1/metric/{quote(metric)}")
    assert deleted.status_code == 204
    assert query(client, metric)[0]["values"] == []


def test_a_series_tags_are_bounded_in_count_and_size(
    client: testing.TestClient, unique: str
) -> None:
    """Every index row of a series holds all its tags, one row per tag: a series
    with thousands of tags, or megabytes of them, would cost the index gigabytes
    (and fail Cassandra's mutation limit), so both are bounded."""
    at_count = {f"t{i}": "v" for i in range(MAX_TAGS)}
    # 8 tags of 4,096 bytes: each name within its limit, the whole at its own
    at_size = {f"{i}" + "x" * 2047: "y" * 2048 for i in range(8)}
    assert sum(len(k) + len(v) for k, v in at_size.items()) == MAX_TAGS_BYTES
    over_count = {**at_count, "one": "more"}
    over_size = {**at_size, "z": "z"}
    for tags in (at_count, at_size):
        body = [{"name": unique, "tags": tags, "datapoints": [[1, 1]]}]
        assert post(client, "/api/v1/datapoints", body).status_code == 204
    assert query(client, unique)[0]["values"] == [[1, 1], [1, 1]]  # two series
    for tags, message in (
        (over_count, f"tags count must be less than or equal to {MAX_TAGS}."),
        (
            over_size,
            f"tags may not be longer than {MAX_TAGS_BYTES} bytes (UTF-8) in all.",
        ),
    ):
        body = [{"name": f"{unique}.x", "tags": tags, "datapoints": [[1, 1]]}]
        result = post(client, "/api/v1/datapoints", body)
        small(result)
        assert result.json["errors"] == [f"metric[0](name={unique}.x).{message}"]
    names = client.simulate_get("/api/v1/metricnames", params={"prefix": unique})
    assert names.json == {"results": [unique]}
    # save_as writes a series like any other: its tags (the group's, its own and
    # saved_from) are bounded the same way
    save = {
        "name": "save_as",
        "metric_name": f"{unique}.saved",
        "tags": {f"s{i}": "v" for i in range(MAX_TAGS)},
    }
    result = post(
        client,
        "/api/v1/datapoints/query",
        {"start_absolute": 0, "metrics": [{"name": unique, "aggregators": [save]}]},
    )
    small(result)
    assert result.json["errors"] == [
        f"save_as: the new series' tags count must be less than or equal to {MAX_TAGS}"
    ]
    names = client.simulate_get("/api/v1/metricnames", params={"prefix": unique})
    assert names.json == {"results": [unique]}


def test_small_writes_of_series_with_large_tags_are_stored(
    client: testing.TestClient, unique: str
) -> None:
    # A few points (coalesced with other requests' small writes on Cassandra), each
    # series with tags at the size limit: their index rows must not be batched
    # together past Cassandra's batch size limit (640 KiB by default).
    body = [
        {
            "name": unique,
            "tags": {f"{i}" + "x" * 2047: f"{n:x}" + "y" * 2047 for i in range(8)},
            "datapoints": [[1, n]],
        }
        for n in range(16)
    ]
    assert post(client, "/api/v1/datapoints", body).status_code == 204
    (result,) = query(client, unique, aggregators=[{"name": "count"}])
    assert result["values"] == [[1, 16]]


def test_an_unknown_type_name_is_quoted_clipped(client: testing.TestClient) -> None:
    body = {"name": "m", "type": HUGE, "tags": {"a": "b"}, "datapoints": [[1, 1]]}
    result = post(client, "/api/v1/datapoints", body)
    small(result)
    assert result.json["errors"] == [
        f"Unregistered data point type '{HUGE[:64]}...({len(HUGE)} characters)'"
    ]


# -- names on the read, delete and metadata paths ---------------------------------

QUERY_NAMES = {
    "metric name": ({"name": HUGE}, f"query.metric[0].name {TOO_LONG}"),
    "tag name": (
        {"name": "m", "tags": {HUGE: "a"}},
        f"query.metric[0].tags[0].{HUGE[:64]}...({len(HUGE)} characters) name "
        f"{TOO_LONG}",
    ),
    "tag value": (
        {"name": "m", "tags": {"host": ["a", OVER]}},
        f"query.metric[0].tags[0].host value {TOO_LONG}",
    ),
    "tag pattern": (
        {"name": "m", "tags": {"host": "regex:" + HUGE}},
        f"query.metric[0].tags[0].host value {TOO_LONG}",
    ),
    "save_as name": (
        {"name": "m", "aggregators": [{"name": "save_as", "metric_name": OVER}]},
        f"query.metric[0].aggregators[0].metric_name {TOO_LONG}",
    ),
    "save_as tag": (
        {
            "name": "m",
            "aggregators": [
                {"name": "save_as", "metric_name": "s", "tags": {"h": HUGE}}
            ],
        },
        f"query.metric[0].aggregators[0].tags.h.value {TOO_LONG}",
    ),
}


@pytest.mark.parametrize("case", sorted(QUERY_NAMES))
@pytest.mark.parametrize(
    "path",
    ["/api/v1/datapoints/query", "/api/v1/datapoints/query/tags", "delete", "GET"],
)
def test_query_names_over_the_limit_are_a_400(
    client: testing.TestClient, case: str, path: str
) -> None:
    metric, message = QUERY_NAMES[case]
    body = {"start_absolute": 0, "metrics": [metric]}
    if path == "GET":
        result = client.simulate_get(
            "/api/v1/datapoints/query", params={"query": json.dumps(body)}
        )
    elif path == "delete":
        result = post(client, "/api/v1/datapoints/delete", body)
    else:
        result = post(client, path, body)
    small(result)
    assert result.json["errors"] == [message]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/metricnames", {"prefix": HUGE}, f"prefix {TOO_LONG}."),
        ("/api/v1/tagnames", {"metric": HUGE}, f"metric {TOO_LONG}."),
        ("/api/v1/tagvalues", {"metric": OVER}, f"metric {TOO_LONG}."),
        ("/api/v1/tagvalues", {"metric": "m", "tag": HUGE}, f"tag {TOO_LONG}."),
    ],
)
def test_metadata_names_over_the_limit_are_a_400(
    client: testing.TestClient, path: str, params: dict[str, str], message: str
) -> None:
    result = client.simulate_get(path, params=params)
    small(result)
    assert result.json["errors"] == [message]


def test_deleting_a_metric_named_over_the_limit_is_a_400(
    client: testing.TestClient,
) -> None:
    result = client.simulate_delete(f"/api/v1/metric/{HUGE}")
    small(result)
    assert result.json["errors"] == [f"metric name {TOO_LONG}."]


# -- times, durations and counts out of range -----------------------------------

RANGE = f"between {LONG_MIN} and {LONG_MAX}"
OUT_OF_RANGE = [
    ({"start_absolute": 0, "end_absolute": 2**64}, "query.end_absolute", RANGE),
    ({"start_absolute": LONG_MIN - 1}, "query.start_absolute", RANGE),
    ({"start_absolute": 10**30}, "query.start_absolute", RANGE),
    ({"start_absolute": -(10**30)}, "query.start_absolute", RANGE),
    (
        {"start_relative": {"value": 5 * 10**12, "unit": "years"}},
        "query.start_relative.value",
        "less than or equal to 292277024 for years",
    ),
    (
        {"start_relative": {"value": 2**70, "unit": "milliseconds"}},
        "query.start_relative.value",
        f"less than or equal to {LONG_MAX} for milliseconds",
    ),
    (
        {"start_absolute": 0, "end_relative": {"value": 10**15, "unit": "days"}},
        "query.end_relative.value",
        "less than or equal to 106751991167 for days",
    ),
    ({"start_absolute": 0, "cache_time": 2**40}, "query.cache_time", "2147483647"),
]


@pytest.mark.parametrize(("times", "where", "says"), OUT_OF_RANGE)
@pytest.mark.parametrize(
    "path",
    ["/api/v1/datapoints/query", "/api/v1/datapoints/query/tags", "delete", "GET"],
)
def test_times_out_of_range_are_a_400_on_every_query_endpoint(
    client: testing.TestClient,
    unique: str,
    times: dict[str, Any],
    where: str,
    says: str,
    path: str,
) -> None:
    # a point that a delete which ran anyway would remove
    data = [{"name": unique, "tags": {"h": "a"}, "datapoints": [[1, 1]]}]
    assert post(client, "/api/v1/datapoints", data).status_code == 204
    body = {**times, "metrics": [{"name": unique}]}
    if path == "GET":
        result = client.simulate_get(
            "/api/v1/datapoints/query", params={"query": json.dumps(body)}
        )
    elif path == "delete":
        result = post(client, "/api/v1/datapoints/delete", body)
    else:
        result = post(client, path, body)
    small(result)
    (message,) = result.json["errors"]
    assert message.startswith(where + " ") and says in message, message
    assert query(client, unique)[0]["values"] == [[1, 1]]


AGG = "query.metric[0].aggregators[0]"
GROUP = "query.metric[0].group_by[0]"
TOO_BIG = [
    (
        {
            "aggregators": [
                {"name": "avg", "sampling": {"value": 2**70, "unit": "years"}}
            ]
        },
        f"{AGG}.sampling.value must be less than or equal to 292277024 for years",
    ),
    (
        {
            "aggregators": [
                {"name": "sum", "sampling": {"value": 10**17, "unit": "hours"}}
            ]
        },
        f"{AGG}.sampling.value must be less than or equal to 2562047788015 for hours",
    ),
    (
        {
            "aggregators": [
                {"name": "rate", "sampling": {"value": 10**12, "unit": "months"}}
            ]
        },
        f"{AGG}.sampling.value must be less than or equal to 3507324295 for months",
    ),
    (
        {"aggregators": [{"name": "avg", "start_time": 2**70}]},
        f"{AGG}.start_time must be a time in ms since the epoch {RANGE}",
    ),
    (
        {"aggregators": [{"name": "sma", "size": 2**70}]},
        f"{AGG}.size must be less than or equal to 2147483647",
    ),
    (
        {"aggregators": [{"name": "dev", "dev_count": 10**400}]},
        f"{AGG}.dev_count must be less than or equal to 2147483647",
    ),
    (
        {"aggregators": [{"name": "save_as", "metric_name": "s", "ttl": 2**70}]},
        f"{AGG}.ttl Must be greater than or equal to 0 and less than or equal to "
        "630720000.",
    ),
    (
        {
            "group_by": [
                {
                    "name": "time",
                    "range_size": {"value": 2**70, "unit": "weeks"},
                    "group_count": 2,
                }
            ]
        },
        f"{GROUP}.range_size.value must be less than or equal to 15250284452 for weeks",
    ),
    (
        {
            "group_by": [
                {
                    "name": "time",
                    "range_size": {"value": 1, "unit": "days"},
                    "group_count": 2**31,
                }
            ]
        },
        f"{GROUP}.group_count must be less than or equal to 2147483647",
    ),
    (
        {"group_by": [{"name": "value", "range_size": 2**64}]},
        f"{GROUP}.range_size must be less than or equal to {LONG_MAX}",
    ),
    (
        {"limit": 2**31},
        "query.metric[0].limit must be less than or equal to 2147483647",
    ),
    (
        {"aggregators": [{"name": "avg", "time_zone": "Mars/Olympus_Mons"}]},
        f"{AGG}.time_zone Mars/Olympus_Mons is not a valid time zone; use an IANA "
        "name such as UTC or Europe/Paris",
    ),
    (
        {"aggregators": [{"name": "filter", "filter_op": HUGE}]},
        f"{AGG}.filter_op {HUGE[:64]}...({len(HUGE)} characters) is not a valid "
        "filter_op, must be 'lte', 'lt', 'gte', 'gt', 'equal' or 'ne'.",
    ),
]


@pytest.mark.parametrize(("metric", "message"), TOO_BIG)
def test_durations_and_sizes_that_overflow_are_a_400(
    client: testing.TestClient, metric: dict[str, Any], message: str
) -> None:
    body = {"start_absolute": 0, "metrics": [{"name": "m", **metric}]}
    result = post(client, "/api/v1/datapoints/query", body)
    small(result)
    assert result.json["errors"] == [message]


@pytest.mark.parametrize(
    "zone",
    ["\u0000", "../../etc/passwd", "America", "zone.tab", "utc ", HUGE, 5, ["UTC"]],
)
def test_odd_time_zones_are_a_400(client: testing.TestClient, zone: Any) -> None:
    body = {"start_absolute": 0, "time_zone": zone, "metrics": [{"name": "m"}]}
    result = post(client, "/api/v1/datapoints/query", body)
    small(result)
    assert result.json["errors"][0].startswith("query.time_zone ")


def test_a_query_with_thousands_of_problems_answers_100_and_a_count(
    client: testing.TestClient,
) -> None:
    body = {"start_absolute": 0, "metrics": [{"name": ""} for _ in range(5000)]}
    result = post(client, "/api/v1/datapoints/query", body)
    assert result.status_code == 400
    messages = result.json["errors"]
    assert len(messages) == 101
    assert messages[0] == "query.metric[0].name may not be empty"
    assert messages[99] == "query.metric[99].name may not be empty"
    assert messages[-1] == "... and 4900 more problems."


# -- the whole 64-bit range of times works, on the calendar too ----------------------

EDGES = [LONG_MIN, -(2**62), -(10**15), 0, 10**15, 2**62, LONG_MAX]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Pacific/Apia"])
@pytest.mark.parametrize("unit", ["days", "weeks", "months", "years"])
def test_calendar_ranges_reach_both_ends_of_time(
    client: testing.TestClient, unique: str, zone: str, unit: str
) -> None:
    data = [{"name": unique, "tags": {"h": "a"}, "datapoints": [[t, 1] for t in EDGES]}]
    assert post(client, "/api/v1/datapoints", data).status_code == 204
    body = {
        "start_absolute": LONG_MIN,
        "end_absolute": LONG_MAX,
        "time_zone": zone,
        "metrics": [
            {
                "name": unique,
                "aggregators": [
                    {"name": "count", "sampling": {"value": 1, "unit": unit}}
                ],
                "group_by": [
                    {
                        "name": "time",
                        "range_size": {"value": 1, "unit": unit},
                        "group_count": 7,
                    }
                ],
            }
        ],
    }
    result = post(client, "/api/v1/datapoints/query", body)
    assert result.status_code == 200, result.text
    counted = [v for r in result.json["queries"][0]["results"] for v in r["values"]]
    # every point in a range of its own, stamped with its own time
    assert sorted(counted) == [[t, 1] for t in EDGES]
    # range edges past either end of time are shown as that end
    for stamp, expected in (
        ("align_start_time", LONG_MIN),
        ("align_end_time", LONG_MAX),
    ):
        body["metrics"][0]["aggregators"][0][stamp] = True  # type: ignore[index]
        body["metrics"][0].pop("group_by")  # type: ignore[attr-defined]
        result = post(client, "/api/v1/datapoints/query", body)
        assert result.status_code == 200, result.text
        values = result.json["queries"][0]["results"][0]["values"]
        assert len(values) == len(EDGES)
        assert expected in [v[0] for v in values]
        assert all(LONG_MIN <= v[0] <= LONG_MAX for v in values)
        body["metrics"][0]["aggregators"][0].pop(stamp)  # type: ignore[index]
        body["metrics"][0]["group_by"] = []  # type: ignore[index]


# -- Basic auth ------------------------------------------------------------------


@pytest.fixture
def keys(backend: Backend, config: Config) -> tuple[str, str]:
    d = Directory(backend.projects, Keys(config.secret()))
    return d.create("one")[1], d.create("two")[1]


def basic(user: str, password: str) -> dict[str, str]:
    text = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {text}"}


def test_basic_auth_user_must_be_the_keys_project(
    client: testing.TestClient, keys: tuple[str, str], unique: str
) -> None:
    one, two = keys
    one_id, two_id = one.split(".")[0], two.split(".")[0]
    body = [{"name": unique, "tags": {"h": "a"}, "datapoints": [[1, 1]]}]
    write = post(client, "/api/v1/datapoints", body, **basic(one_id, one))
    assert write.status_code == 204
    visible = {"start_absolute": 0, "metrics": [{"name": unique}]}
    for user in (two_id, "", "admin", one_id.upper()):
        refused = post(client, "/api/v1/datapoints/query", visible, **basic(user, one))
        assert refused.status_code == 401
        assert refused.json == {
            "errors": [
                "Basic authorization: the user must be the id of the project the "
                "key belongs to."
            ]
        }
        wrote = post(client, "/api/v1/datapoints", body, **basic(user, one))
        assert wrote.status_code == 401
    # a valid key with its own project's id reads its own data only
    own = post(client, "/api/v1/datapoints/query", visible, **basic(one_id, one))
    assert own.json["queries"][0]["results"][0]["values"] == [[1, 1]]
    other = post(client, "/api/v1/datapoints/query", visible, **basic(two_id, two))
    assert other.json["queries"][0]["results"][0]["values"] == []
    # a wrong key, and a header that is not Basic at all, are 401s too
    assert (
        post(client, "/api/v1/datapoints", body, **basic(one_id, two)).status_code
        == 401
    )
    mangled = post(
        client, "/api/v1/datapoints", body, Authorization="Basic not-base64!"
    )
    assert mangled.status_code == 401 and "malformed" in mangled.json["errors"][0]


# -- aggregates JSON cannot show ---------------------------------------------------


BIG = [[1, 1e308], [2, 1e308], [3, 1e308]]
SMALL = [[1, 1.0], [2, 2.0], [3, 3.0]]
SWING = [[1, 1.7e308], [2, -1.7e308], [3, 1.7e308]]


@pytest.mark.parametrize(
    ("points", "aggregator", "expected"),
    [
        (SMALL, {"name": "div", "divisor": 1e-320}, [[1, None], [2, None], [3, None]]),
        (SMALL, {"name": "scale", "factor": 1e308}, [[1, 1e308], [2, None], [3, None]]),
        # three times 1e308 is past the largest double
        (BIG, {"name": "sum", "sampling": {"value": 1, "unit": "days"}}, [[1, None]]),
        (BIG, {"name": "avg", "sampling": {"value": 1, "unit": "days"}}, [[1, None]]),
        (BIG, {"name": "diff"}, [[2, 0.0], [3, 0.0]]),  # finite: shown as it is
        # (these three were a 500: math.fsum and ** overflowed on a double's range)
        (BIG, {"name": "dev", "sampling": {"value": 1, "unit": "days"}}, [[1, 0.0]]),
        (SWING, {"name": "diff"}, [[2, None], [3, None]]),
        (SWING, {"name": "dev", "sampling": {"value": 1, "unit": "days"}}, [[1, None]]),
    ],
)
def test_infinite_aggregates_are_null_and_the_answer_strict_json(
    client: testing.TestClient,
    unique: str,
    points: list[Any],
    aggregator: dict[str, Any],
    expected: list[Any],
) -> None:
    body = [{"name": unique, "tags": {"h": "a"}, "datapoints": points}]
    assert post(client, "/api/v1/datapoints", body).status_code == 204
    query = {
        "start_absolute": 0,
        "metrics": [{"name": unique, "aggregators": [aggregator]}],
    }
    result = post(client, "/api/v1/datapoints/query", query)
    assert result.status_code == 200
    # read as a browser reads it: one NaN or Infinity makes the whole answer unreadable
    doc = json.loads(result.text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert doc["queries"][0]["results"][0]["values"] == expected

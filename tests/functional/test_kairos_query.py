"""The KairosDB query API through Falcon's TestClient on the embedded store."""

from __future__ import annotations

import time
from typing import Any

from falcon import testing

WEEK = 7 * 86_400_000


def write(client: testing.TestClient, body: Any) -> None:
    assert client.simulate_post("/api/v1/datapoints", json=body).status_code == 204


def query(client: testing.TestClient, metrics: list[dict[str, Any]], **top: Any) -> Any:
    body = {"start_absolute": 0, **top, "metrics": metrics}
    result = client.simulate_post("/api/v1/datapoints/query", json=body)
    assert result.status_code == 200, result.text
    return result.json["queries"]


def test_every_type_comes_back_as_it_went_in(client: testing.TestClient) -> None:
    write(
        client,
        [
            {
                "name": "mixed",
                "tags": {"k": "num"},
                "datapoints": [[1, 2**53 + 1], [2, 0.1], [3, -7]],
            },
            {
                "name": "mixed",
                "tags": {"k": "txt"},
                "datapoints": [[1, "hello"], [2, "12.5x"]],
            },
            {
                "name": "mixed",
                "tags": {"k": "cpx"},
                "type": "complex-number",
                "datapoints": [[1, {"real": 1.5, "imaginary": -2}]],
            },
            {
                "name": "mixed",
                "tags": {"k": "obj"},
                "type": "json",
                "datapoints": [[1, {"x": [1, {"y": None}], "z": "w"}]],
            },
        ],
    )
    (q,) = query(
        client, [{"name": "mixed", "group_by": [{"name": "tag", "tags": ["k"]}]}]
    )
    by = {r["group_by"][0]["group"]["k"]: r for r in q["results"]}
    assert by["num"]["values"] == [[1, 2**53 + 1], [2, 0.1], [3, -7]]
    assert by["num"]["group_by"][-1] == {"name": "type", "type": "number"}
    assert by["txt"]["values"] == [[1, "hello"], [2, "12.5x"]]
    assert by["txt"]["group_by"][-1] == {"name": "type", "type": "text"}
    assert by["cpx"]["values"] == [[1, {"real": 1.5, "imaginary": -2.0}]]
    assert by["obj"]["values"] == [[1, {"x": [1, {"y": None}], "z": "w"}]]
    assert q["sample_size"] == 7


def test_results_are_split_per_type_group_and_aggregators_skip_text(
    client: testing.TestClient,
) -> None:
    write(
        client,
        [
            {
                "name": "split",
                "tags": {"h": "a"},
                "datapoints": [[1, 5], [2, "x"], [3, 7]],
            }
        ],
    )
    (q,) = query(
        client,
        [
            {
                "name": "split",
                "aggregators": [
                    {"name": "sum", "sampling": {"value": 1, "unit": "hours"}}
                ],
            }
        ],
    )
    number, text = q["results"]
    assert number["values"] == [[1, 12]] and number["group_by"] == [
        {"name": "type", "type": "number"}
    ]
    assert text["values"] == [[2, "x"]]  # sum cannot handle text: passed through


def test_relative_times_and_open_end(client: testing.TestClient) -> None:
    now = int(time.time() * 1000)
    write(
        client,
        [
            {
                "name": "rel",
                "tags": {"h": "a"},
                "datapoints": [
                    [now - 3 * 3_600_000, 1],
                    [now - 30 * 60_000, 2],
                    [now + 86_400_000, 3],
                ],
            }
        ],
    )
    metrics = [{"name": "rel"}]
    (q,) = query(
        client,
        metrics,
        start_absolute=None,
        start_relative={"value": 1, "unit": "hours"},
    )
    assert [v for _, v in q["results"][0]["values"]] == [2, 3]  # no end: the future too
    (q,) = query(
        client,
        metrics,
        start_absolute=None,
        start_relative={"value": "5", "unit": "HOURS"},
        end_relative={"value": 1, "unit": "minutes"},
    )
    assert [v for _, v in q["results"][0]["values"]] == [1, 2]


def test_range_crossing_row_partitions_with_inclusive_ends(
    client: testing.TestClient,
) -> None:
    write(
        client,
        [
            {
                "name": "rows",
                "tags": {"h": "a"},
                "datapoints": [[i * WEEK, i] for i in range(-6, 7)],
            }
        ],
    )
    (q,) = query(
        client, [{"name": "rows"}], start_absolute=-4 * WEEK, end_absolute=5 * WEEK
    )
    assert [v for _, v in q["results"][0]["values"]] == list(range(-4, 6))


def test_order_limit_alias_and_exclude_tags(client: testing.TestClient) -> None:
    write(
        client,
        [
            {
                "name": "ol",
                "tags": {"h": "a"},
                "datapoints": [[i, i] for i in range(1, 11)],
            }
        ],
    )
    (q,) = query(
        client,
        [
            {
                "name": "ol",
                "order": "DESC",
                "limit": 3,
                "alias": "top",
                "exclude_tags": True,
            }
        ],
    )
    (r,) = q["results"]
    assert r["values"] == [[10, 10], [9, 9], [8, 8]]
    assert r["alias"] == "top" and "tags" not in r


def test_several_metrics_in_one_query_keep_their_order(
    client: testing.TestClient,
) -> None:
    write(
        client,
        [
            {"name": n, "tags": {"h": "a"}, "timestamp": 1, "value": i}
            for i, n in enumerate("abc")
        ],
    )
    queries = query(client, [{"name": "c"}, {"name": "a"}, {"name": "nothing"}])
    assert [q["results"][0]["name"] for q in queries] == ["c", "a", "nothing"]
    assert queries[2] == {
        "sample_size": 0,
        "results": [{"name": "nothing", "tags": {}, "values": []}],
    }


def test_group_by_time_value_bin_and_tag(client: testing.TestClient) -> None:
    write(
        client,
        [
            {
                "name": "g",
                "tags": {"host": "a"},
                "datapoints": [[i, i] for i in range(0, 10)],
            },
            {
                "name": "g",
                "tags": {"host": "b"},
                "datapoints": [[i, 10 * i] for i in range(0, 10)],
            },
        ],
    )
    (q,) = query(
        client,
        [
            {
                "name": "g",
                "tags": {"host": "a"},
                "group_by": [{"name": "bin", "bins": [3, 6]}],
            }
        ],
    )
    assert [[v for _, v in r["values"]] for r in q["results"]] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8, 9],
    ]
    assert [r["group_by"][0]["group"] for r in q["results"]] == [
        {"bin_number": 0},
        {"bin_number": 1},
        {"bin_number": 2},
    ]
    (q,) = query(
        client,
        [
            {
                "name": "g",
                "group_by": [
                    {"name": "tag", "tags": ["host"]},
                    {
                        "name": "time",
                        "range_size": {"value": 5, "unit": "milliseconds"},
                        "group_count": 2,
                    },
                ],
                "aggregators": [
                    {"name": "sum", "sampling": {"value": 1, "unit": "hours"}}
                ],
            }
        ],
    )
    got = {
        (
            r["group_by"][0]["group"]["host"],
            r["group_by"][1]["group"]["group_number"],
        ): r["values"][0][1]
        for r in q["results"]
    }
    assert got == {("a", 0): 10, ("a", 1): 35, ("b", 0): 100, ("b", 1): 350}
    (q,) = query(
        client,
        [
            {
                "name": "g",
                "tags": {"host": "b"},
                "group_by": [{"name": "value", "range_size": 25}],
                "aggregators": [
                    {"name": "count", "sampling": {"value": 1, "unit": "hours"}}
                ],
            }
        ],
    )
    assert [
        (r["group_by"][0]["group"]["group_number"], r["values"][0][1])
        for r in q["results"]
    ] == [(0, 3), (1, 2), (2, 3), (3, 2)]


def test_regex_tag_filter(client: testing.TestClient) -> None:
    write(
        client,
        [
            {"name": "rx", "tags": {"host": h}, "timestamp": 1, "value": 1}
            for h in ("web1", "web2", "db1")
        ],
    )
    (q,) = query(client, [{"name": "rx", "tags": {"host": "regex:web.*"}}])
    assert q["results"][0]["tags"] == {"host": ["web1", "web2"]}


def test_time_zone_moves_day_buckets(client: testing.TestClient) -> None:
    # 2024-01-01 23:30 UTC is 2024-01-02 08:30 in Tokyo
    t = 1_704_151_800_000
    write(
        client,
        [
            {
                "name": "tz",
                "tags": {"h": "a"},
                "datapoints": [[t, 1], [t + 3_600_000, 1]],
            }
        ],
    )
    agg = [
        {
            "name": "count",
            "sampling": {"value": 1, "unit": "days"},
            "align_start_time": True,
        }
    ]
    (utc,) = query(
        client, [{"name": "tz", "aggregators": agg}], start_absolute=t - 86_400_000
    )
    (tokyo,) = query(
        client,
        [{"name": "tz", "aggregators": agg}],
        start_absolute=t - 86_400_000,
        time_zone="Asia/Tokyo",
    )
    assert [v for v in utc["results"][0]["values"]] == [
        [1_704_067_200_000, 1],
        [1_704_153_600_000, 1],
    ]
    assert tokyo["results"][0]["values"] == [[1_704_121_200_000, 2]]


def test_get_query_and_its_errors(client: testing.TestClient) -> None:
    write(client, [{"name": "viaget", "tags": {"h": "a"}, "timestamp": 5, "value": 1}])
    import json

    ok = client.simulate_get(
        "/api/v1/datapoints/query",
        params={
            "query": json.dumps({"start_absolute": 0, "metrics": [{"name": "viaget"}]})
        },
    )
    assert ok.json["queries"][0]["results"][0]["values"] == [[5, 1]]
    missing = client.simulate_get("/api/v1/datapoints/query")
    assert (missing.status_code, missing.json) == (
        400,
        {"errors": ["query json must not be null or empty"]},
    )


def test_a_result_past_the_limit_is_a_clear_400(config: Any, backend: Any) -> None:
    from service.app import create_app

    small = testing.TestClient(
        create_app(config.replace(max_query_points=100), backend)
    )
    write(
        small,
        [
            {
                "name": "big",
                "tags": {"h": "a"},
                "datapoints": [[i, i] for i in range(500)],
            }
        ],
    )
    result = small.simulate_post(
        "/api/v1/datapoints/query",
        json={"start_absolute": 0, "metrics": [{"name": "big"}]},
    )
    assert result.status_code == 400
    assert "more than 100 data points" in result.json["errors"][0]
    # aggregated, the same points are one value
    result = small.simulate_post(
        "/api/v1/datapoints/query",
        json={
            "start_absolute": 0,
            "metrics": [
                {
                    "name": "big",
                    "aggregators": [
                        {"name": "avg", "sampling": {"value": 1, "unit": "days"}}
                    ],
                }
            ],
        },
    )
    assert result.json["queries"][0]["results"][0]["values"] == [[0, 249.5]]


def test_query_tags_is_exact_to_the_range(client: testing.TestClient) -> None:
    write(
        client,
        [
            {"name": "qt", "tags": {"host": "early"}, "timestamp": 1000, "value": 1},
            {"name": "qt", "tags": {"host": "late"}, "timestamp": 5000, "value": 1},
        ],
    )
    body = {"start_absolute": 4000, "end_absolute": 6000, "metrics": [{"name": "qt"}]}
    result = client.simulate_post("/api/v1/datapoints/query/tags", json=body)
    assert result.json == {
        "queries": [
            {"results": [{"name": "qt", "tags": {"host": ["late"]}, "values": []}]}
        ]
    }


def test_save_as_writes_a_new_metric(client: testing.TestClient) -> None:
    write(
        client,
        [
            {
                "name": "src",
                "tags": {"h": "a"},
                "datapoints": [[i * 1000, i] for i in range(6)],
            }
        ],
    )
    query(
        client,
        [
            {
                "name": "src",
                "aggregators": [
                    {
                        "name": "sum",
                        "sampling": {"value": 3, "unit": "seconds"},
                        "align_sampling": False,
                    },
                    {
                        "name": "save_as",
                        "metric_name": "src.rollup",
                        "tags": {"kind": "3s"},
                    },
                ],
            }
        ],
    )
    (q,) = query(client, [{"name": "src.rollup"}])
    (r,) = q["results"]
    assert r["values"] == [[0, 3], [3000, 12]]
    assert r["tags"] == {"h": ["a"], "kind": ["3s"], "saved_from": ["src"]}


def test_save_as_keeps_values_of_every_type(client: testing.TestClient) -> None:
    written = {
        "num": [[1, 2**53 + 1], [2, 0.5]],
        "txt": [[1, "hello"]],
        "cpx": [[1, {"real": 1.5, "imaginary": -2.0}]],
        "obj": [[1, True], [2, [1, "a"]], [3, {"x": None}]],
    }
    types = {"cpx": "complex-number", "obj": "json"}
    write(
        client,
        [
            {"name": "every", "tags": {"k": k}, "datapoints": v}
            | ({"type": types[k]} if k in types else {})
            for k, v in written.items()
        ],
    )
    query(
        client,
        [
            {
                "name": "every",
                "group_by": [{"name": "tag", "tags": ["k"]}],
                "aggregators": [{"name": "save_as", "metric_name": "every.copy"}],
            }
        ],
    )
    (q,) = query(
        client, [{"name": "every.copy", "group_by": [{"name": "tag", "tags": ["k"]}]}]
    )
    assert {r["group_by"][0]["group"]["k"]: r["values"] for r in q["results"]} == (
        written
    )

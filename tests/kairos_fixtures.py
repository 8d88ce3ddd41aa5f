"""KairosDB's own test fixtures (Apache-2.0, kairosdb/kairosdb src/test/resources and
src/integration-test/resources), replayed the way KairosDB's QueryTests replays them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "kairosdb"
INTEGRATION = FIXTURES / "integration"


def load(test: str, part: str, metric: str) -> Any | None:
    """One fixture file with whole-line // comments stripped and <metric_name> set."""
    path = INTEGRATION / test / f"{part}.json"
    if not path.exists():
        return None
    lines = [s for s in path.read_text().splitlines() if not s.strip().startswith("//")]
    return json.loads("\n".join(lines).replace("<metric_name>", metric))


def assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """KairosDB's comparison: queries and results by index; names equal; tags equal as
    sets; values with equal timestamps, doubles within 0.01, others exactly.
    group_by, sample_size and alias are not compared."""
    assert len(actual["queries"]) == len(expected["queries"])
    for q_exp, q_act in zip(expected["queries"], actual["queries"], strict=True):
        assert len(q_act["results"]) == len(q_exp["results"]), q_act
        for r_exp, r_act in zip(q_exp["results"], q_act["results"], strict=True):
            assert r_act["name"] == r_exp["name"]
            assert set(r_act["tags"]) == set(r_exp["tags"])
            for tag, values in r_exp["tags"].items():
                assert sorted(r_act["tags"][tag]) == sorted(values)
            assert len(r_act["values"]) == len(r_exp["values"]), r_act["values"]
            for (ts_e, v_e), (ts_a, v_a) in zip(
                r_exp["values"], r_act["values"], strict=True
            ):
                assert ts_a == ts_e
                if isinstance(v_a, float):
                    assert abs(v_a - v_e) <= 0.01, (v_a, v_e)
                else:
                    assert v_a == v_e


def invalid_queries() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "invalid_queries.json").read_text())  # type: ignore[no-any-return]

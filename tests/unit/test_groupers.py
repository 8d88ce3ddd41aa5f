"""Group-bys against hand-computed group numbers."""

from __future__ import annotations

from service.query.groupers import BinGroupBy, TagGroupBy, TimeGroupBy, ValueGroupBy
from service.query.timeunits import Duration


def test_time_group_is_ranges_since_start_modulo_count() -> None:
    g = TimeGroupBy(Duration(2, "MILLISECONDS"), 2, start=100)
    # KairosDB's fixture: points 2 ms apart alternate between the two groups
    assert [g.group(100 + 2 * i, None) for i in range(6)] == [0, 1, 0, 1, 0, 1]
    hour_of_day = TimeGroupBy(Duration(1, "HOURS"), 24, start=0)
    assert hour_of_day.group(25 * 3_600_000 + 5, None) == 1
    assert g.result(1) == {
        "name": "time",
        "range_size": {"value": 2, "unit": "MILLISECONDS"},
        "group_count": 2,
        "group": {"group_number": 1},
    }


def test_time_group_in_calendar_months() -> None:
    jan = 1_704_067_200_000  # 2024-01-01T00:00Z
    g = TimeGroupBy(Duration(1, "MONTHS"), 12, start=jan)
    assert g.group(jan + 31 * 86_400_000, None) == 1  # Feb 1
    assert g.group(jan + 366 * 86_400_000, None) == 0  # next January


def test_value_groups_are_equal_width_on_both_sides_of_zero() -> None:
    g = ValueGroupBy(5)
    assert [g.group(0, v) for v in (1, 4, 5, 9, 10)] == [
        0,
        0,
        1,
        1,
        2,
    ]  # KairosDB's fixture
    assert [g.group(0, v) for v in (-1, -5, -6, 4.9, 5.0)] == [-1, -1, -2, 0, 1]
    assert g.group(0, "text") is None


def test_bins() -> None:
    g = BinGroupBy((10.0, 20.0, 30.0))
    assert [g.group(0, v) for v in (5, 10, 19.9, 20, 30, 99)] == [0, 1, 1, 2, 3, 3]
    assert g.result(2) == {
        "name": "bin",
        "bins": [10.0, 20.0, 30.0],
        "group": {"bin_number": 2},
    }


def test_tag_group_keys_skip_missing_tags() -> None:
    g = TagGroupBy(("host", "dc"))
    assert g.key({"host": "a", "dc": "x", "rack": "1"}) == (("host", "a"), ("dc", "x"))
    assert g.key({"host": "b"}) == (("host", "b"),)
    assert g.result((("host", "a"),)) == {
        "name": "tag",
        "tags": ["host", "dc"],
        "group": {"host": "a"},
    }

"""Row times and tag hashes: what partition a point lands in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.records import (
    LONG_MAX,
    LONG_MIN,
    canonical_tags,
    row_time,
    row_times,
    tag_hash,
)

widths = st.sampled_from([1000, 3_600_000, 1_814_400_000])
stamps = st.integers(min_value=LONG_MIN, max_value=LONG_MAX)


@given(stamps, widths)
def test_a_point_lies_in_its_row(ts: int, width: int) -> None:
    rt = row_time(ts, width)
    assert rt <= ts < rt + width or rt == LONG_MIN
    assert LONG_MIN <= rt <= LONG_MAX


@given(st.integers(-(10**15), 10**15), widths)
def test_neighbouring_negative_points_share_a_row(ts: int, width: int) -> None:
    start = row_time(ts, width)
    assert row_time(start + width - 1, width) == start  # floor, not KairosDB's |ts|


@given(stamps, stamps, widths)
def test_row_times_cover_the_range(a: int, b: int, width: int) -> None:
    start, end = min(a, b), max(a, b)
    if (end - start) // width > 1000:
        return
    rows = row_times(start, end, width)
    assert rows[0] == row_time(start, width) and rows[-1] == row_time(end, width)
    assert rows == sorted(set(rows))


@given(st.dictionaries(st.text(), st.text(), min_size=1))
def test_tag_hash_ignores_order(tags: dict[str, str]) -> None:
    reordered = dict(reversed(list(tags.items())))
    assert tag_hash(canonical_tags(tags)) == tag_hash(canonical_tags(reordered))


def test_tag_hash_separates_tricky_sets() -> None:
    sets = [
        {"a": "b:c"},
        {"a:b": "c"},
        {"a": "b", "c": ""},
        {"a": "bc"},
        {"ab": "c"},
        {"a=b": "c"},
        {"a": "b=c"},
    ]
    hashes = {tag_hash(canonical_tags(t)) for t in sets}
    assert len(hashes) == len(sets)

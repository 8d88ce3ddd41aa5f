"""The point service's reduction of repeated timestamps, against a dict oracle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.domain.points import last_write_wins
from service.records import PointBatch, SeriesKey

series_keys = st.sampled_from(
    [SeriesKey("m", (("h", "a"),)), SeriesKey("m", (("h", "b"),)), SeriesKey("n", ())]
)
batches = st.lists(
    st.builds(
        lambda key, pts, ttl: PointBatch(key, [(ts, "long", v) for ts, v in pts], ttl),
        series_keys,
        st.lists(
            st.tuples(st.integers(0, 20), st.integers(-(2**63), 2**63 - 1)), max_size=15
        ),
        st.sampled_from([0, 60]),
    ),
    max_size=6,
)


@given(batches)
def test_the_last_point_per_series_and_timestamp_wins(bs: list[PointBatch]) -> None:
    expected: dict[tuple[SeriesKey, int], object] = {}
    for b in bs:
        for ts, _, v in b.points:
            expected[(b.series, ts)] = v
    reduced = last_write_wins(bs)
    got: dict[tuple[SeriesKey, int], object] = {}
    for b in reduced:
        for ts, _, v in b.points:
            assert (b.series, ts) not in got, "a timestamp survived twice"
            got[(b.series, ts)] = v
    assert got == expected
    # batches keep their order and TTL; points keep their order within a batch
    assert [b.ttl for b in reduced] == [b.ttl for b in bs]

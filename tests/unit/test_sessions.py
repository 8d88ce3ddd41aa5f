"""Session inference against an oracle that knows nothing of sorting or windows:
two events are in one session when a chain of events at most G apart joins them."""

from __future__ import annotations

import base64
import random

import ujson
from hypothesis import given
from hypothesis import strategies as st

from service.domain.sessions import chained, parse_session_id, runs, session_id


def oracle(timestamps: list[int], gap: int) -> list[tuple[int, int, int]]:
    """Connected components of 'at most gap apart', by union-find over all pairs."""
    points = list(timestamps)
    parent = list(range(len(points)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            if abs(points[i] - points[j]) <= gap:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i, ts in enumerate(points):
        groups.setdefault(find(i), []).append(ts)
    return sorted((min(g), max(g), len(g)) for g in groups.values())


stamps = st.lists(st.integers(0, 10_000), max_size=60)
gaps = st.integers(0, 700)


@given(stamps, gaps, st.randoms())
def test_runs_are_the_chains_whatever_the_arrival_order(
    ts: list[int], gap: int, rnd: random.Random
) -> None:
    arrived = ts[:]
    rnd.shuffle(arrived)  # the order events reach the server does not matter
    got = [(r.start, r.end, r.count) for r in runs(sorted(arrived), gap)]
    assert got == oracle(ts, gap)


@given(stamps, gaps, st.integers(0, 10_000), st.integers(0, 3000))
def test_a_window_plus_its_chained_edges_gives_the_same_sessions(
    ts: list[int], gap: int, start: int, width: int
) -> None:
    end = start + width
    ordered = sorted(ts)
    middle = [t for t in ordered if start <= t <= end]
    left = chained(iter([t for t in reversed(ordered) if t < start]), start, gap)
    right = chained(iter([t for t in ordered if t > end]), end, gap)
    windowed = [
        r
        for r in runs([*reversed(left), *middle, *right], gap)
        if r.end >= start and r.start <= end
    ]
    full = [r for r in runs(ordered, gap) if r.end >= start and r.start <= end]
    assert windowed == full


def test_a_late_point_bridging_two_sessions_merges_them() -> None:
    gap = 300_000
    assert [(r.start, r.end) for r in runs([0, 1000, 700_000], gap)] == [
        (0, 1000),
        (700_000, 700_000),
    ]
    assert [
        (r.start, r.end, r.count) for r in runs([0, 1000, 300_000, 700_000], gap)
    ] == [(0, 300_000, 3), (700_000, 700_000, 1)]
    assert [r.count for r in runs([0, 1000, 300_000, 500_000, 700_000], gap)] == [5]


ids = st.text(min_size=1, max_size=255)  # what a data point's unique ids may be


@given(ids, ids, st.integers(-(2**63), 2**63 - 1))
def test_session_ids_round_trip(user: str, device: str, start: int) -> None:
    assert parse_session_id(session_id(user, device, start)) == (user, device, start)


@given(
    st.sampled_from(["", "x" * 256, "\ud800", "a\udc00"]) | ids,
    st.sampled_from(["", "x" * 256, "\udbff"]),
    st.integers(-(2**63), 2**63 - 1) | st.sampled_from([2**63, -(2**63) - 1]),
)
def test_ids_no_data_point_can_carry_make_no_session(
    user: str, device: str, start: int
) -> None:
    """Forged ids (empty, too long, lone surrogates, times outside 64 bits) are no
    session: the analyze API answers 404 instead of handing them to a store."""
    raw = ujson.dumps([user, device, start]).encode()  # (ujson escapes surrogates)
    forged = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert parse_session_id(forged) is None


def test_bad_session_ids_are_none() -> None:
    for text in ["", "!!!", "WzEsMiwzXQ", session_id("u", "d", 1)[:-3]]:
        assert parse_session_id(text) is None

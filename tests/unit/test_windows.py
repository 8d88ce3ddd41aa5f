"""Block windows: cutting points into blocks, and resolving a window's blocks and
delete markers, checked against a plain dict oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from service.columnar import Points
from service.storage import blocks
from service.storage.windows import (
    BLOCK_POINTS,
    WINDOW_MS,
    Stored,
    WriteIds,
    pieces,
    resolve,
    write_time_ms,
)

timestamps = st.integers(min_value=-3 * WINDOW_MS, max_value=3 * WINDOW_MS)
writes = st.lists(
    st.dictionaries(timestamps, st.integers(-100, 100), min_size=1, max_size=20),
    min_size=1,
    max_size=8,
)
deletes = st.lists(st.tuples(st.integers(0, 8), timestamps, timestamps), max_size=4)


@given(writes, deletes)
def test_resolve_matches_a_replay_of_the_writes_and_deletes(
    history: list[dict[int, int]], marks: list[tuple[int, int, int]]
) -> None:
    """Write i has id 10*i; a marker (k, a, b) is a delete issued after write k-1."""
    markers = [(10 * k - 5, min(a, b), max(a, b)) for k, a, b in marks]
    oracle: dict[int, int] = {}
    for i, write in enumerate(history):
        for wid, lo, hi in markers:
            if wid < 10 * i and wid > 10 * (i - 1):
                oracle = {t: v for t, v in oracle.items() if not lo <= t <= hi}
        oracle.update(write)
    for wid, lo, hi in markers:  # deletes after the last write
        if wid > 10 * (len(history) - 1):
            oracle = {t: v for t, v in oracle.items() if not lo <= t <= hi}
    stored = [
        Stored(10 * i, Points.of("long", sorted(w), [w[t] for t in sorted(w)]))
        for i, w in enumerate(history)
    ]
    got = resolve(stored, markers, now_ms=0)
    assert got.tuples() == [(t, "long", oracle[t]) for t in sorted(oracle)]


def test_resolve_drops_points_past_their_own_expiry() -> None:
    points = Points.of("double", [1, 2, 3], [1.0, 2.0, 3.0])
    block = Stored(5, points, np.array([0, 1000, 3000], dtype=np.int64))
    assert resolve([block], [], now_ms=2000).tuples() == [
        (1, "double", 1.0),
        (3, "double", 3.0),
    ]


def test_resolve_keeps_a_later_write_of_another_type() -> None:
    first = Stored(1, Points.of("long", [1, 2], [1, 2]))
    second = Stored(2, Points.of("string", [2], ["two"]))
    assert resolve([first, second], [], now_ms=0).tuples() == [
        (1, "long", 1),
        (2, "string", "two"),
    ]


@given(st.lists(timestamps, min_size=1, max_size=200, unique=True))
def test_pieces_cut_by_row_and_window_and_keep_every_point(ts: list[int]) -> None:
    ts.sort()
    points = Points.of("long", ts, list(range(len(ts))))
    width = 3 * WINDOW_MS + 17  # rows not a multiple of windows: windows straddle
    cut = list(pieces(points, row_width=width))
    assert [p for piece in cut for p in piece.points.tuples()] == points.tuples()
    for piece in cut:
        assert all(t - t % width == piece.row_time for t in piece.points.ts.tolist())
        assert all(t - t % WINDOW_MS == piece.window_start for t in piece.points.ts)
        # a block round-trips
        assert blocks.decode(blocks.encode(piece.points))[0] == piece.points


def test_a_large_window_is_cut_into_numbered_blocks() -> None:
    n = 2 * BLOCK_POINTS + 5
    points = Points.of("long", np.arange(n), np.arange(n))
    cut = list(pieces(points, row_width=10 * WINDOW_MS))
    assert [len(p.points) for p in cut] == [BLOCK_POINTS, BLOCK_POINTS, 5]
    assert [p.seq for p in cut] == [0, 1, 2]


def test_write_ids_increase_and_carry_the_time() -> None:
    ids = WriteIds()
    made = [ids.next() for _ in range(1000)]
    assert made == sorted(set(made))
    assert abs(write_time_ms(made[-1]) - write_time_ms(made[0])) < 60_000
    assert write_time_ms(made[0]) > 1_700_000_000_000


@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=10),
    st.lists(st.tuples(st.integers(0, 12), timestamps, timestamps), max_size=3),
)
def test_blocks_in_time_order_resolve_to_their_points_in_order(
    sizes: list[int], marks: list[tuple[int, int, int]]
) -> None:
    # a series written forward (the usual small writes): no timestamp twice, the
    # columns are taken as they are, markers still apply
    stored, at = [], 0
    for i, n in enumerate(sizes):
        ts = list(range(at, at + n))
        at += n
        stored.append(Stored(10 * i, Points.of("long", ts, [t * 2 for t in ts])))
    markers = [(10 * k - 5, min(a, b), max(a, b)) for k, a, b in marks]

    def deleted(t: int, wid: int) -> bool:
        return any(lo <= t <= hi and wid < m for m, lo, hi in markers)

    want = [
        (t, "long", t * 2)
        for b in stored
        for t in b.points.ts.tolist()
        if not deleted(t, b.write_id)
    ]
    assert resolve(stored, markers, now_ms=0).tuples() == want


def test_of_two_blocks_of_one_write_at_a_timestamp_the_later_wins() -> None:
    # one write, one series in two batches (two TTLs): seq 0 then seq 1
    first = Stored(7, Points.of("long", [1, 2], [10, 20]))
    second = Stored(7, Points.of("long", [2, 3], [21, 31]))
    assert resolve([first, second], [], now_ms=0).tuples() == [
        (1, "long", 10),
        (2, "long", 21),
        (3, "long", 31),
    ]

"""The storage contract for a series' history: overwrites across many writes, out of
order, deletes racing writes, large writes. Written once, run against every driver
(the Cassandra one stores blocks and resolves them at read: these are its rules).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from service.records import PointBatch
from service.storage import Backend
from tests.contract.points import ALL_TIME, PointStoreContract, series

HOUR = 3_600_000


class PointHistoryContract(PointStoreContract):
    """The whole point contract (this and PointStoreContract's); subclasses supply
    ``backend``."""

    def test_many_writes_out_of_order_keep_the_last_written(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        rng = random.Random(11)
        oracle: dict[int, tuple[str, Any]] = {}
        base = 1_700_000_000_000
        for _ in range(40):  # 40 writes into a few windows, timestamps reused
            ts = sorted(rng.sample(range(0, 5 * HOUR, 60_000), rng.randint(1, 30)))
            kind = rng.choice(["long", "double"])
            pts = [
                (base + t, kind, rng.randint(-9, 9) if kind == "long" else rng.random())
                for t in ts
            ]
            self.write(backend, PointBatch(key, pts))
            oracle.update({t: (k, v) for t, k, v in pts})
        expected = [(t, *oracle[t]) for t in sorted(oracle)]
        assert self.read(backend, key) == expected
        assert self.read(backend, key, order="desc") == expected[::-1]
        assert self.read(backend, key, limit=7) == expected[:7]
        assert self.read(backend, key, order="desc", limit=5) == expected[::-1][:5]
        lo, hi = base + HOUR + 1, base + 3 * HOUR
        inside = [p for p in expected if lo <= p[0] <= hi]
        assert self.read(backend, key, start=lo, end=hi) == inside

    def test_a_write_larger_than_a_block(self, backend: Backend, unique: str) -> None:
        key = series(unique)
        pts = [(1_000_000 + i, "long", i * 3) for i in range(20_000)]
        self.write(backend, PointBatch(key, pts))
        assert self.read(backend, key) == pts
        assert (
            self.read(backend, key, start=1_008_000, end=1_012_345) == pts[8_000:12_346]
        )
        assert self.read(backend, key, order="desc", limit=3) == pts[::-1][:3]
        # rewriting a slice in the middle replaces exactly those points
        again = [(t, "double", 0.5) for t, _, _ in pts[9_000:9_100]]
        self.write(backend, PointBatch(key, again))
        assert self.read(backend, key) == pts[:9_000] + again + pts[9_100:]

    def test_delete_spares_points_written_after_it_in_the_same_window(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        base = 1_700_000_000_000  # a window holds all of these
        self.write(backend, PointBatch(key, [(base + i, "long", i) for i in range(10)]))
        backend.points.delete_points(self.project, [key], base + 2, base + 6)
        self.write(backend, PointBatch(key, [(base + 4, "long", 40)]))
        self.write(backend, PointBatch(key, [(base + 8, "long", 80)]))
        assert self.read(backend, key) == [
            (base, "long", 0),
            (base + 1, "long", 1),
            (base + 4, "long", 40),
            (base + 7, "long", 7),
            (base + 8, "long", 80),
            (base + 9, "long", 9),
        ]
        assert (
            backend.points.series_with_points(self.project, [key], base + 2, base + 3)
            == []
        )
        assert backend.points.series_with_points(
            self.project, [key], base + 2, base + 4
        ) == [key]

    def test_delete_across_windows_removes_exactly_the_range(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        base = 1_700_000_000_000
        pts = [(base + i * 600_000, "long", i) for i in range(60)]  # 10 hours
        self.write(backend, PointBatch(key, pts))
        lo, hi = pts[7][0] - 1, pts[41][0] + 1  # ends inside windows
        backend.points.delete_points(self.project, [key], lo, hi)
        assert self.read(backend, key) == pts[:7] + pts[42:]
        self.write(backend, PointBatch(key, pts[20:22]))
        assert self.read(backend, key) == pts[:7] + pts[20:22] + pts[42:]

    def test_concurrent_writes_during_a_delete_lose_nothing_written_after_it(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        base = 1_700_000_000_000
        before = [(base + 2 * i, "long", 1) for i in range(500)]  # even ms
        self.write(backend, PointBatch(key, before))
        written: list[tuple[int, int]] = []  # (ts, which phase saw it acknowledged)
        phase = [0]  # 0: delete not started, 1: running, 2: returned
        lock = threading.Lock()

        def writer(offset: int) -> None:
            late = 0  # writes begun after the delete returned
            for i in range(5000):
                with lock:
                    started = phase[0]
                ts = base + 2 * (i * 4 + offset) + 1  # odd ms, each once
                self.write(backend, PointBatch(key, [(ts, "long", 2)]))
                written.append((ts, started))
                late += started == 2
                if late >= 20:
                    return

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        with lock:
            phase[0] = 1
        backend.points.delete_points(self.project, [key], *ALL_TIME)
        with lock:
            phase[0] = 2
        for t in threads:
            t.join()
        got = {ts for ts, _, _ in self.read(backend, key)}
        assert not got & {ts for ts, _, _ in before}  # all written before: gone
        after = {ts for ts, started in written if started == 2}
        assert after <= got  # written after the delete returned: all kept
        assert got <= {ts for ts, _ in written}

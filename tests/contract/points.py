"""The storage contract for data points, written once and run against every driver.

A tier subclasses :class:`PointStoreContract` and provides a ``backend`` fixture (the
embedded store in tests/functional, real Cassandra in tests/integration).
"""

from __future__ import annotations

import time
from typing import Any

from service.records import PointBatch, SeriesKey, canonical_tags
from service.storage import Backend

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
ALL_TIME = (LONG_MIN, LONG_MAX)


def series(metric: str, **tags: str) -> SeriesKey:
    return SeriesKey(metric, canonical_tags(tags or {"host": "a"}))


class PointStoreContract:
    """Behaviour both stores must share; subclasses supply ``backend``."""

    project = "contract"

    def write(
        self, backend: Backend, *batches: PointBatch, default_ttl: int = 0
    ) -> None:
        backend.points.write_points(
            self.project, list(batches), default_ttl=default_ttl
        )

    def read(self, backend: Backend, key: SeriesKey, **kw: Any) -> list[Any]:
        start, end = kw.pop("start", LONG_MIN), kw.pop("end", LONG_MAX)
        return list(backend.points.read_points(self.project, key, start, end, **kw))

    def test_every_type_round_trips_exactly(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        points = [
            (1, "long", 2**53 + 1),
            (2, "long", LONG_MAX),
            (3, "long", LONG_MIN),
            (4, "double", 0.1 + 0.2),
            (5, "double", -1e-300),
            (6, "string", "héllo \u2603 \x00 end"),
            (7, "string", ""),
            (8, "complex-number", (2.3, 3.4)),
            (9, "json", {"x": 123, "y": 123.994, "nested": [1, "two", None, True]}),
            (10, "json", "just a string"),
        ]
        self.write(backend, PointBatch(key, points))
        assert self.read(backend, key) == points

    def test_negative_and_far_future_timestamps(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        points = [
            (LONG_MIN + 1, "long", 1),
            (-86_400_000 * 365 * 100, "long", 2),  # 1870
            (-1, "long", 3),
            (0, "long", 4),
            (253_402_300_799_000, "long", 5),  # 9999-12-31
            (LONG_MAX - 1, "long", 6),
        ]
        self.write(backend, PointBatch(key, points))
        assert self.read(backend, key) == points
        assert self.read(backend, key, start=-1, end=0) == points[2:4]

    def test_series_spanning_several_row_partitions(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        week = 7 * 86_400_000
        points = [(i * week, "long", i) for i in range(-5, 10)]
        self.write(backend, PointBatch(key, points))
        assert self.read(backend, key) == points
        assert self.read(backend, key, order="desc") == points[::-1]
        assert self.read(backend, key, start=-2 * week, end=4 * week) == points[3:10]
        assert self.read(backend, key, limit=4) == points[:4]
        assert self.read(backend, key, order="desc", limit=3) == points[::-1][:3]

    def test_same_timestamp_overwrites_even_with_another_type(
        self, backend: Backend, unique: str
    ) -> None:
        key = series(unique)
        self.write(backend, PointBatch(key, [(100, "long", 1), (200, "long", 2)]))
        self.write(backend, PointBatch(key, [(100, "double", 1.5)]))
        self.write(backend, PointBatch(key, [(200, "string", "two")]))
        assert self.read(backend, key) == [(100, "double", 1.5), (200, "string", "two")]

    def test_ttl_expires_points(self, backend: Backend, unique: str) -> None:
        short, keep, default = (
            series(unique, k="short"),
            series(unique, k="keep"),
            series(unique, k="default"),
        )
        self.write(
            backend,
            PointBatch(short, [(1, "long", 1)], ttl=2),
            PointBatch(keep, [(1, "long", 1)], ttl=0),
            PointBatch(default, [(1, "long", 1)], ttl=0),
            default_ttl=0,
        )
        self.write(backend, PointBatch(default, [(2, "long", 2)]), default_ttl=2)
        assert self.read(backend, short) == [(1, "long", 1)]
        time.sleep(3.2)
        assert self.read(backend, short) == []
        assert self.read(backend, keep) == [(1, "long", 1)]
        assert self.read(backend, default) == [(1, "long", 1)]

    def test_many_series_per_metric_stay_apart(
        self, backend: Backend, unique: str
    ) -> None:
        keys = [series(unique, host=f"h{i}", dc=f"dc{i % 3}") for i in range(300)]
        self.write(
            backend,
            *(
                PointBatch(k, [(1000, "long", i), (2000, "long", -i)])
                for i, k in enumerate(keys)
            ),
        )
        for i, k in enumerate(keys):
            assert self.read(backend, k) == [(1000, "long", i), (2000, "long", -i)]
        # one tag more or less is another series
        assert self.read(backend, series(unique, host="h1")) == []

    def test_metric_names_sorted_with_prefix(
        self, backend: Backend, unique: str
    ) -> None:
        names = [f"{unique}.b", f"{unique}.a.x", f"{unique}.a", f"{unique}z"]
        self.write(backend, *(PointBatch(series(n), [(1, "long", 1)]) for n in names))
        listed = backend.points.metric_names(self.project)
        assert [n for n in listed if n.startswith(unique)] == sorted(names)
        assert backend.points.metric_names(self.project, prefix=f"{unique}.a") == [
            f"{unique}.a",
            f"{unique}.a.x",
        ]
        assert backend.points.metric_names(self.project, prefix="no-such-prefix") == []

    def test_projects_never_see_each_other(self, backend: Backend, unique: str) -> None:
        key = series(unique)
        backend.points.write_points(
            "p-one", [PointBatch(key, [(1, "long", 1)])], default_ttl=0
        )
        assert list(backend.points.read_points("p-two", key, *ALL_TIME)) == []
        assert unique not in backend.points.metric_names("p-two")
        assert unique in backend.points.metric_names("p-one")

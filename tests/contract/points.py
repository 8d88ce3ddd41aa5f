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
        # Cassandra's index may outlive the points (see test_index_outlives_its_data);
        # what holds no live point is left out where it shows: tags, results.
        indexed = backend.points.find_series(self.project, unique, {}, *ALL_TIME)
        assert {keep, default} <= set(indexed)
        live = backend.points.series_with_points(self.project, indexed, *ALL_TIME)
        assert set(live) == {keep, default}

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

    # -- finding series, deleting, tag lists -----------------------------------------

    def _fleet(self, backend: Backend, metric: str) -> None:
        batches = [
            PointBatch(
                series(metric, host=h, dc=dc), [(10, "long", 1), (20, "long", 2)]
            )
            for h, dc in [("a", "east"), ("b", "east"), ("c", "west"), ("d", "west")]
        ]
        batches.append(PointBatch(series(metric, host="e"), [(10, "long", 5)]))  # no dc
        self.write(backend, *batches)

    def found(self, backend: Backend, metric: str, **flt: Any) -> list[str]:
        from service.records import TagMatch

        tag_filter = {
            name: TagMatch(patterns=(value,))
            if hasattr(value, "fullmatch")
            else TagMatch(frozenset([value] if isinstance(value, str) else value))
            for name, value in flt.items()
        }
        keys = backend.points.find_series(self.project, metric, tag_filter, *ALL_TIME)
        return [dict(k.tags)["host"] for k in keys]

    def test_find_series_by_tags(self, backend: Backend, unique: str) -> None:
        import re

        self._fleet(backend, unique)
        assert self.found(backend, unique) == ["a", "b", "c", "d", "e"]
        assert self.found(backend, unique, dc="east") == ["a", "b"]
        assert self.found(backend, unique, host=["a", "c", "x"]) == ["a", "c"]
        assert self.found(backend, unique, host=["a", "c"], dc="west") == ["c"]
        assert self.found(backend, unique, dc=re.compile("w.*")) == ["c", "d"]
        assert self.found(backend, unique, dc="north") == []
        assert self.found(backend, unique + "-none") == []

    def test_delete_points_is_exact_to_the_range(
        self, backend: Backend, unique: str
    ) -> None:
        week = 7 * 86_400_000
        key, other = series(unique, host="a"), series(unique, host="b")
        pts = [(i * week // 2, "long", i) for i in range(12)]  # spans several rows
        self.write(backend, PointBatch(key, pts), PointBatch(other, pts))
        backend.points.delete_points(self.project, [key], pts[2][0], pts[8][0])
        assert self.read(backend, key) == pts[:2] + pts[9:]
        assert self.read(backend, other) == pts  # another series is untouched
        assert backend.points.series_with_points(
            self.project, [key, other], pts[3][0], pts[7][0]
        ) == [other]
        backend.points.delete_points(self.project, [key], *ALL_TIME)
        assert self.read(backend, key) == []
        assert backend.points.series_with_points(
            self.project, [key, other], *ALL_TIME
        ) == [other]

    def test_delete_metric_removes_everything_and_allows_new_writes(
        self, backend: Backend, unique: str
    ) -> None:
        gone, kept = f"{unique}.gone", f"{unique}.kept"
        self.write(
            backend,
            PointBatch(series(gone, host="a", only_gone="x"), [(1, "long", 1)]),
            PointBatch(series(kept, host="a"), [(1, "long", 1)]),
        )
        assert "only_gone" in backend.points.tag_names(self.project)
        backend.points.delete_metric(self.project, gone)
        assert backend.points.metric_names(self.project, prefix=unique) == [kept]
        assert self.found(backend, gone) == []
        assert self.read(backend, series(gone, host="a", only_gone="x")) == []
        assert backend.points.tag_names(self.project, gone) == []
        assert "only_gone" not in backend.points.tag_names(self.project)
        assert "x" not in backend.points.tag_values(self.project, tag="only_gone")
        assert "a" in backend.points.tag_values(self.project, tag="host")  # still used
        # written again right away: indexed again, visible again
        self.write(backend, PointBatch(series(gone, host="b"), [(2, "long", 2)]))
        assert backend.points.metric_names(self.project, prefix=unique) == [gone, kept]
        assert self.found(backend, gone) == ["b"]

    def test_tag_names_and_values(self, backend: Backend, unique: str) -> None:
        self._fleet(backend, unique)
        assert backend.points.tag_names(self.project, unique) == ["dc", "host"]
        assert backend.points.tag_values(self.project, unique, "dc") == ["east", "west"]
        assert backend.points.tag_values(self.project, unique) == [
            "a",
            "b",
            "c",
            "d",
            "e",
            "east",
            "west",
        ]
        assert {"dc", "host"} <= set(backend.points.tag_names(self.project))
        assert backend.points.tag_values(self.project, unique + "-none") == []

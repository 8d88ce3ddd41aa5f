"""The per-process memory of written index rows."""

from __future__ import annotations

from service.storage.cassandra.index_cache import IndexCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(deletes: list[tuple[str, str, object]], clock: Clock, **kw: int) -> IndexCache:
    return IndexCache(
        max_entries=kw.get("max_entries", 100),
        max_age=kw.get("max_age", 60),
        poll=lambda: list(deletes),
        poll_interval=1.0,
        clock=clock,
    )


def test_remembered_keys_are_skipped_until_they_age() -> None:
    clock = Clock()
    cache = make([], clock)
    key = ("series", "p", "m", 1, 0, 0)
    assert cache.missing([key, key]) == [key]
    cache.remember([key])
    assert cache.missing([key]) == []
    clock.now = 61
    assert cache.missing([key]) == [key]


def test_the_oldest_entries_go_past_the_size_bound() -> None:
    clock = Clock()
    cache = make([], clock, max_entries=2)
    keys = [("name", "p", f"m{i}", 0) for i in range(3)]
    cache.remember(keys)
    assert cache.missing(keys) == keys[:1]


def test_a_metric_deleted_elsewhere_is_forgotten_at_the_next_poll() -> None:
    clock = Clock()
    deletes: list[tuple[str, str, object]] = []
    cache = make(deletes, clock)
    key, other = ("series", "p", "m", 1, 0, 0), ("series", "p", "n", 1, 0, 0)
    cache.missing([key])
    cache.remember([key, other])
    deletes.append(("p", "m", "t1"))
    clock.now = 0.5
    assert cache.missing([key]) == []  # not polled yet: within the poll interval
    clock.now = 1.5
    assert cache.missing([key, other]) == [key]
    cache.remember([key])
    clock.now = 3
    assert cache.missing([key]) == []  # the same delete is not applied twice

"""The per-process TTL cache: what it remembers, for how long, and how much."""

from __future__ import annotations

import threading

import pytest

from service.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Store:
    """Counts its reads, so a test sees which ones the cache saved."""

    def __init__(self) -> None:
        self.rows: dict[str, str | None] = {}
        self.reads = 0

    def get(self, key: str) -> str | None:
        self.reads += 1
        return self.rows.get(key)


def cache(clock: Clock, *, size: int = 10) -> TtlCache[str, str | None]:
    return TtlCache(seconds=5, max_entries=size, clock=clock)


def test_a_value_is_read_once_then_trusted_until_it_ages() -> None:
    clock, store = Clock(), Store()
    store.rows["p"] = "v1"
    c = cache(clock)
    assert c.get("p", lambda: store.get("p")) == "v1"
    store.rows["p"] = "v2"  # changed elsewhere (another worker)
    clock.now = 4.9
    assert c.get("p", lambda: store.get("p")) == "v1"
    assert store.reads == 1
    clock.now = 5.0
    assert c.get("p", lambda: store.get("p")) == "v2"  # seen within the TTL
    assert store.reads == 2


def test_that_something_does_not_exist_is_remembered_too() -> None:
    clock, store = Clock(), Store()
    c = cache(clock)
    for _ in range(3):
        assert c.get("nobody", lambda: store.get("nobody")) is None
    assert store.reads == 1


def test_a_change_made_here_is_seen_at_once() -> None:
    clock, store = Clock(), Store()
    store.rows["p"] = "old"
    c = cache(clock)
    c.get("p", lambda: store.get("p"))
    store.rows["p"] = "new"
    c.forget("p")
    assert c.get("p", lambda: store.get("p")) == "new"


def test_freshness_and_put() -> None:
    clock = Clock()
    c = cache(clock)
    assert not c.fresh("s")
    c.put("s", "known")
    assert c.fresh("s")
    clock.now = 5.0
    assert not c.fresh("s")


def test_memory_is_bounded_by_dropping_the_oldest_entries() -> None:
    clock, store = Clock(), Store()
    c = cache(clock, size=3)
    for key in "abcde":
        c.get(key, lambda key=key: store.get(key))
    assert len(c) == 3
    assert not c.fresh("a") and not c.fresh("b")
    assert c.fresh("c") and c.fresh("e")
    c.put("c", "again")  # rewritten: now the newest, so "d" goes next
    c.put("f", "new")
    assert c.fresh("c") and not c.fresh("d")


def test_threads_writing_at_once_keep_the_bound() -> None:
    c: TtlCache[int, int] = TtlCache(seconds=60, max_entries=100)

    def fill(base: int) -> None:
        for n in range(2000):
            c.put(base + n, n)

    threads = [threading.Thread(target=fill, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 100


def test_a_cache_holds_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TtlCache(seconds=1, max_entries=0)

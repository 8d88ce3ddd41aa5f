"""A query's pages: each asked for as the one before it arrives, in order, bounded.

The driver's future is played by a small stand-in that delivers pages when the test
says (the paging logic is what is tested; reads on a real Cassandra are in
tests/integration)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from service import errors
from service.storage.cassandra.paging import PagedQuery


class Message:
    fetch_size = 4


class Future:
    """Pages of a result, delivered one at a time by ``deliver``."""

    def __init__(self, pages: list[list[int]]) -> None:
        self.pages = pages
        self.sent = 1  # the first page was requested with the query
        self.delivered = 0
        self.message = Message()
        self.sizes: list[int] = []
        self.has_more_pages = False
        self.callback: Any = None
        self.errback: Any = None

    def add_callbacks(self, callback: Any, errback: Any) -> None:
        self.callback, self.errback = callback, errback

    def start_fetching_next_page(self) -> None:
        assert self.sent == self.delivered, "a page requested twice"
        self.sizes.append(self.message.fetch_size)
        self.sent += 1

    def deliver(self) -> None:
        assert self.sent == self.delivered + 1, "a page delivered before asked for"
        page = self.pages[self.delivered]
        self.delivered += 1
        self.has_more_pages = self.delivered < len(self.pages)
        self.callback(page)

    def fail(self, exc: BaseException) -> None:
        self.errback(exc)


def translated(exc: BaseException) -> BaseException:
    return errors.Unavailable(f"store: {exc}")


def test_the_next_page_is_asked_for_when_a_page_arrives() -> None:
    future = Future([[1, 2], [3], [4, 5]])
    gate = threading.Semaphore(4)
    query = PagedQuery(future, gate, translated, resize=lambda rows: 10 * len(rows))
    future.deliver()
    assert future.sent == 2  # before anyone read the first page
    future.deliver()
    assert future.sent == 2  # one page waits unread: no third yet
    pages = query.pages()
    assert next(pages) == ([1, 2], False)
    assert future.sent == 3  # taking a page made room: the consumer asked
    assert next(pages) == ([3], False)
    future.deliver()
    assert next(pages) == ([4, 5], True)
    assert future.sizes == [20, 10]  # each sized from the rows of the page before
    with pytest.raises(StopIteration):
        next(pages)


def test_without_a_gate_slot_the_consumer_asks() -> None:
    future = Future([[1], [2]])
    gate = threading.Semaphore(0)  # every slot taken by other queries
    query = PagedQuery(future, gate, translated)
    future.deliver()
    assert future.sent == 1  # the I/O thread never waits for a slot
    pages = query.pages()
    gate.release()
    assert next(pages) == ([1], False)
    assert future.sent == 2
    future.deliver()
    assert next(pages) == ([2], True)


def test_pages_that_arrived_are_read_before_the_failure_is_raised() -> None:
    future = Future([[1], [2], [3]])
    query = PagedQuery(future, threading.Semaphore(4), translated)
    future.deliver()
    future.fail(TimeoutError("read timed out"))
    pages = query.pages()
    assert next(pages) == ([1], False)
    with pytest.raises(errors.Unavailable, match="store: read timed out"):
        next(pages)


def test_a_consumer_waits_for_a_page_from_another_thread() -> None:
    future = Future([[1], [2]])
    query = PagedQuery(future, threading.Semaphore(4), translated)
    pages = query.pages()
    threading.Timer(0.05, future.deliver).start()
    assert next(pages) == ([1], False)
    threading.Timer(0.05, future.deliver).start()
    assert next(pages) == ([2], True)

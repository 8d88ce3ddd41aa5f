"""A query's pages, each requested as soon as the one before it arrives.

A query that reads many series (a count over a thousand of them) consumes their pages
one series after the other: series 1's window, then series 2's... When the next page
of a query was asked for only once its consumer reached the page before it, every
window that spans two pages cost a round trip in turn, a thousand in a row. Here the
driver's I/O thread asks for the next page the moment a page arrives (if no page is
already waiting unread and the request's gate has a slot; otherwise the consumer
asks when it takes a page), so the pages of all the series come in concurrently.
Memory per query: one page being consumed, at most one waiting, one in flight.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from service import errors

# A page that neither arrives nor fails in this long means the driver lost it (its
# own timeout fails a request long before).
_LOST_AFTER_S = 300.0


class PagedQuery:
    """A query already sent; iterate ``pages()`` for its rows, a page at a time.

    ``gate`` bounds the pages in flight of the request this query serves: a slot is
    taken before each later page is requested (the caller took one for the first)
    and given back by the session's callback when the page arrives. ``resize`` names
    the next page's size in rows from the rows of the page before it. ``translate``
    turns a driver failure into the service's error."""

    def __init__(
        self,
        future: Any,
        gate: threading.Semaphore,
        translate: Callable[[BaseException], BaseException],
        resize: Callable[[list[Any]], int] | None = None,
    ) -> None:
        self.future = future
        self.gate = gate
        self.translate = translate
        self.resize = resize
        # (reentrant: a request that fails as it is sent calls back in this thread)
        self._cond = threading.Condition(threading.RLock())
        self._ready: deque[tuple[list[Any], bool]] = deque()
        self._error: BaseException | None = None
        self._in_flight = True
        self._more = False
        self._latest: list[Any] = []
        future.add_callbacks(self._arrived, errback=self._failed)

    # -- the driver's I/O thread ----------------------------------------------------

    def _arrived(self, rows: list[Any]) -> None:
        with self._cond:
            self._in_flight = False
            self._more = bool(self.future.has_more_pages)
            self._latest = rows
            self._ready.append((rows, not self._more))
            # never block the I/O thread: no slot now, and the consumer asks
            if self._more and len(self._ready) == 1 and self.gate.acquire(False):
                self._fetch_next()
            self._cond.notify_all()

    def _failed(self, exc: BaseException) -> None:
        with self._cond:
            self._in_flight = False
            self._error = exc
            self._cond.notify_all()

    def _fetch_next(self) -> None:
        """Ask for the next page (the lock held, a gate slot taken)."""
        if self.resize is not None:
            # (the driver sends its message again with the paging state: the page
            # size is that message's)
            self.future.message.fetch_size = self.resize(self._latest)
        self._in_flight = True
        try:
            self.future.start_fetching_next_page()
        except BaseException as exc:  # (nothing was sent: the slot is unused)
            self.gate.release()
            self._in_flight = False
            self._error = exc

    # -- the consumer ---------------------------------------------------------------

    def pages(self) -> Iterator[tuple[list[Any], bool]]:
        """(rows, last) per page, in order."""
        while True:
            with self._cond:
                while not self._ready and self._error is None:
                    if not self._cond.wait(_LOST_AFTER_S):
                        raise errors.Unavailable(
                            "The data store did not answer in time; retry the request."
                        )
                if not self._ready:
                    assert self._error is not None
                    error = self.translate(self._error)
                    if error is self._error:
                        raise error
                    raise error from self._error
                rows, last = self._ready.popleft()
                ask = self._more and not self._in_flight and self._error is None
            if ask:
                self.gate.acquire()  # (here, not in the I/O thread: this may wait)
                with self._cond:
                    if self._more and not self._in_flight and self._error is None:
                        self._fetch_next()
                    else:  # (the I/O thread asked meanwhile)
                        self.gate.release()
            yield rows, last
            if last:
                return

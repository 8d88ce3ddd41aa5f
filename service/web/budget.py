"""A worker's memory budget for request bodies in flight.

All threads of a worker read, decompress and decode request bodies at once; limits per
request alone would let them multiply. So each request leases its bytes from the
worker's budget before allocating them (the body as it arrives, decompressed, and an
estimate of the decoded JSON tree) and gives them back when it ends, however it ends
(:class:`BudgetedApp` closes the lease after the app returns or raises).

A reservation the budget cannot take now is a 503 with Retry-After: room comes back as
other requests end. One that could not fit even in an idle worker is a 413, since a
retry would never help.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import falcon

from service import errors

MiB = 1024 * 1024
# Where a request's lease lives in its WSGI environment.
LEASE_KEY = "datapoints.body_lease"


class BodyBudget:
    """Bytes of request bodies one worker may hold at once, shared by its threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def lease(self) -> Lease:
        return Lease(self)

    def _take(self, n: int) -> bool:
        with self._lock:
            if self._used + n > self.limit:
                return False
            self._used += n
            return True

    def _give(self, n: int) -> None:
        with self._lock:
            self._used -= n


class Lease:
    """One request's share of a budget (``budget=None``: nothing is accounted, for
    callers outside a request such as tests and tools)."""

    def __init__(self, budget: BodyBudget | None) -> None:
        self.budget = budget
        self.held = 0

    def grow(self, n: int) -> None:
        """Reserve ``n`` more bytes before allocating them."""
        budget = self.budget
        if budget is not None:
            if self.held + n > budget.limit:
                raise errors.PayloadTooLarge(
                    f"Decoding this request would take about {_mib(self.held + n)} "
                    f"of memory, more than a worker allows for all request bodies "
                    f"at once ({_mib(budget.limit)}); send it in smaller requests."
                )
            if not budget._take(n):
                raise errors.Overloaded(
                    "The server is busy decoding other large requests; "
                    "retry in a moment."
                )
        self.held += n

    def shrink(self, n: int) -> None:
        """Give back ``n`` bytes (at most what is held) that are freed."""
        n = min(n, self.held)
        if self.budget is not None:
            self.budget._give(n)
        self.held -= n

    def close(self) -> None:
        self.shrink(self.held)


def lease_of(req: falcon.Request) -> Lease:
    """The request's lease, or one that accounts nothing outside a BudgetedApp."""
    lease = req.env.get(LEASE_KEY)
    return lease if isinstance(lease, Lease) else Lease(None)


class BudgetedApp(falcon.App):  # type: ignore[type-arg]
    """A Falcon app whose requests lease their bodies' memory from one budget."""

    def __init__(
        self, *, body_budget: BodyBudget, cooperative: bool = False, **options: Any
    ) -> None:
        super().__init__(**options)
        self.body_budget = body_budget
        # whether the store waits cooperatively (``Backend.cooperative``): the loop
        # worker then runs small requests on its loop
        self.cooperative = cooperative

    def __call__(self, env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        lease = env[LEASE_KEY] = self.body_budget.lease()
        try:
            return super().__call__(env, start_response)
        finally:
            # By now the responder has returned and its request's tree is garbage;
            # a streamed response body holds none of it.
            lease.close()


def _mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB"

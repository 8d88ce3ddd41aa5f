"""A worker's budget for request bodies: leases, refusals, and what is given back."""

from __future__ import annotations

import threading

import pytest

from service import errors
from service.web.budget import BodyBudget, Lease


def test_leases_share_the_budget_and_give_it_back() -> None:
    budget = BodyBudget(1000)
    first, second = budget.lease(), budget.lease()
    first.grow(600)
    second.grow(400)
    assert budget.used == 1000
    with pytest.raises(errors.Overloaded) as refused:
        second.grow(1)
    assert refused.value.status == 503 and refused.value.retry_after == 1
    first.close()
    second.grow(1)  # room again
    assert budget.used == 401
    second.close()
    assert budget.used == 0


def test_more_than_the_whole_budget_is_a_413_not_a_retry() -> None:
    budget = BodyBudget(1000)
    lease = budget.lease()
    lease.grow(900)
    with pytest.raises(errors.PayloadTooLarge, match="more than a worker allows"):
        lease.grow(101)
    assert lease.held == 900  # a refused reservation takes nothing
    lease.close()
    assert budget.used == 0


def test_shrinking_gives_back_no_more_than_is_held() -> None:
    budget = BodyBudget(1000)
    lease = budget.lease()
    lease.grow(100)
    lease.shrink(500)
    lease.close()
    assert budget.used == 0 and lease.held == 0


def test_a_lease_without_a_budget_accounts_nothing() -> None:
    lease = Lease(None)
    lease.grow(10**12)
    lease.close()
    assert lease.held == 0


def test_threads_never_take_more_than_the_budget() -> None:
    budget = BodyBudget(10_000)
    peak = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(500):
            lease = budget.lease()
            try:
                lease.grow(700)
                lease.grow(700)
                with lock:
                    peak[0] = max(peak[0], budget.used)
            except errors.Overloaded:
                pass
            finally:
                lease.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.used == 0
    assert peak[0] <= 10_000

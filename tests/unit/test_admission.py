"""Admission of heavy requests: a few at once, the next first come first served."""

from __future__ import annotations

from service.serving.admission import Admission, Verdict


def test_requests_run_up_to_the_slots_then_wait_in_arrival_order() -> None:
    gate: Admission[str] = Admission(slots=2, wait=1.0)
    assert gate.enter("a", 0.0) is Verdict.RUN
    assert gate.enter("b", 0.1) is Verdict.RUN
    assert gate.enter("c", 0.2) is Verdict.WAIT
    assert gate.enter("d", 0.3) is Verdict.WAIT
    assert gate.next_deadline() == 1.2
    assert gate.leave() == "c"  # the first to wait runs next
    assert gate.leave() == "d"
    assert gate.leave() is None
    assert gate.leave() is None
    assert gate.running == 0


def test_a_newcomer_does_not_overtake_those_waiting() -> None:
    gate: Admission[str] = Admission(slots=1, wait=1.0)
    gate.enter("a", 0.0)
    gate.enter("b", 0.0)
    assert gate.leave() == "b"
    assert gate.enter("c", 0.5) is Verdict.WAIT  # b runs: c waits behind it


def test_those_that_waited_their_time_leave_the_queue() -> None:
    gate: Admission[str] = Admission(slots=1, wait=1.0)
    gate.enter("a", 0.0)
    gate.enter("b", 0.0)
    gate.enter("c", 0.5)
    assert gate.expired(0.99) == []
    assert gate.expired(1.0) == ["b"]
    assert gate.expired(2.0) == ["c"]
    assert gate.next_deadline() is None
    assert gate.leave() is None  # nobody left to run


def test_without_a_wait_a_busy_gate_turns_away_at_once() -> None:
    gate: Admission[str] = Admission(slots=1, wait=0)
    assert gate.enter("a", 0.0) is Verdict.RUN
    assert gate.enter("b", 0.0) is Verdict.REJECT
    assert gate.leave() is None
    assert gate.enter("c", 0.0) is Verdict.RUN

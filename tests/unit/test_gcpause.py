"""Decoding pauses the cyclic collector and always gives it back as it found it."""

from __future__ import annotations

import gc
import threading

import pytest

from service.gcpause import collector_paused


def test_the_collector_is_off_while_paused_and_on_again_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last_one() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second decoder is still at work
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_an_error_while_paused_gives_the_collector_back() -> None:
    with pytest.raises(ValueError, match="bad body"), collector_paused():
        raise ValueError("bad body")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_threads_pausing_at_once_leave_it_on() -> None:
    def decode() -> None:
        for _ in range(200):
            with collector_paused():
                pass

    threads = [threading.Thread(target=decode) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()

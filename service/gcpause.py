"""Pausing Python's cyclic garbage collector while a request body is decoded, or
a query's answer is built (the same many young containers: a tuple per point).

Decoding a body of 10,000 points allocates some 30,000 containers at once, and every
700 allocations start a collection that walks all the young ones again (and, as they
age, the older generations): measured, half of ``ujson.loads``'s time on such a body.
A decoded JSON tree holds no reference cycles, so reference counting frees all of it
anyway; the collector only needs to run again once decoding is done, and does.

The collector is one per process and the worker's threads decode at once: the pause
is counted, and the collector comes back when the last decoder finishes (and only if
it was on when the first began).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()

"""Running the synchronous app on the event loop's thread, a request per greenlet.

The app (Falcon's WSGI app, the dialects, the store) is plain synchronous code. Under
the loop worker a small request runs it in a greenlet of the loop's thread: when the
code would block on Cassandra, it switches back to the loop instead (``wait``), which
serves other connections meanwhile and resumes the request once the driver has
answered. No thread is handed the request and none waits for it: a small write costs
no thread switch at all, where a pool thread costs several (the GIL handed back and
forth between the loop, the thread and the driver's I/O thread).

Code that is not in such a greenlet (a pool thread, a test, a tool, gthread) blocks as
it always did: ``active()`` is False there and the callers take their usual path.
This is the pattern SQLAlchemy's asyncio support uses (``greenlet_spawn``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

_T = TypeVar("_T")

# The loop of this process's serving worker, once it runs (one per process), and
# the thread it runs on.
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: int | None = None


class _RequestGreenlet(greenlet):  # type: ignore[misc]
    """A request's run of the app; its parent is the loop's greenlet."""


def install(loop: asyncio.AbstractEventLoop | None) -> None:
    """Called by the worker in its process once its loop runs (``None``: no loop
    serves this process any more, for tests)."""
    global _loop, _loop_thread
    _loop = loop
    _loop_thread = threading.get_ident() if loop is not None else None


def loop() -> asyncio.AbstractEventLoop | None:
    """The serving loop of this process, if there is one."""
    return _loop


def on_loop_thread() -> bool:
    """Whether the caller runs on the serving loop's thread (where nothing may wait
    for the loop)."""
    return _loop_thread is not None and threading.get_ident() == _loop_thread


def active() -> bool:
    """Whether the caller runs in a request's greenlet on the loop (and so must
    ``wait`` instead of blocking)."""
    return isinstance(getcurrent(), _RequestGreenlet)


def wait(awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable`` from a request's greenlet: the loop runs on meanwhile."""
    current = getcurrent()
    assert isinstance(current, _RequestGreenlet), "wait() outside a request greenlet"
    result: _T = current.parent.switch(awaitable)
    return result


def wait_within(fut: asyncio.Future[Any], seconds: float) -> bool:
    """``wait`` for ``fut`` (a future of the loop) at most ``seconds``: whether it
    completed in time. (A timer of the loop, not a task: this is a hot path.)"""
    assert _loop is not None
    timer = _loop.call_later(seconds, _settle, fut, _Late())
    try:
        wait(fut)
    except _Late:
        return False
    finally:
        timer.cancel()
    return True


class _Late(TimeoutError):
    """A future ``wait_within`` gave up on."""


def blocking(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``, which blocks (a connect, a prepare): from a request's greenlet
    on a pool thread, awaited; elsewhere, here."""
    if not active():
        return fn(*args)
    assert _loop is not None
    return wait(_loop.run_in_executor(None, fn, *args))


async def run(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` in a request greenlet, awaiting what it ``wait``s for."""
    child = _RequestGreenlet(fn, getcurrent())
    value = child.switch(*args)
    while not child.dead:
        try:
            result = await value
        except BaseException as exc:  # into the request, where it was awaited
            value = child.throw(exc)
        else:
            value = child.switch(result)
    out: _T = value
    return out


def future() -> asyncio.Future[Any]:
    """A future of the loop, to be completed from any thread with ``complete``."""
    assert _loop is not None
    return _loop.create_future()


def complete(fut: asyncio.Future[Any], error: BaseException | None = None) -> None:
    """Complete ``fut`` (from any thread: the driver's callbacks may run on its own)."""
    soon(_settle, fut, error)


def soon(fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` on the loop soon, from any thread (on the loop's own, without
    the wake-up another thread needs)."""
    assert _loop is not None
    if on_loop_thread():
        _loop.call_soon(fn, *args)
    else:
        _loop.call_soon_threadsafe(fn, *args)


def _settle(fut: asyncio.Future[Any], error: BaseException | None) -> None:
    if fut.done():  # (timed out meanwhile)
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)

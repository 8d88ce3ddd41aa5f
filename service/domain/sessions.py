"""Session inference: a session is a maximal run of a (user, device)'s event
timestamps in which consecutive timestamps are at most the project's gap apart.

Sessions are derived from the stored events whenever they are read (see
docs/sessions.md): the events are stored idempotently in one place, so whatever order
they arrive in and however many workers write them, the sessions read are exactly the
runs of the events acknowledged so far.
"""

from __future__ import annotations

import base64
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import ujson

from service.records import LONG_MAX, LONG_MIN

# The longest unique_id a data point may carry (as the Liquid dialect checks), and
# the longest session id two such ids and a time can make (base64 of their JSON,
# each character escaped at most as \uXXXX).
MAX_ID = 255
MAX_SESSION_ID = 4 * (2 * MAX_ID * 12 + 64) // 3


@dataclass(frozen=True)
class Run:
    start: int
    end: int
    count: int

    @property
    def length_s(self) -> float:
        return (self.end - self.start) / 1000


def runs(timestamps: Iterable[int], gap_ms: int) -> list[Run]:
    """The maximal runs of sorted timestamps with gaps of at most ``gap_ms``."""
    out: list[Run] = []
    start = prev = None
    count = 0
    for ts in timestamps:
        if prev is not None and ts - prev > gap_ms:
            out.append(Run(start, prev, count))  # type: ignore[arg-type]
            start, count = ts, 0
        if start is None:
            start = ts
        prev = ts
        count += 1
    if prev is not None:
        out.append(Run(start, prev, count))  # type: ignore[arg-type]
    return out


def chained(
    descending_or_ascending: Iterator[int], anchor: int, gap_ms: int
) -> list[int]:
    """Timestamps walked away from ``anchor`` for as long as each is within the gap
    of the one before (the anchor first): the part of the history beyond a window
    that can still belong to a session reaching into it."""
    out = []
    prev = anchor
    for ts in descending_or_ascending:
        if abs(prev - ts) > gap_ms:
            break
        out.append(ts)
        prev = ts
    return out


def merged(streams: Sequence[Iterator[int]], *, reverse: bool = False) -> Iterator[int]:
    """Timestamps of several id's sorted streams as one sorted stream."""
    return heapq.merge(*streams, reverse=reverse)


def session_id(user_id: str, device_id: str, start: int) -> str:
    raw = ujson.dumps([user_id, device_id, start], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_session_id(text: str) -> tuple[str, str, int] | None:
    """The parts of an id ``session_id`` made; None for anything else (no session
    can have it): a time outside 64 bits, ids no data point can carry."""
    if len(text) > MAX_SESSION_ID:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        user_id, device_id, start = ujson.loads(raw)
    except (ValueError, TypeError):
        return None
    if not (
        _an_id(user_id)
        and _an_id(device_id)
        and type(start) is int
        and LONG_MIN <= start <= LONG_MAX
    ):
        return None
    return user_id, device_id, start


def _an_id(value: object) -> bool:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        return False
    try:
        value.encode("utf-8")  # a lone surrogate (JSON's "\ud800") is no text
    except UnicodeEncodeError:
        return False
    return True

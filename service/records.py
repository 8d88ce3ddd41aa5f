"""The service's own record types: what every dialect translates its payload into.

A *series* is a metric name plus a set of tags. Points are
``(timestamp_ms, type, value)`` triples whose value is already validated by its data
type (see ``service.datatypes``); storage drivers encode them with the type's codec.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

# (re-exported: every layer takes its records from here)
from service.columnar import Point as Point
from service.columnar import Points as Points

# One namespace for clients that do not authenticate (plain KairosDB clients).
PUBLIC_PROJECT = "public"
DEFAULT_SESSION_GAP = 300

Tags = tuple[tuple[str, str], ...]

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

# The longest name (metric, tag name or value, datastream, unit or user id: anything
# that becomes part of a Cassandra partition or clustering key), in UTF-8 bytes.
# Cassandra refuses key components over 64 KiB, and a partition key holds several
# names (metric, tag name and tag value): 4 KiB each keeps every key far below that
# and every name any client really uses well within it.
MAX_NAME_BYTES = 4096
NAME_TOO_LONG = f"may not be longer than {MAX_NAME_BYTES} bytes (UTF-8)"


# A series' tags, in all: every index row of the series holds all of them, and the
# series_by_tag table holds one such row per tag, so both bound what one series costs
# the index (and keep an index batch of 200 rows far below Cassandra's 16 MiB
# mutation limit).
MAX_TAGS = 100
MAX_TAGS_BYTES = 32 * 1024


def tags_problem(tags: Mapping[str, str]) -> str | None:
    """What is wrong with a series' tags as a whole (count, total size), or None."""
    if len(tags) > MAX_TAGS:
        return f"tags count must be less than or equal to {MAX_TAGS}"
    chars = sum(len(k) + len(v) for k, v in tags.items())
    if chars > MAX_TAGS_BYTES // 4 and (
        sum(len(k.encode()) + len(v.encode()) for k, v in tags.items()) > MAX_TAGS_BYTES
    ):
        return f"tags may not be longer than {MAX_TAGS_BYTES} bytes (UTF-8) in all"
    return None


def name_too_long(text: str) -> bool:
    """True when ``text`` is over :data:`MAX_NAME_BYTES` in UTF-8."""
    # A character is at most 4 bytes: short names (nearly all) need no encoding.
    return (
        len(text) > MAX_NAME_BYTES // 4
        and len(text.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
    )


def canonical_tags(tags: dict[str, str]) -> Tags:
    """Tags sorted by name: the one order every hash and comparison uses."""
    return tuple(sorted(tags.items()))


def tag_hash(tags: Tags) -> int:
    """A stable signed 64-bit hash of a canonical tag set (the partition key part)."""
    # A device or host writes the same few short tags request after request, and
    # each request makes new SeriesKeys: their hashes are remembered. (Only short
    # ones, so the cache holds a few MiB at most whatever clients send.)
    if len(tags) <= _CACHED_TAGS and all(
        len(name) + len(value) <= _CACHED_TAG_CHARS for name, value in tags
    ):
        return _cached_tag_hash(tags)
    return _tag_hash(tags)


_CACHED_TAGS = 4
_CACHED_TAG_CHARS = 64


@functools.lru_cache(maxsize=8192)
def _cached_tag_hash(tags: Tags) -> int:
    return _tag_hash(tags)


def _tag_hash(tags: Tags) -> int:
    """Names and values are length-prefixed so no choice of characters can make two
    different tag sets encode alike.
    """
    h = hashlib.blake2b(digest_size=8)
    for name, value in tags:
        for part in (name, value):
            raw = part.encode("utf-8")
            h.update(len(raw).to_bytes(4, "big"))
            h.update(raw)
    return int.from_bytes(h.digest(), "big", signed=True)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    metric: str
    tags: Tags
    # tag_hash(tags), computed on first use: a store asks for it once per point
    # row or block, and blake2b over every tag each time added up.
    _hash: int | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    @property
    def hash(self) -> int:
        h = self._hash
        if h is None:
            h = tag_hash(self.tags)
            object.__setattr__(self, "_hash", h)
        return h


@dataclass(slots=True)
class PointBatch:
    """Points of one series written with one TTL (seconds; 0 = the default TTL).

    ``points`` may be given as ``(ts, type, value)`` triples (tests and small
    builders do); they are held as columns.
    """

    series: SeriesKey
    points: Points = field(default_factory=Points.empty)
    ttl: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.points, Points):
            self.points = Points.from_tuples(self.points)


def row_time(ts: int, width: int) -> int:
    """Start of the partition (row) that holds ``ts``.

    Floor division, so negative timestamps fall into proper buckets too (KairosDB's
    ``ts - |ts| % width`` gives pre-1970 points a partition each). The lowest bucket
    would start below the 64-bit range, so its start is clamped to the smallest long.
    """
    rt = ts - ts % width
    return rt if rt >= LONG_MIN else LONG_MIN


def row_times_of(ts: np.ndarray, width: int) -> np.ndarray:
    """:func:`row_time` of each of an int64 array of timestamps."""
    rt: np.ndarray = ts - ts % width  # (numpy's % floors, as Python's)
    # ts - ts % width is never above ts: above it, it wrapped past the smallest long
    return np.where(rt > ts, LONG_MIN, rt)


def row_times(start: int, end: int, width: int) -> list[int]:
    """Every row start from the row of ``start`` to the row of ``end``."""
    first = start - start % width
    return [max(rt, LONG_MIN) for rt in range(first, end - end % width + 1, width)]


@dataclass(frozen=True)
class TagMatch:
    """What one tag of a series must be: one of ``values``, or a full match of one of
    ``patterns`` (KairosDB's ``regex:`` filter values)."""

    values: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        return value in self.values or any(p.fullmatch(value) for p in self.patterns)

    @property
    def exact(self) -> bool:
        """True when the match can be answered from the tag index alone."""
        return not self.patterns


# Tag name -> match; a series matches when every named tag matches (AND across tags,
# OR within one). A series without one of the named tags does not match.
TagFilter = Mapping[str, TagMatch]


def tags_match(tags: Mapping[str, str], flt: TagFilter) -> bool:
    return all(match.matches(tags.get(name)) for name, match in flt.items())


@dataclass(frozen=True, slots=True)
class Event:
    """One analytics event (a Liquid data point) about a user on a device."""

    user_id: str
    device_id: str
    ts: int  # ms since the epoch
    event_id: bytes  # identical data points have identical ids (stored once)
    name: str
    attributes: dict[str, Any]
    user_attributes: dict[str, Any]
    device_attributes: dict[str, Any]
    identified: bool
    extras: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back; ``user_id`` is the id it was stored under."""

    user_id: str
    device_id: str
    ts: int
    event_id: bytes
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    user_attributes: dict[str, Any] = field(default_factory=dict)
    device_attributes: dict[str, Any] = field(default_factory=dict)
    identified: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    """A user's or device's latest attributes and when it was first and last seen."""

    attributes: dict[str, Any]
    first_seen: int
    last_seen: int
    identified: bool = False
    last_device: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment point's metadata, kept in its session; ``id`` names its bytes."""

    filename: str
    content_type: str
    length: int
    md5: str
    id: str

    def public(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "length": self.length,
            "md5": self.md5,
        }


@dataclass(frozen=True, slots=True)
class Upload:
    """Attachment bytes as a client sent them."""

    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class FormSession:
    """One filled-in form from one device (a Mobile Data Anywhere session)."""

    uuid: str
    unit_id: str
    created: int  # unix seconds
    saved: int
    received: int
    is_deleted: bool = False
    # point name (lower case) -> scalar value, or Attachment
    data: dict[str, Any] = field(default_factory=dict)

    def attachments(self) -> dict[str, Attachment]:
        return {k: v for k, v in self.data.items() if isinstance(v, Attachment)}


@dataclass(frozen=True, slots=True)
class FormDevice:
    unit_id: str
    first_used: int  # unix seconds
    last_used: int
    session_count: int


@dataclass(frozen=True, slots=True)
class Device:
    """An IoT device (OneNET)."""

    id: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    location: Any = None
    auth_info: str = ""
    other: Any = None
    private: bool = True
    protocol: str = "HTTP"
    created_at: int = 0  # ms since the epoch
    key_hash: bytes = b""
    key_nonce: bytes = b""


@dataclass(frozen=True, slots=True)
class Stream:
    """A device's datastream; its points are the series (stream id, device_id=...)."""

    id: str
    tags: tuple[str, ...] = ()
    unit: str = ""
    unit_symbol: str = ""
    create_time: int = 0  # ms since the epoch


@dataclass(frozen=True)
class Project:
    """A tenant: a Liquid app, a form project, an IoT product (see
    ``service.domain.projects`` for its keys)."""

    id: str
    name: str
    mode: str = "development"
    session_gap: int = DEFAULT_SESSION_GAP  # seconds
    timezone: str = "UTC"
    key_hash: bytes = b""
    key_nonce: bytes = b""
    created_at: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

    @property
    def development(self) -> bool:
        return self.mode == "development"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def public(self) -> dict[str, object]:
        """What `projects show` prints: everything but the key material."""
        return {
            "id": self.id,
            "name": self.name,
            "mode": self.mode,
            "session_gap": self.session_gap,
            "timezone": self.timezone,
            "created_at": self.created_at.isoformat(),
        }

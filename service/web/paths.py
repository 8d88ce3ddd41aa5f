"""Which dialect a path belongs to, and which requests are heavy.

One table for the app and the serving worker: the app renders an error on a path no
route took in that path's dialect, and the worker (``service.serving``) renders
gunicorn's own errors (a request line too long, a malformed header, a timeout) and
decides which requests wait for a heavy slot, all before Falcon sees the request.
Paths are as Falcon routes them: percent-decoded, one trailing slash stripped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

KAIROSDB = "kairosdb"
LIQUID = "liquid"  # the collect API: /data_points, /aliases, /collect/...
ANALYZE = "analyze"  # Liquid's analyze API, which has an envelope of its own
MDA = "mda"
ONENET = "onenet"
# Every name dialect_of gives: the table of envelopes (``service.app``) has them all.
NAMES = (KAIROSDB, LIQUID, ANALYZE, MDA, ONENET)

# Under /api/v1/ these belong to Mobile Data Anywhere; the rest is KairosDB's.
_MDA_UNDER_API_V1 = frozenset(("projects", "project", "sessions", "time", "devices"))
_FIRST_SEGMENT = {
    "data_points": LIQUID,
    "aliases": LIQUID,
    "collect": LIQUID,
    "analyze": ANALYZE,
    "devices": ONENET,
}


def dialect_of(path: str) -> str:
    """The dialect whose envelope an error on ``path`` is answered in; KairosDB's
    for paths that belong to none."""
    parts = path.split("/", 4)  # "", first, second, third, rest
    first = parts[1] if len(parts) > 1 else ""
    if first == "api" and len(parts) > 3 and parts[2] == "v1":
        return MDA if parts[3] in _MDA_UNDER_API_V1 else KAIROSDB
    return _FIRST_SEGMENT.get(first, KAIROSDB)


# Requests whose cost grows with the data they read or delete, not with their body:
# queries, listings and range deletes. A worker runs a bounded number of them at once.
_HEAVY: Mapping[str, re.Pattern[str]] = {
    "GET": re.compile(
        r"/api/v1/datapoints/query"
        r"|/analyze/.+"
        r"|/devices/datapoints|/devices/[^/]+/datapoints"
        r"|/api/v1/projects?/[^/]+/sessions|/api/v1/devices"
    ),
    "POST": re.compile(
        r"/api/v1/datapoints/(?:query|query/tags|delete)",
    ),
    "DELETE": re.compile(r"/api/v1/metric/[^/]+|/devices/[^/]+/datapoints"),
}


def is_heavy(method: str, path: str) -> bool:
    pattern = _HEAVY.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


# The writes phones, devices and SDKs send a few points or an event at a time:
# KairosDB's datapoints, Liquid's collect, OneNET's upload, MDA's session create. The
# loop worker runs these on its loop (``service.serving.bridge``) when their bodies
# are small; every other request on a pool thread.
_SMALL_WRITES = re.compile(
    r"/api/v1/datapoints"
    r"|(?:/collect)?/data_points"
    r"|/devices/[^/]+/datapoints"
    r"|/api/v1/projects?/[^/]+/sessions"
)


def is_small_write(method: str, path: str) -> bool:
    return method == "POST" and _SMALL_WRITES.fullmatch(path) is not None

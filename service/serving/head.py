"""A request's head (request line and headers) as the event loop reads it.

The worker's main loop reads heads without a thread; these decide when it has read
enough to hand the request to one, and what the request is (for the envelope of an
error and for admission) before gunicorn's parser runs.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from gunicorn.util import split_request_uri, unquote_to_wsgi_str

# The loop buffers at most this much of a head; a longer one (rare: 100 headers of
# up to 8 KiB are allowed) is read on by a thread, within the same deadline. So a
# worker's heads in progress take at most this times its connections (1000).
MAX_BUFFERED = 32 * 1024
_END = b"\r\n\r\n"
# gunicorn refuses a bare LF at once: no need to wait for more.
_BARE_LF = re.compile(rb"(?<!\r)\n")


def ready(head: bytearray, start: int, line_limit: int) -> bool:
    """True once ``head`` (of which bytes from ``start`` on are new) is enough for the
    parser to decide: the head is complete, or already malformed or too long."""
    if head.find(_END, max(0, start - 3)) >= 0:
        return True
    if _BARE_LF.search(head, start) is not None:
        return True
    if len(head) >= MAX_BUFFERED:
        return True
    # A request line past the limit is a 414 whatever follows.
    return len(head) > line_limit + 2 and head.find(b"\n", 0, line_limit + 4) < 0


class Target(NamedTuple):
    method: str
    path: str


# method SP request-target: what gunicorn splits the request line into first
_REQUEST_LINE = re.compile(rb"(?:\r\n)?([^ \r\n]+) ([^ \r\n]+)")


def target(head: bytes | bytearray) -> Target | None:
    """The method and path of the request line at the start of ``head`` (perhaps
    cut short), as gunicorn and Falcon will see them: percent-decoded, one trailing
    slash stripped. None when not even a method and a target were sent."""
    match = _REQUEST_LINE.match(head)
    if match is None:
        return None
    raw = match.group(2).decode("latin-1")
    if raw[:1] == "/" and raw[1:2] != "/":  # the usual origin form, quickly
        path = raw.partition("?")[0].partition("#")[0]
    else:
        try:
            path = split_request_uri(raw).path or "/"
        except ValueError:
            path = raw.partition("?")[0]
    return Target(match.group(1).decode("latin-1"), routed(path_info(path)))


def path_info(path: str) -> str:
    """WSGI's PATH_INFO of a request target's path (as gunicorn makes it):
    percent-decoded to bytes, read as latin-1."""
    return unquote_to_wsgi_str(path) if "%" in path else path


def routed(path_info: str) -> str:
    """The path Falcon routes for a PATH_INFO: UTF-8 decoded, one trailing slash
    stripped."""
    path = path_info
    if not path.isascii():
        path = path.encode("latin-1").decode("utf-8", "replace")
    if len(path) > 1 and path[-1] == "/":
        path = path[:-1]
    return path

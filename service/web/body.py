"""Reading request bodies within the configured limits.

The body as sent, the body decompressed and (for JSON) the number of values it decodes
into are each capped while the body arrives, so a gzip bomb or a body of millions of
tiny values is refused (413) after a few MB, before anything is decoded. Every byte
kept is leased from the worker's budget first (service/web/budget.py), so many large
bodies at once are a 503 with Retry-After instead of an out-of-memory.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import falcon
import ujson
from falcon.util.mediatypes import parse_header

from service import errors
from service.config import Limits
from service.gcpause import collector_paused
from service.web.budget import Lease, lease_of
from service.web.jsonsize import Buffer, ValueCounter

_CHUNK = 64 * 1024
# A body of at most this many bytes with a Content-Length and no compression (a small
# write's) is read whole in one call.
_SMALL = _CHUNK
# Most bytes one decompress call may produce: a bomb is counted and capped in steps
# of this, never in one allocation.
_STEP = 256 * 1024
# Bodies up to this size decode into too few containers (a few thousand at most) for
# the collector's passes over them to matter: no pause, which costs more.
_PAUSE_FROM = 16 * 1024
# wbits for zlib: 16+15 reads gzip, 15 reads zlib-wrapped deflate.
_GZIP = 31
_DEFLATE = 15
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def read_body(
    req: falcon.Request,
    limits: Limits,
    *,
    gzip_types: tuple[str, ...] = (),
    json: bool = False,
) -> bytes:
    """The request body, decompressed when ``Content-Encoding`` (or, for legacy
    clients, one of ``gzip_types`` as ``Content-Type``) says it is compressed.

    ``json=True`` when the caller decodes it as JSON: its values are then counted
    and capped as it arrives, and the memory to decode it leased in advance."""
    body, counter = _read(req, limits, gzip_types=gzip_types, json=json)
    lease = lease_of(req)
    if counter is not None:
        lease.grow(sum(counter.estimate(body)))  # decoded by the caller
    lease.grow(len(body))  # held twice while it is copied
    data = bytes(body)
    body.clear()
    lease.shrink(len(data))
    return data


def read_json(
    req: falcon.Request, limits: Limits, *, gzip_types: tuple[str, ...] = ()
) -> Any:
    """The decoded JSON body; malformed JSON is an ``InvalidInput``."""
    body, counter = _read(req, limits, gzip_types=gzip_types, json=True)
    assert counter is not None
    tree, scratch = counter.estimate(body)
    lease = lease_of(req)
    lease.grow(tree + scratch)
    doc = parse_json(body)
    # The body and ujson's scratch are garbage now; the tree lives on with the request.
    freed = len(body) + scratch
    body.clear()
    lease.shrink(freed)
    return doc


def _read(
    req: falcon.Request, limits: Limits, *, gzip_types: tuple[str, ...], json: bool
) -> tuple[bytearray, ValueCounter | None]:
    length = req.content_length
    cap = limits.max_body_bytes
    if length is not None and length > cap:
        raise errors.PayloadTooLarge(
            f"Request body of {length} bytes is larger than the limit of {cap} bytes."
        )
    encoding = (req.get_header("Content-Encoding") or "identity").strip().lower()
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if encoding in ("gzip", "x-gzip") or (
        encoding == "identity" and content_type in gzip_types
    ):
        wbits, name = _GZIP, "gzip"
    elif encoding == "deflate":
        wbits, name = _DEFLATE, "deflate"
    elif encoding == "identity":
        wbits, name = 0, "Request"
    else:
        raise errors.UnsupportedMediaType(
            f"Content-Encoding '{encoding}' is not supported; use gzip or none."
        )
    lease = lease_of(req)
    counter = ValueCounter(limits.json_values) if json else None
    if not wbits and length is not None and length <= _SMALL:
        body = _small(req, length, cap, lease, counter)
    else:
        body = _chunked(req, cap, wbits, name, limits, lease, counter)
    if counter is None and content_type in _FORMS:
        _check_fields(body, req.content_type or "", limits.max_form_fields)
        # the fields or parts are copied out of the body as they are parsed
        lease.grow(len(body))
    return body, counter


def _small(
    req: falcon.Request,
    length: int,
    cap: int,
    lease: Lease,
    counter: ValueCounter | None,
) -> bytearray:
    """A small body as sent, of a known length (within the cap, checked): read in
    one call into the same sink as ``_chunked``'s, without ``_Incoming``'s chunks."""
    stream = req.bounded_stream  # (never reads past the Content-Length)
    sink = _Sink(cap, "Request", lease, counter)
    try:
        while piece := stream.read(length - len(sink.body)):
            sink.add(piece)
    except errors.ServiceError:
        _Incoming(req, cap).discard_rest()
        raise
    return sink.body


def _chunked(
    req: falcon.Request,
    cap: int,
    wbits: int,
    name: str,
    limits: Limits,
    lease: Lease,
    counter: ValueCounter | None,
) -> bytearray:
    """The body as it arrives, in chunks, decompressed (``wbits``) or not."""
    incoming = _Incoming(req, cap)
    try:
        if wbits:
            sink = _Sink(limits.max_decompressed_bytes, "Decompressed", lease, counter)
            _inflate(incoming, wbits, name, sink)
        else:
            sink = _Sink(cap, "Request", lease, counter)
            for chunk in incoming:
                sink.add(chunk)
    except errors.ServiceError:
        incoming.discard_rest()
        raise
    return sink.body


class _Sink:
    """The body so far: capped, leased before it grows and, for JSON, counted."""

    def __init__(
        self, cap: int, what: str, lease: Lease, counter: ValueCounter | None
    ) -> None:
        self.cap, self.what, self.lease, self.counter = cap, what, lease, counter
        # A bytearray grows in place (large ones by mremap): no list of pieces and
        # no join, which would hold the body twice.
        self.body = bytearray()

    def add(self, piece: bytes) -> None:
        if len(self.body) + len(piece) > self.cap:
            raise errors.PayloadTooLarge(
                f"{self.what} body is larger than the limit of {self.cap} bytes."
            )
        self.lease.grow(len(piece))
        self.body += piece
        if self.counter is not None:
            self.counter.add(piece, self.body)


class _Incoming:
    """The body as sent, in chunks, never read past the cap."""

    def __init__(self, req: falcon.Request, cap: int) -> None:
        # With a Content-Length the bounded stream stops at it; without one (chunked
        # transfer) read the raw stream until EOF, but never past the cap.
        chunked = req.content_length is None
        self.stream = req.stream if chunked else req.bounded_stream
        self.cap = cap
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._next():
            yield chunk

    def discard_rest(self) -> None:
        """Reads and drops what the client is still sending (up to the cap): a
        server that answers and closes with bytes unread resets the connection,
        and a client still sending may never see the answer."""
        with contextlib.suppress(errors.PayloadTooLarge):  # past the cap: stop
            while self._next():
                pass

    def _next(self) -> bytes:
        if self.total > self.cap:
            return b""
        chunk: bytes = self.stream.read(min(_CHUNK, self.cap + 1 - self.total))
        self.total += len(chunk)
        if self.total > self.cap:
            raise errors.PayloadTooLarge(
                f"Request body is larger than the limit of {self.cap} bytes."
            )
        return chunk


def _inflate(chunks: Iterable[bytes], wbits: int, name: str, sink: _Sink) -> None:
    """Decompresses the chunks into ``sink`` as they arrive: the compressed body is
    never held whole, and output comes in steps of at most _STEP."""
    inflater: Any = None  # zlib's Decompress type is not importable
    try:
        for data in chunks:
            while data:
                if inflater is None:
                    inflater = zlib.decompressobj(wbits)
                data = _decompress(inflater, data, sink)
                if inflater.eof:
                    if wbits != _GZIP:
                        return  # deflate: anything after its stream is ignored
                    inflater = None  # gzip: members may follow back to back
    except zlib.error as exc:
        raise errors.InvalidInput(f"Invalid {name} body: {exc}.") from None
    if inflater is not None:
        raise errors.InvalidInput(f"Invalid {name} body: it is truncated.")


def _decompress(inflater: Any, data: bytes, sink: _Sink) -> bytes:
    """Feeds ``data`` to the inflater; returns what follows the end of its stream."""
    while True:
        piece = inflater.decompress(data, _STEP)
        sink.add(piece)
        data = inflater.unconsumed_tail
        if inflater.eof:
            return bytes(inflater.unused_data)
        if not data and len(piece) < _STEP:
            return b""  # all consumed and nothing pending


def _check_fields(body: Buffer, content_type: str, limit: int) -> None:
    """Refuses a form with more than ``limit`` fields (urlencoded) or parts
    (multipart) before it is parsed: parsing costs milliseconds a field."""
    kind, params = parse_header(content_type)
    if kind == "multipart/form-data":
        boundary = params.get("boundary", "")
        # every part opens with a delimiter line, and one more closes the body
        found = body.count(b"--" + boundary.encode("utf-8", "replace")) - 1
        what = "parts"
    else:
        found = body.count(b"&") + 1
        what = "fields"
    if found > limit:
        raise errors.PayloadTooLarge(
            f"The form has more than {limit} {what}, the most one request may."
        )


# A UTF-16 surrogate, escaped (``\\ud800``) or as raw (invalid) UTF-8 bytes. ujson
# turns both into a lone surrogate in a str, which is not Unicode text: it cannot be
# encoded for the store or for a response. Valid pairs match too; the tree walk below
# tells them apart, and only bodies that match pay for it.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def parse_json(data: Buffer, *, max_values: int | None = None) -> Any:
    """Decodes JSON text; ``max_values`` caps the values it may decode into (read_json
    counted them already, while the body arrived)."""
    if not data or data.isspace():
        raise errors.InvalidInput("Invalid json. No content due to end of input.")
    if max_values is not None:
        ValueCounter(max_values).add(data, data)
    try:
        if len(data) > _PAUSE_FROM:
            with collector_paused():
                doc = ujson.loads(data)
        else:
            doc = ujson.loads(data)
    except (ValueError, OverflowError) as exc:
        raise errors.InvalidInput(f"Invalid json. {_where(data, exc)}") from None
    if _may_hold_surrogate(data) and not _is_text(doc):
        raise errors.InvalidInput(
            "Invalid json. A string holds a lone UTF-16 surrogate (such as \\ud800), "
            "which is not valid Unicode text."
        )
    return doc


def _may_hold_surrogate(data: Buffer) -> bool:
    # A body without a backslash or the byte 0xED (nearly every body: a memchr each)
    # needs no regex scan, which costs about as much as decoding the JSON.
    if b"\\" not in data and b"\xed" not in data:
        return False
    return _SURROGATE.search(data) is not None


def _is_text(doc: Any) -> bool:
    """True when every string (keys included) in the decoded tree is valid Unicode."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not is_unicode(node):
                return False
        elif isinstance(node, dict):
            for key, value in node.items():
                if not is_unicode(key):
                    return False
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return True


def is_unicode(text: str) -> bool:
    """False for a str holding lone surrogates (it cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _where(data: Buffer, exc: Exception) -> str:
    """ujson's messages carry no position; on this (rare) path ask the standard
    library, whose messages say line and column."""
    try:
        json.loads(data)
    except json.JSONDecodeError as detailed:
        return f"{detailed.msg} at line {detailed.lineno} column {detailed.colno}."
    except (ValueError, RecursionError):
        pass
    return f"{exc}."

"""Reading request bodies within the configured limits.

The compressed body, the decompressed body and (in the dialects) the number of points
are each capped, so no request can make a worker allocate more than the limits allow: a
gzip bomb is cut off as soon as its output passes the limit.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import falcon
import ujson

from service import errors
from service.config import Limits

_CHUNK = 64 * 1024
# wbits for zlib: 16+15 reads gzip, 15 reads zlib-wrapped deflate.
_GZIP = 31
_DEFLATE = 15


def read_body(
    req: falcon.Request, limits: Limits, *, gzip_types: tuple[str, ...] = ()
) -> bytes:
    """The request body, decompressed when ``Content-Encoding`` (or, for legacy
    clients, one of ``gzip_types`` as ``Content-Type``) says it is compressed."""
    length = req.content_length
    cap = limits.max_body_bytes
    if length is not None and length > cap:
        raise errors.PayloadTooLarge(
            f"Request body of {length} bytes is larger than the limit of {cap} bytes."
        )
    data = _read_capped(req, cap)
    encoding = (req.get_header("Content-Encoding") or "identity").strip().lower()
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if encoding in ("gzip", "x-gzip") or (
        encoding == "identity" and content_type in gzip_types
    ):
        return _inflate(data, _GZIP, limits.max_decompressed_bytes, "gzip")
    if encoding == "deflate":
        return _inflate(data, _DEFLATE, limits.max_decompressed_bytes, "deflate")
    if encoding != "identity":
        raise errors.UnsupportedMediaType(
            f"Content-Encoding '{encoding}' is not supported; use gzip or none."
        )
    return data


def read_json(
    req: falcon.Request, limits: Limits, *, gzip_types: tuple[str, ...] = ()
) -> Any:
    """The decoded JSON body; malformed JSON is an ``InvalidInput``."""
    return parse_json(read_body(req, limits, gzip_types=gzip_types))


# A UTF-16 surrogate, escaped (``\\ud800``) or as raw (invalid) UTF-8 bytes. ujson
# turns both into a lone surrogate in a str, which is not Unicode text: it cannot be
# encoded for the store or for a response. Valid pairs match too; the tree walk below
# tells them apart, and only bodies that match pay for it.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def parse_json(data: bytes) -> Any:
    if not data.strip():
        raise errors.InvalidInput("Invalid json. No content due to end of input.")
    try:
        doc = ujson.loads(data)
    except (ValueError, OverflowError) as exc:
        raise errors.InvalidInput(f"Invalid json. {_where(data, exc)}") from None
    if _SURROGATE.search(data) is not None and not _is_text(doc):
        raise errors.InvalidInput(
            "Invalid json. A string holds a lone UTF-16 surrogate (such as \\ud800), "
            "which is not valid Unicode text."
        )
    return doc


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


def _where(data: bytes, exc: Exception) -> str:
    """ujson's messages carry no position; on this (rare) path ask the standard
    library, whose messages say line and column."""
    try:
        json.loads(data)
    except json.JSONDecodeError as detailed:
        return f"{detailed.msg} at line {detailed.lineno} column {detailed.colno}."
    except (ValueError, RecursionError):
        pass
    return f"{exc}."


def _read_capped(req: falcon.Request, cap: int) -> bytes:
    # With a Content-Length the bounded stream stops at it; without one (chunked
    # transfer) read the raw stream until EOF, but never past the cap.
    stream = req.bounded_stream if req.content_length is not None else req.stream
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, cap + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        if total > cap:
            raise errors.PayloadTooLarge(
                f"Request body is larger than the limit of {cap} bytes."
            )
    return b"".join(parts)


def _inflate(data: bytes, wbits: int, cap: int, name: str) -> bytes:
    out: list[bytes] = []
    total = 0
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            while data:
                piece = inflater.decompress(data, cap + 1 - total)
                out.append(piece)
                total += len(piece)
                if total > cap:
                    raise errors.PayloadTooLarge(
                        f"Decompressed body is larger than the limit of {cap} bytes."
                    )
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if not inflater.eof:
                raise errors.InvalidInput(f"Invalid {name} body: it is truncated.")
            # gzip allows several members back to back; read them all.
            data = inflater.unused_data if wbits == _GZIP else b""
    except zlib.error as exc:
        raise errors.InvalidInput(f"Invalid {name} body: {exc}.") from None
    return b"".join(out)

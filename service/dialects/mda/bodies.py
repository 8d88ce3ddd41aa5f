"""Mobile Data Anywhere's request bodies read in each encoding its clients send: JSON,
urlencoded and multipart forms with bracket names (``session[data][sketch1]``), and
attachments as multipart or raw bytes.

Bracket names are decoded by qs-codec, a maintained port of the JavaScript ``qs``
library, into the same nested document a JSON body gives (``parse.session_input``
reads either). Text that is not UTF-8 (in a part's name, filename or content) is
refused here, before anything is stored.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from typing import Any

import falcon
import falcon.media
import qs_codec

from service import errors
from service.config import Limits
from service.dialects.mda.parse import check_filename, shown
from service.records import Upload
from service.web.body import is_unicode, read_body, read_json

# The one name a multipart file part may have: session[data][<point>].
_FILE_PART = re.compile(r"session\[data\]\[([^\[\]]+)\]")
_QS = qs_codec.DecodeOptions(
    depth=4,
    strict_depth=True,
    parameter_limit=10_000,
    raise_on_limit_exceeded=True,
    parse_lists=False,
)
_NAME = re.compile(r"[^\[\]]+(?:\[[^\[\]]+\])*")


def _kind(req: falcon.Request) -> str:
    return (req.content_type or "").split(";")[0].strip().lower()


def read_form(
    req: falcon.Request, limits: Limits, *, max_part: int
) -> tuple[Any, dict[str, Upload]]:
    """The decoded body as nested data, and the file parts by point name."""
    kind = _kind(req)
    if kind == "application/json":
        return read_json(req, limits), {}
    if kind == "application/x-www-form-urlencoded":
        try:
            text = read_body(req, limits).decode("utf-8")
            pairs = urllib.parse.parse_qsl(
                text, keep_blank_values=True, max_num_fields=10_000, errors="strict"
            )
        except UnicodeDecodeError:
            raise errors.InvalidInput(
                "The form is not UTF-8 text (raw or percent-encoded)."
            ) from None
        return _brackets(dict(pairs)), {}
    if kind == "multipart/form-data":
        return _multipart(req, read_body(req, limits), max_part)
    raise errors.InvalidInput(
        f"Content-Type {kind or '(none)'} is not accepted; send application/json, "
        "application/x-www-form-urlencoded or multipart/form-data"
    )


def read_attachment(
    req: falcon.Request, limits: Limits, point: str, *, max_part: int
) -> Upload:
    """An attachment's bytes: the file field ``attachment`` of a multipart body, or
    a raw ``application/octet-stream`` body (named by ``?filename=``)."""
    kind = _kind(req)
    if kind == "application/octet-stream":
        filename = check_filename(req.get_param("filename") or point)
        return Upload(filename, "application/octet-stream", read_body(req, limits))
    if kind == "multipart/form-data":
        for name, value in multipart_parts(req, read_body(req, limits), max_part):
            if name == "attachment" and isinstance(value, Upload):
                return value
        raise errors.InvalidInput(
            "the multipart body has no file field named attachment"
        )
    raise errors.InvalidInput(
        f"Content-Type {kind or '(none)'} is not accepted; send multipart/form-data "
        "with a field attachment, or application/octet-stream with ?filename="
    )


def _multipart_handler() -> falcon.media.MultipartFormHandler:
    options = falcon.media.multipart.MultipartParseOptions()
    options.max_body_part_count = 10_000
    return falcon.media.MultipartFormHandler(options)


_MULTIPART = _multipart_handler()  # stateless between bodies: built once


def multipart_parts(
    req: falcon.Request, body: bytes, max_part: int
) -> list[tuple[str, Upload | str]]:
    """(field name, text or file) for every part of a multipart body."""
    out: list[tuple[str, Upload | str]] = []
    try:
        form = _MULTIPART.deserialize(io.BytesIO(body), req.content_type, len(body))
        for n, part in enumerate(form):
            # (headers decode strictly: non-UTF-8 bytes raise UnicodeDecodeError)
            name = _text(part.name or "", f"part {n} name")
            data = part.stream.read(max_part + 1)
            if len(data) > max_part:
                raise errors.PayloadTooLarge(
                    f"part {name!r} is larger than the limit of {max_part} bytes"
                )
            if part.filename is not None:
                filename = check_filename(_text(part.filename, f"{name} filename"))
                kind = (part.content_type or "application/octet-stream").split(";")[0]
                out.append((name, Upload(filename, kind.strip(), data)))
            else:
                out.append((name, data.decode("utf-8")))
    except falcon.MediaMalformedError as exc:
        raise errors.InvalidInput(
            f"Malformed multipart body: {exc.description}"
        ) from None
    except UnicodeDecodeError:
        raise errors.InvalidInput(
            "Malformed multipart body: part names, filenames, content types and "
            "text fields must be UTF-8 text."
        ) from None
    return out


def _text(value: str, what: str) -> str:
    # RFC 5987 names may pick any charset, some of which (UTF-7) spell lone
    # surrogates: text that is no Unicode, which nothing could store or answer.
    if not is_unicode(value):
        raise errors.InvalidInput(f"Malformed multipart body: {what} is not text.")
    return value


def _multipart(
    req: falcon.Request, body: bytes, max_part: int
) -> tuple[Any, dict[str, Upload]]:
    texts: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for name, value in multipart_parts(req, body, max_part):
        if isinstance(value, Upload):
            point = _FILE_PART.fullmatch(name)
            if point is None:
                raise errors.InvalidInput(
                    f"file part {shown(name)} must be named session[data][<point>]"
                )
            files[point.group(1)] = value
        else:
            texts[name] = value
    return _brackets(texts), files


def _brackets(source: dict[str, str]) -> Any:
    # qs, like its JavaScript original, makes something of any name; a form whose
    # names are not well-formed brackets is refused instead of guessed at.
    bad = [name for name in source if not _NAME.fullmatch(name)]
    if bad:
        raise errors.InvalidInput(
            f"Bad field names: {', '.join(shown(b) for b in bad[:5])} "
            "(expected e.g. session[data][point1])"
        )
    try:
        return qs_codec.decode(source, _QS)
    except (IndexError, ValueError, TypeError) as exc:
        raise errors.InvalidInput(f"Bad field names: {exc}") from None

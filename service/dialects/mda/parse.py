"""Mobile Data Anywhere request bodies (JSON, urlencoded and multipart forms with
bracket names) parsed into ``SessionInput``.

Bracket names (``session[data][sketch1][rawData]``) are decoded by qs-codec, a
maintained port of the JavaScript ``qs`` library; the envelope is then validated by a
marshmallow schema. Point names are lower-cased (MDA refers to points case
insensitively); ``rawData`` is decoded from base64 into an attachment.

Everything is checked here, before anything is stored: text that is not UTF-8 (in a
part's name, filename or content), names and ids past their limits, numbers that JSON
cannot carry back. The ``check_*`` functions validate ids taken from paths and query
parameters with the same rules.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import urllib.parse
from typing import Any

import falcon
import falcon.media
import qs_codec
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from service import errors
from service.config import Limits
from service.forms import SessionInput
from service.records import Upload
from service.web.body import is_unicode, read_body, read_json

MAX_TS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_UNIT_ID = 255
MAX_POINT = 255
MAX_FILENAME = 255
# A session id: a UUID as MDA makes them, or a client's own of the same alphabet.
# (anchored at the end: marshmallow's Regexp only anchors the start)
UUID = re.compile(r"[A-Za-z0-9{}_.:-]{1,64}\Z")
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
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF8", "image/gif", ".gif"),
    (b"%PDF", "application/pdf", ".pdf"),
]


def _ts_field() -> fields.Integer:
    return fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_TS, error="must be a unix timestamp"),
        error_messages={"invalid": "must be a unix timestamp (seconds)"},
    )


class SessionSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # MDA clients send more than these; they are ignored

    uuid = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(UUID, error="is not a valid session id"),
    )
    unit_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(
            min=1, max=MAX_UNIT_ID, error=f"must be 1 to {MAX_UNIT_ID} characters"
        ),
    )
    created = _ts_field()
    saved = _ts_field()
    is_deleted = fields.Boolean(load_default=None, allow_none=True)
    data = fields.Dict(
        load_default=dict, error_messages={"invalid": "must be an object"}
    )


_SESSION = SessionSchema()


def session_input(doc: Any, files: dict[str, Upload] | None = None) -> SessionInput:
    """``{"session": {...}}`` (decoded JSON or bracket form) into a SessionInput."""
    if not isinstance(doc, dict) or not isinstance(doc.get("session"), dict):
        raise errors.InvalidInput(
            "session is required (session[unit_id], session[data]...)"
        )
    try:
        body = _SESSION.load(doc["session"])
    except ValidationError as exc:
        raise errors.InvalidInput(*_messages(exc.messages)) from None
    data: dict[str, Any] = {}
    problems = errors.Problems()
    for raw_name, value in body["data"].items():
        name = _point(raw_name, problems)
        if name is None:
            continue
        if isinstance(value, dict):
            if set(value) != {"rawData"} or not isinstance(value["rawData"], str):
                problems.append(
                    f"session[data][{raw_name}] must be a value or {{rawData: base64}}"
                )
                continue
            data[name] = _raw_data(name, value["rawData"], problems)
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"session[data][{raw_name}] must be a finite number")
        elif value is None or isinstance(value, (str, int, float, bool)):
            data[name] = value
        else:
            problems.append(
                f"session[data][{raw_name}] must be a value or {{rawData: base64}}"
            )
    for raw_name, upload in (files or {}).items():
        name = _point(raw_name, problems)
        if name is not None:
            data[name] = upload
    if problems:
        raise errors.InvalidInput(*problems.messages())
    return SessionInput(
        uuid=body["uuid"],
        unit_id=body["unit_id"],
        created=body["created"],
        saved=body["saved"],
        is_deleted=body["is_deleted"],
        data=data,
    )


def read_form(
    req: falcon.Request, limits: Limits, *, max_part: int
) -> tuple[Any, dict[str, Upload]]:
    """The decoded body as nested data, and the file parts by point name."""
    kind = (req.content_type or "").split(";")[0].strip().lower()
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


def check_filename(filename: str) -> str:
    if len(filename) > MAX_FILENAME:
        raise errors.InvalidInput(
            f"An attachment's filename is at most {MAX_FILENAME} characters."
        )
    return filename


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
                    f"file part {_shown(name)} must be named session[data][<point>]"
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
            f"Bad field names: {', '.join(_shown(b) for b in bad[:5])} "
            "(expected e.g. session[data][point1])"
        )
    try:
        return qs_codec.decode(source, _QS)
    except (IndexError, ValueError, TypeError) as exc:
        raise errors.InvalidInput(f"Bad field names: {exc}") from None


def _point(raw: str, problems: list[str]) -> str | None:
    if not _a_point(raw):
        problems.append(f"session[data][{_cut(raw)}] is not a valid point name")
        return None
    return raw.lower()


def _a_point(raw: Any) -> bool:
    return (
        isinstance(raw, str)
        and 0 < len(raw) <= MAX_POINT
        and "[" not in raw
        and "]" not in raw
    )


def check_point(raw: str) -> str:
    """A point name from a path, lower-cased; a 400 for one no session can hold."""
    if not _a_point(raw):
        raise errors.InvalidInput(
            f"{_shown(raw)} is not a valid point name (1 to {MAX_POINT} characters, "
            "no brackets)"
        )
    return raw.lower()


def check_uuid(raw: str) -> str:
    if not UUID.fullmatch(raw):
        raise errors.InvalidInput(f"{_shown(raw)} is not a valid session id")
    return raw


def check_unit_id(raw: str) -> str:
    if not 0 < len(raw) <= MAX_UNIT_ID:
        raise errors.InvalidInput(f"a unit_id is 1 to {MAX_UNIT_ID} characters")
    return raw


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:60] + "..."


def _shown(text: str) -> str:
    """Client text quoted in a message, cut short (never echoed whole)."""
    return repr(_cut(text))


def _raw_data(point: str, text: str, problems: list[str]) -> Upload:
    # whitespace (base64 wrapped over lines) and the URL-safe alphabet are accepted
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"session[data][{point}][rawData] is not valid base64")
        return Upload(point, "application/octet-stream", b"")
    for magic, content_type, ext in _MAGIC:
        if data.startswith(magic):
            return Upload(point + ext, content_type, data)
    return Upload(point + ".bin", "application/octet-stream", data)


def _messages(errs: Any) -> list[str]:
    if not isinstance(errs, dict):
        return [str(errs)]
    out = []
    for name, messages in errs.items():
        for message in messages if isinstance(messages, list) else [messages]:
            out.append(f"session[{name}] {message}")
    return out

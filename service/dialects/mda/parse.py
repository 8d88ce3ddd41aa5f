"""Mobile Data Anywhere request bodies (JSON, urlencoded and multipart forms with
bracket names) parsed into ``SessionInput``.

Bracket names (``session[data][sketch1][rawData]``) are decoded by qs-codec, a
maintained port of the JavaScript ``qs`` library; the envelope is then validated by a
marshmallow schema. Point names are lower-cased (MDA refers to points case
insensitively); ``rawData`` is decoded from base64 into an attachment.
"""

from __future__ import annotations

import base64
import binascii
import io
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
from service.web.body import read_body, read_json

MAX_TS = 253_402_300_799  # 9999-12-31T23:59:59Z
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
        validate=validate.Regexp(
            r"[A-Za-z0-9{}_.:-]{1,64}", error="is not a valid session id"
        ),
    )
    unit_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=255, error="must be 1 to 255 characters"),
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
    problems: list[str] = []
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
        raise errors.InvalidInput(*problems)
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
        text = read_body(req, limits).decode("utf-8", "replace")
        pairs = urllib.parse.parse_qsl(
            text, keep_blank_values=True, max_num_fields=10_000
        )
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
        for part in form:
            data = part.stream.read(max_part + 1)
            if len(data) > max_part:
                raise errors.PayloadTooLarge(
                    f"part {part.name!r} is larger than the limit of {max_part} bytes"
                )
            name = part.name or ""
            if part.filename is not None:
                kind = (part.content_type or "application/octet-stream").split(";")[0]
                out.append((name, Upload(part.filename, kind, data)))
            else:
                out.append((name, data.decode("utf-8", "replace")))
    except falcon.MediaMalformedError as exc:
        raise errors.InvalidInput(
            f"Malformed multipart body: {exc.description}"
        ) from None
    return out


def _multipart(
    req: falcon.Request, body: bytes, max_part: int
) -> tuple[Any, dict[str, Upload]]:
    texts: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for name, value in multipart_parts(req, body, max_part):
        if isinstance(value, Upload):
            path = _brackets({name: "file"})
            point = (
                (path.get("session") or {}).get("data")
                if isinstance(path, dict)
                else None
            )
            if (
                not isinstance(point, dict)
                or len(point) != 1
                or list(point.values()) != ["file"]
            ):
                raise errors.InvalidInput(
                    f"file part {name!r} must be named session[data][<point>]"
                )
            files[next(iter(point))] = value
        else:
            texts[name] = value
    return _brackets(texts), files


def _brackets(source: dict[str, str]) -> Any:
    # qs, like its JavaScript original, makes something of any name; a form whose
    # names are not well-formed brackets is refused instead of guessed at.
    bad = [name for name in source if not _NAME.fullmatch(name)]
    if bad:
        raise errors.InvalidInput(
            f"Bad field names: {', '.join(repr(b) for b in bad[:5])} "
            "(expected e.g. session[data][point1])"
        )
    try:
        return qs_codec.decode(source, _QS)
    except (IndexError, ValueError, TypeError) as exc:
        raise errors.InvalidInput(f"Bad field names: {exc}") from None


def _point(raw: str, problems: list[str]) -> str | None:
    if (
        not isinstance(raw, str)
        or not raw
        or "[" in raw
        or "]" in raw
        or len(raw) > 255
    ):
        problems.append(f"session[data][{raw}] is not a valid point name")
        return None
    return raw.lower()


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

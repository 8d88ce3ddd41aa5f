"""Mobile Data Anywhere's documents (a session, a batch, as JSON or decoded from a
form by ``bodies``) parsed into ``SessionInput``, and its ids and cursors.

A session's envelope is validated by a marshmallow schema. Point names are
lower-cased (MDA refers to points case insensitively); ``rawData`` is decoded from
base64 into an attachment.

Everything is checked here, before anything is stored: names and ids past their
limits, numbers that JSON cannot carry back. The ``check_*`` functions validate ids
taken from paths and query parameters with the same rules.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from service import errors
from service.domain.forms import SessionInput
from service.records import LONG_MAX, LONG_MIN, Upload
from service.web import params

MAX_TS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_UNIT_ID = 255
MAX_POINT = 255
MAX_FILENAME = 255
# A session id: a UUID as MDA makes them, or a client's own of the same alphabet.
# (anchored at the end: marshmallow's Regexp only anchors the start)
UUID = re.compile(r"[A-Za-z0-9{}_.:-]{1,64}\Z")
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
        if name is not None:
            _value(name, raw_name, value, data, problems)
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


def _value(
    name: str, raw_name: str, value: Any, data: dict[str, Any], problems: list[str]
) -> None:
    """One point's value into ``data`` (or a problem into ``problems``)."""
    if isinstance(value, dict):
        if set(value) == {"rawData"} and isinstance(value["rawData"], str):
            data[name] = _raw_data(name, value["rawData"], problems)
            return
    elif isinstance(value, float) and not math.isfinite(value):
        problems.append(f"session[data][{raw_name}] must be a finite number")
        return
    elif value is None or isinstance(value, (str, int, float, bool)):
        data[name] = value
        return
    problems.append(f"session[data][{raw_name}] must be a value or {{rawData: base64}}")


def check_filename(filename: str) -> str:
    if len(filename) > MAX_FILENAME:
        raise errors.InvalidInput(
            f"An attachment's filename is at most {MAX_FILENAME} characters."
        )
    return filename


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
            f"{shown(raw)} is not a valid point name (1 to {MAX_POINT} characters, "
            "no brackets)"
        )
    return raw.lower()


def check_uuid(raw: str) -> str:
    if not UUID.fullmatch(raw):
        raise errors.InvalidInput(f"{shown(raw)} is not a valid session id")
    return raw


def check_unit_id(raw: str) -> str:
    if not 0 < len(raw) <= MAX_UNIT_ID:
        raise errors.InvalidInput(f"a unit_id is 1 to {MAX_UNIT_ID} characters")
    return raw


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:60] + "..."


def shown(text: str) -> str:
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
    return [
        f"session{''.join(f'[{key}]' for key in path)} {text}"
        for path, text in errors.flatten(errs)
    ]


# -- a batch ------------------------------------------------------------------------

BATCH_KEYS = ("sessionsToAdd", "sessionsToUpdate", "sessionsToDelete")


def batch(
    doc: Any, project_id: str
) -> tuple[list[SessionInput], list[SessionInput], list[str]]:
    """The sessions a batch adds and updates, and the ids of those it deletes.
    Every group maps project ids to lists of sessions; a project other than
    ``project_id`` is a 403."""
    if not isinstance(doc, dict):
        raise errors.InvalidInput("the batch must be a JSON object")
    groups = {key: _group(key, doc.get(key) or {}, project_id) for key in BATCH_KEYS}
    add = [session_input({"session": s}) for s in groups["sessionsToAdd"]]
    update = [session_input({"session": s}) for s in groups["sessionsToUpdate"]]
    if any(u.uuid is None for u in update):
        raise errors.InvalidInput("sessionsToUpdate: every session needs its uuid")
    delete = []
    for s in groups["sessionsToDelete"]:
        if not isinstance(s.get("uuid"), str) or not UUID.fullmatch(s["uuid"]):
            raise errors.InvalidInput(
                "sessionsToDelete: every entry needs its uuid (a session id)"
            )
        delete.append(s["uuid"])
    return add, update, delete


def _group(key: str, by_project: Any, project_id: str) -> list[dict[str, Any]]:
    if not isinstance(by_project, dict):
        raise errors.InvalidInput(f"{key} must map project ids to lists of sessions")
    for project, sessions in by_project.items():
        if str(project) != project_id:
            raise errors.Forbidden(
                f"{key}: these credentials do not reach that project"
            )
        if not isinstance(sessions, list):
            raise errors.InvalidInput(f"{key}[{project}] must be a list")
        for n, entry in enumerate(sessions):
            if not isinstance(entry, dict):
                raise errors.InvalidInput(f"{key}[{project}][{n}] must be an object")
    return [s for sessions in by_project.values() for s in sessions]


# -- the cursor of a listing ----------------------------------------------------------


def cursor(saved: int, uuid: str) -> str:
    """Where a listing resumes: after the session saved at ``saved`` with ``uuid``."""
    return params.cursor([saved, uuid])


def position(text: str | None) -> tuple[int, str] | None:
    """The (saved, uuid) a cursor this server gave names; None for no cursor."""
    if not text:
        return None
    found = params.position(text)
    if isinstance(found, list) and len(found) == 2:
        saved, uuid = found
        if (
            type(saved) is int
            and LONG_MIN <= saved <= LONG_MAX
            and isinstance(uuid, str)
            and UUID.fullmatch(uuid)
        ):
            return saved, uuid
    raise errors.InvalidInput("cursor is not one this server gave")

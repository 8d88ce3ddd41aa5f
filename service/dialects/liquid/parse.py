"""Liquid's data point (user, device, event, timestamp), validated as its SDKs validate
it and translated into the service's ``Event``.

The envelope goes through a marshmallow schema; the attributes of each entity through
the SDKs' rules: keys without ``$``, ``.`` or NUL, scalar values, reserved keys kept
for the server; and this service's limits: ids and attribute keys of at most 255
characters, times a day inside the years 1 to 9999, a data point of at most 1 MiB.
Every problem is reported at once (a 422).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import ujson
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from service import errors, times
from service.domain.sessions import MAX_ID
from service.records import Event

# Keys the SDKs reserve for the server (iOS LQUser/LQDevice/LQEvent reservedAttributes).
RESERVED = {
    "user": {"_id", "id", "aliased", "aliased_unique_id", "created_at", "updated_at"},
    "device": {"_id", "id", "ip_address", "created_at", "updated_at"},
    "event": {"_id", "id", "created_at", "updated_at"},
}
# Fields of each entity that are not attributes.
OWN_FIELDS = {
    "user": {"unique_id", "identified"},
    "device": {"unique_id"},
    "event": {"name", "date"},
}
MAX_ATTRIBUTE_KEY = 255
# A data point (its JSON body) is small: SDKs send a few kilobytes. The cap keeps each
# stored row far below Cassandra's mutation limit (16 MiB by default) even once the
# attributes are written again as the user's and the device's latest values.
MAX_DATA_POINT_BYTES = 1024 * 1024
# application/vnd.lqd.v1+json pins version 1; another version is a 406.
_VERSIONED = re.compile(r"application/vnd\.lqd\.v(\d+)\+json")
_ACCEPTED = ("*/*", "application/*", "application/json", "application/vnd.lqd.v1+json")


class DataPointSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # SDKs add fields over time; ignore what we do not know

    timestamp = fields.String(load_default=None, allow_none=True)
    user = fields.Dict(required=True, error_messages={"required": "is required"})
    device = fields.Dict(required=True, error_messages={"required": "is required"})
    event = fields.Dict(required=True, error_messages={"required": "is required"})
    values = fields.List(fields.Raw(), load_default=list)


class AliasSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    unique_id = fields.String(required=True, error_messages={"required": "is required"})
    unique_id_alias = fields.String(
        required=True, error_messages={"required": "is required"}
    )


_SCHEMA = DataPointSchema()
_ALIAS = AliasSchema()


def parse_data_point(doc: Any, *, now_ms: int) -> Event:
    if not isinstance(doc, dict):
        raise errors.Unprocessable("The data point must be a JSON object.")
    body = plain_envelope(doc)
    if body is None:
        try:
            body = _SCHEMA.load(doc)
        except ValidationError as exc:
            raise errors.Unprocessable(*_messages(exc.messages)) from None
    problems = errors.Problems()
    user, device, event = body["user"], body["device"], body["event"]
    user_id = _id("user", user, problems)
    device_id = _id("device", device, problems)
    identified = user.get("identified", False)
    if not isinstance(identified, bool):
        problems.append("user.identified must be true or false")
    name = event.get("name")
    if not isinstance(name, str) or not 3 <= len(name) <= 50:
        problems.append("event.name must be a string of 3 to 50 characters")
    attrs = {
        kind: _attributes(kind, entity, problems)
        for kind, entity in (("user", user), ("device", device), ("event", event))
    }
    ts = _timestamp(body["timestamp"], "timestamp", problems)
    event_date = event.get("date")
    if body["timestamp"] is None and event_date is not None:
        ts = _timestamp(event_date, "event.date", problems)
    if problems:
        raise errors.Unprocessable(*problems.messages())
    extras: dict[str, Any] = {}
    if body["values"]:
        extras["values"] = body["values"]
    if event_date is not None:
        extras["event_date"] = event_date
    return Event(
        user_id=user_id,
        device_id=device_id,
        ts=now_ms if ts is None else ts,
        # the same data point posted twice (SDK retries) gets the same id
        event_id=hashlib.sha256(ujson.dumps(doc, sort_keys=True).encode()).digest()[
            :16
        ],
        name=name,
        attributes=attrs["event"],
        user_attributes=attrs["user"],
        device_attributes=attrs["device"],
        identified=bool(identified),
        extras=extras,
    )


def plain_envelope(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The data point's fields as ``DataPointSchema`` loads them, when they are
    plainly valid: user, device and event objects, a string timestamp or none, no
    values. None otherwise (the schema then decides, with its messages). The schema
    would cost a one-event request more than the rest of its parsing."""
    user, device, event = doc.get("user"), doc.get("device"), doc.get("event")
    timestamp, values = doc.get("timestamp"), doc.get("values", [])
    if type(user) is not dict or type(device) is not dict or type(event) is not dict:
        return None
    if timestamp is not None and type(timestamp) is not str:
        return None
    if type(values) is not list or values:
        return None
    return {
        "timestamp": timestamp,
        "user": user,
        "device": device,
        "event": event,
        "values": [],
    }


def parse_alias(doc: Any) -> tuple[str, str]:
    if not isinstance(doc, dict):
        raise errors.Unprocessable("The alias must be a JSON object.")
    try:
        body = _ALIAS.load(doc)
    except ValidationError as exc:
        raise errors.Unprocessable(*_messages(exc.messages)) from None
    user, alias = body["unique_id"], body["unique_id_alias"]
    problems = [
        f"{field} must be a non-empty string of at most {MAX_ID} characters"
        for field, value in (("unique_id", user), ("unique_id_alias", alias))
        if not value or len(value) > MAX_ID
    ]
    if not problems and user == alias:
        problems.append("unique_id_alias must differ from unique_id")
    if problems:
        raise errors.Unprocessable(*problems)
    return user, alias


def _id(kind: str, entity: dict[str, Any], problems: list[str]) -> str:
    value = entity.get("unique_id")
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        problems.append(
            f"{kind}.unique_id must be a non-empty string of at most {MAX_ID} characters"
        )
        return ""
    return value


def _attributes(
    kind: str, entity: dict[str, Any], problems: list[str]
) -> dict[str, Any]:
    out = {}
    for key, value in entity.items():
        if key in OWN_FIELDS[kind]:
            continue
        if not key or any(c in key for c in "$.\0"):
            problems.append(
                f"{kind} attribute {_shown(key)}: keys may not be empty or contain "
                "'$', '.' or NUL"
            )
            continue
        if len(key) > MAX_ATTRIBUTE_KEY:
            problems.append(
                f"{kind} attribute {_shown(key)}: keys may not be longer than "
                f"{MAX_ATTRIBUTE_KEY} characters"
            )
            continue
        if key in RESERVED[kind]:
            problems.append(f"{kind}.{key} is a reserved attribute")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{kind}.{key} must be a finite number")
            continue
        if value is not None and not isinstance(value, (str, int, float, bool)):
            problems.append(
                f"{kind}.{key} must be a string, number, boolean, ISO 8601 date or null"
            )
            continue
        out[key] = value
    return out


def _timestamp(raw: Any, name: str, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        problems.append(f"{name} must be an ISO 8601 string")
        return None
    try:
        moment = times.parse_iso(raw)
    except ValueError:
        problems.append(f"{name} {_shown(raw)} is not an ISO 8601 date and time")
        return None
    if moment.tzinfo is None:
        problems.append(f"{name} {_shown(raw)} needs a UTC offset (e.g. +00:00)")
        return None
    ms = times.to_ms(moment)
    if not times.storable(ms):
        problems.append(f"{name} {_shown(raw)} must be {times.RANGE_TEXT}")
        return None
    return ms


def _shown(text: str) -> str:
    """Client text quoted in a message, cut short: a 60 KiB key is not echoed whole."""
    return repr(text if len(text) <= 60 else text[:60] + "...")


def _messages(errs: Any) -> list[str]:
    out = []
    for path, text in errors.flatten(errs):
        if text == "Not a valid mapping type.":
            text = "must be an object"
        where = ".".join(str(key) for key in path)
        out.append(f"{where} {text}" if where else text)
    return out


def check_accept(accept: str | None) -> None:
    """An ``Accept`` header must allow JSON, or version 1 of Liquid's own type."""
    if not accept:
        return
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        versioned = _VERSIONED.fullmatch(media)
        if media in _ACCEPTED or (versioned and versioned.group(1) == "1"):
            return
    raise errors.NotAcceptable(
        "Only application/json and application/vnd.lqd.v1+json are served."
    )


def check_id(unique_id: str) -> str:
    """A user's or device's id from a path."""
    # (no such id can be stored; on Cassandra a key past 64 KiB would be an error)
    if len(unique_id) > MAX_ID:
        raise errors.InvalidInput(f"An id is at most {MAX_ID} characters.")
    return unique_id

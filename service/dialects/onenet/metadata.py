"""The bodies of OneNET's device and datastream requests (their metadata, not their
points), parsed into the fields of ``Device`` and ``Stream`` records."""

from __future__ import annotations

from typing import Any

import ujson
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from service import errors
from service.datatypes import REGISTRY, InvalidValue
from service.dialects.onenet.parse import problems_of, stream_id
from service.records import Stream

# Tags of a device or a datastream.
MAX_TAGS = 100
# Device fields by their names in OneNET's JSON.
_DEVICE_FIELDS = {
    "title": "title",
    "desc": "description",
    "location": "location",
    "other": "other",
    "private": "private",
    "protocol": "protocol",
}


def _json_value(value: Any) -> None:
    """A device's free-form fields are stored as JSON and answered as JSON: the JSON
    data type's rules (finite numbers, at most 1 MiB) keep both possible."""
    try:
        REGISTRY.get("json").parse(value)
    except InvalidValue as exc:
        raise ValidationError(str(exc)) from None


class DeviceSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    title = fields.String(validate=validate.Length(min=1, max=128))
    desc = fields.String(validate=validate.Length(max=1024))
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(max=MAX_TAGS),
    )
    location = fields.Dict(validate=_json_value)
    auth_info = fields.Raw(validate=_json_value)
    other = fields.Dict(validate=_json_value)
    private = fields.Boolean()
    protocol = fields.String()


class StreamSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String()
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(max=MAX_TAGS),
    )
    unit = fields.String(validate=validate.Length(max=64))
    unit_symbol = fields.String(validate=validate.Length(max=32))


# built once: a marshmallow schema costs more to build than to load with
_DEVICE = DeviceSchema()
_STREAM = StreamSchema()


def _load(schema: Schema, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise errors.InvalidInput("invalid format: the body must be a JSON object")
    try:
        return dict(schema.load(doc))
    except ValidationError as exc:
        raise errors.InvalidInput(*problems_of(exc.messages)) from None


def device_fields(doc: Any, *, creating: bool) -> dict[str, Any]:
    """The ``Device`` fields a body gives (all it needs, when ``creating``)."""
    body = _load(_DEVICE, doc)
    if creating and "title" not in body:
        raise errors.InvalidInput("missing parameter: title")
    found = {_DEVICE_FIELDS[k]: v for k, v in body.items() if k in _DEVICE_FIELDS}
    if "tags" in body:
        found["tags"] = tuple(body["tags"])
    if "auth_info" in body:
        info = body["auth_info"]
        found["auth_info"] = info if isinstance(info, str) else ujson.dumps(info)
    return found


def new_stream(doc: Any) -> Stream:
    body = _load(_STREAM, doc)
    if not body.get("id"):
        raise errors.InvalidInput("missing parameter: id")
    return Stream(
        id=stream_id(body["id"]),
        tags=tuple(body.get("tags", ())),
        unit=body.get("unit", ""),
        unit_symbol=body.get("unit_symbol", ""),
    )


def stream_changes(doc: Any) -> dict[str, Any]:
    """The ``Stream`` fields a body changes (tags, unit, unit_symbol)."""
    body = _load(_STREAM, doc)
    changes: dict[str, Any] = {k: body[k] for k in ("unit", "unit_symbol") if k in body}
    if "tags" in body:
        changes["tags"] = tuple(body["tags"])
    return changes

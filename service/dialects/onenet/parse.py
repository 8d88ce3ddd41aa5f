"""OneNET's upload formats (type 1/omitted, 3, 4, 5) and its times, parsed into
(stream, timestamp, type, value) items for the service."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from service import errors
from service.datatypes import REGISTRY, InvalidValue
from service.times import EARLIEST_MS, LATEST_MS, RANGE_TEXT
from service.web.body import parse_json

Item = tuple[str, int, str, Any]
# A datastream id becomes a path segment and a metric name: printable, no slash.
# Device ids are made by this service (ten digits); the same rule keeps a client's
# path from reaching a store key past any limit.
_STREAM = re.compile(r"[^\s/\\?#\x00-\x1f]{1,128}")
_AT = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
# Lists named in one request's parameters (as devIds is).
MAX_IDS = 1000


class DatapointSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    at = fields.String(load_default=None, allow_none=True)
    value = fields.Raw(
        required=True,
        allow_none=False,
        error_messages={"required": "missing", "null": "may not be null"},
    )


def _some_list(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("Not a valid list.")
    if not value:
        raise ValidationError("may not be empty")


class DatastreamSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, error_messages={"required": "missing"})
    # checked here as a list only: _full loads its points a slice at a time
    datapoints = fields.Raw(
        required=True, validate=_some_list, error_messages={"required": "missing"}
    )


class FullUploadSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    # checked here as a list only: _full loads the streams a slice at a time
    datastreams = fields.Raw(
        required=True, validate=_some_list, error_messages={"required": "missing"}
    )


_FULL = FullUploadSchema()
_STREAMS = DatastreamSchema(many=True)
_POINTS = DatapointSchema(many=True)
# Streams and points are loaded in slices of this many, so a body of a million bad
# points costs no more errors (nor time) than errors.MAX_COUNTED of them.
_SLICE = 1000


def parse_upload(
    kind: str | None,
    body: bytes,
    tz: ZoneInfo,
    now_ms: int,
    *,
    max_points: int | None = None,
) -> list[Item]:
    """The items of an upload. ``max_points`` bounds type 5's records before they
    are split apart (JSON bodies were bounded as they were read)."""
    if kind in (None, "", "1"):
        return _full(parse_json(body), tz, now_ms)
    if kind == "3":
        doc = _object(body)
        return [_item(stream, None, value, tz, now_ms) for stream, value in doc.items()]
    if kind == "4":
        doc = _object(body)
        items = []
        for stream, points in doc.items():
            if not isinstance(points, dict) or not points:
                raise errors.InvalidInput(
                    f"invalid format: {stream} must map times to values"
                )
            items += _stream_items(
                stream, list(points), list(points.values()), tz, now_ms
            )
        return items
    if kind == "5":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidInput(
                "invalid format: a type 5 body must be UTF-8 text"
            ) from None
        return _compact(text, tz, now_ms, max_points)
    raise errors.InvalidInput(
        f"invalid parameter: type {kind[:20]} is not supported (1, 3, 4, 5)"
    )


def _object(body: bytes) -> dict[str, Any]:
    doc = parse_json(body)
    if not isinstance(doc, dict) or not doc:
        raise errors.InvalidInput(
            "invalid format: the body must be a non-empty JSON object"
        )
    return doc


def _full(doc: Any, tz: ZoneInfo, now_ms: int) -> list[Item]:
    try:
        body = _FULL.load(doc if isinstance(doc, dict) else {"datastreams": doc})
    except ValidationError as exc:
        raise errors.InvalidInput(*problems_of(exc.messages)) from None
    problems = errors.Problems()
    items: list[Item] = []
    for s, stream in _sliced(_STREAMS, body["datastreams"], "datastreams", problems):
        where = f"datastreams[{s}].datapoints"
        plain = None if problems else _plain_points(stream["datapoints"])
        if plain is not None:
            items += _stream_items(stream["id"], *plain, tz, now_ms)
            continue
        for _, point in _sliced(_POINTS, stream["datapoints"], where, problems):
            if not problems:  # past a problem, only more problems are of use
                items.append(
                    _item(stream["id"], point["at"], point["value"], tz, now_ms)
                )
    if problems:
        raise errors.InvalidInput(*problems.messages())
    return items


def _plain_points(points: list[Any]) -> tuple[list[Any], list[Any]] | None:
    """The ``at`` and ``value`` of each point, when every point is an object with a
    value and a string ``at`` or none: what the point schema would load, without
    its cost per point (microseconds). None when any is not (the schema then
    says what is wrong, in its words)."""
    if set(map(type, points)) != {dict}:
        return None
    values = [point.get("value") for point in points]
    if None in values:  # (JSON values equal None only when they are None)
        return None
    ats = [point.get("at") for point in points]
    if not set(map(type, ats)) <= _AT_TYPES:
        return None
    return ats, values


_AT_TYPES = {str, type(None)}


def _stream_items(
    stream: str, ats: list[Any], values: list[Any], tz: ZoneInfo, now_ms: int
) -> list[Item]:
    """The items of one stream's plain points: what ``_item`` makes of each, with
    the stream checked once and the values typed at once when they are all longs
    or all finite doubles (no error can then come from a value, so the first
    error is still the first point's that has one)."""
    kind = _one_number_type(values) if _STREAM.fullmatch(stream) else None
    if kind is None:
        return [
            _item(stream, at, value, tz, now_ms)
            for at, value in zip(ats, values, strict=True)
        ]
    if ats.count(None) == len(ats):
        stamps: Iterable[int] = repeat(now_ms)
    else:
        stamps = [_time(at, tz, now_ms) for at in ats]
    return list(zip(repeat(stream), stamps, repeat(kind), values))


def _one_number_type(values: list[Any]) -> str | None:
    """ "long" or "double" when every value is one, as ``typed`` types it."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return (
            "double" if np.isfinite(np.array(values, dtype=np.float64)).all() else None
        )
    if kinds == {int}:
        try:
            np.array(values, dtype=np.int64)  # (numpy refuses one beyond 64 bits)
        except OverflowError:
            return None
        return "long"
    return None


def _sliced(
    schema: Schema, values: list[Any], where: str, problems: errors.Problems
) -> Iterator[tuple[int, Any]]:
    """(index, loaded value) of the values, loaded _SLICE at a time; a slice with
    problems adds them to ``problems`` instead, until it has enough."""
    for start in range(0, len(values), _SLICE):
        if problems.enough:
            return
        try:
            loaded = schema.load(values[start : start + _SLICE])
        except ValidationError as exc:
            found = exc.messages if isinstance(exc.messages, dict) else {}
            problems.extend(
                problems_of({start + int(i): e for i, e in found.items()}, where)
            )
            continue
        yield from enumerate(loaded, start)


def _compact(
    text: str, tz: ZoneInfo, now_ms: int, max_points: int | None = None
) -> list[Item]:
    """``,;temperature,2015-03-22T22:31:12,22.5;pm2.5,89``: the first two characters
    are the field and the record separator; a record is stream,time,value or
    stream,value. Values are text, read as numbers when they are numbers."""
    if len(text) < 3:
        raise errors.InvalidInput(
            "invalid format: type 5 needs two separators and records"
        )
    field_sep, record_sep = text[0], text[1]
    if field_sep == record_sep:
        raise errors.InvalidInput("invalid format: the two separators must differ")
    # Splitting first would make a str per record: 64 MB of "a;" is 32 million.
    # (+1: a final separator ends the last record and adds none.)
    if max_points is not None and text.count(record_sep, 2) > max_points + 1:
        raise errors.PayloadTooLarge(
            f"more than {max_points} data points in one request"
        )
    items = []
    for n, record in enumerate(r for r in text[2:].split(record_sep) if r.strip()):
        parts = record.split(field_sep)
        if len(parts) == 3:
            stream, at, value = parts
        elif len(parts) == 2:
            (stream, value), at = parts, None
        else:
            raise errors.InvalidInput(
                f"invalid format: record {n} {record!r} is not stream,time,value or stream,value"
            )
        try:
            kind, parsed = REGISTRY.infer(value.strip())
        except InvalidValue as exc:
            raise errors.InvalidInput(
                f"invalid format: record {n} value {exc}"
            ) from None
        items.append((stream_id(stream.strip()), _time(at, tz, now_ms), kind, parsed))
    if not items:
        raise errors.InvalidInput("invalid format: no records")
    return items


def _item(stream: Any, at: Any, value: Any, tz: ZoneInfo, now_ms: int) -> Item:
    kind, parsed = typed(value, stream)
    return stream_id(stream), _time(at, tz, now_ms), kind, parsed


def typed(value: Any, stream: Any = "") -> tuple[str, Any]:
    """A JSON value into a stored type: integers are longs, numbers with a fraction
    doubles, strings strings (not read as numbers), anything else JSON."""
    if value is None:
        raise errors.InvalidInput(f"invalid parameter: {stream} value may not be null")
    try:
        return REGISTRY.of_json(value)
    except InvalidValue as exc:
        raise errors.InvalidInput(f"invalid parameter: {stream} value {exc}") from None


def stream_id(stream: Any) -> str:
    if not isinstance(stream, str) or not _STREAM.fullmatch(stream):
        raise errors.InvalidInput(
            f"invalid parameter: datastream id {shown(stream)} must be 1 to 128 "
            "printable characters without spaces or '/'"
        )
    return stream


def check_device_id(device: str) -> str:
    if not _STREAM.fullmatch(device):
        raise errors.InvalidInput(
            f"invalid parameter: device id {shown(device)} must be 1 to 128 "
            "printable characters without spaces or '/'"
        )
    return device


def shown(value: Any) -> str:
    """Client text quoted in a message, cut short (never echoed whole)."""
    if isinstance(value, str) and len(value) > 60:
        value = value[:60] + "..."
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _time(at: Any, tz: ZoneInfo, now_ms: int) -> int:
    if at is None or (isinstance(at, str) and not at.strip()):
        return now_ms
    return parse_time(at, tz, "at")


def parse_time(text: Any, tz: ZoneInfo, name: str, *, stored: bool = True) -> int:
    """``YYYY-MM-DDThh:mm:ss[.fff]`` (a space works too) in the project's time zone,
    or with an explicit offset. A time to store must be one every zone can show
    (see service.times); a bound of a read or delete (``stored=False``) need not."""
    match = _AT.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise errors.InvalidInput(
            f"invalid format: {name} {shown(text)} must be YYYY-MM-DDThh:mm:ss[.fff]"
        )
    day, clock, fraction, offset = match.groups()
    try:
        moment = dt.datetime.fromisoformat(f"{day}T{clock}{fraction or ''}")
    except ValueError:
        raise errors.InvalidInput(
            f"invalid format: {name} {shown(text)} is not a date"
        ) from None
    if offset and offset != "Z":
        hours, minutes = int(offset[1:3]), int(offset[-2:])
        if hours > 23 or minutes > 59:  # (what a UTC offset can be)
            raise errors.InvalidInput(
                f"invalid format: {name} {shown(text)} has an impossible UTC offset"
            )
        sign = -1 if offset[0] == "-" else 1
        zone: dt.tzinfo = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    else:
        zone = dt.UTC if offset == "Z" else tz
    # (to_ms of the aware moment, without making it: the zone's offset at these wall
    # fields, as the aware moment's utcoffset() is; a third of the cost per point)
    offset_td = zone.utcoffset(moment)
    assert offset_td is not None
    delta = moment - _NAIVE_EPOCH - offset_td
    ms = delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    if stored and not EARLIEST_MS <= ms <= LATEST_MS:  # (storable(), inline: per point)
        raise errors.InvalidInput(
            f"invalid parameter: {name} {shown(text)} must be {RANGE_TEXT}"
        )
    return ms


def problems_of(errs: Any, prefix: str = "") -> list[str]:
    """marshmallow's messages in OneNET's words: ``missing parameter: <path>`` for
    a required field, ``invalid parameter: <path> <message>`` for the rest."""
    out = []
    for path, text in errors.flatten(errs):
        where = prefix
        for key in path:
            if isinstance(key, int):
                where = f"{where}[{key}]"
            else:
                where = f"{where}.{key}" if where else str(key)
        kind = "missing parameter" if text == "missing" else "invalid parameter"
        out.append(f"{kind}: {where} {text}".rstrip())
    return out

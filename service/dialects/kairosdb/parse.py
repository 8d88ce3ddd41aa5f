"""KairosDB's ``POST /api/v1/datapoints`` body, parsed into the service's records.

Each metric object's envelope (name, tags, type, ttl) goes through a marshmallow
schema, unless it is plainly valid; the hot array of ``[timestamp, value]`` pairs
becomes numpy columns in bulk when it is all longs or all doubles
(``kairosdb/columns.py``), and otherwise goes through a loop point by point, which
decides every error; marshmallow would cost microseconds per point
(../shared/reference/performance.md).

Errors use KairosDB's wording (``metric[1](name=x).tags count must be ...``) and are
all collected, so one 400 lists every problem; a request with any error stores nothing.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from service import errors
from service.config import MAX_TTL_SECONDS
from service.datatypes import REGISTRY, InvalidValue, TypeRegistry, UnknownType
from service.datatypes.builtin import DOUBLE, LONG
from service.dialects.kairosdb.columns import pairs_to_points, plain_envelope
from service.records import (
    LONG_MAX,
    LONG_MIN,
    MAX_NAME_BYTES,
    MAX_TAGS,
    MAX_TAGS_BYTES,
    NAME_TOO_LONG,
    PointBatch,
    Points,
    SeriesKey,
    canonical_tags,
    name_too_long,
    tags_problem,
)


class MetricEnvelope(Schema):
    """One metric object, without its points. Messages complete ``metric[i]...``."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, error="name may not be empty."),
        error_messages={
            "required": "name may not be null.",
            "null": "name may not be null.",
            "invalid": "name must be a string.",
        },
    )
    tags = fields.Raw(load_default=None, allow_none=True)
    type = fields.String(
        load_default=None,
        allow_none=True,
        error_messages={"invalid": "type must be a string."},
    )
    ttl = fields.Integer(
        load_default=0,
        allow_none=True,
        validate=validate.Range(
            min=0,
            max=MAX_TTL_SECONDS,
            error="ttl must be between {min} and {max} seconds.",
        ),
        error_messages={"invalid": "ttl must be an integer number of seconds."},
    )

    @validates_schema
    def check_tags(self, data: dict[str, Any], **_: Any) -> None:
        # (the name here rather than as a field validator: one call less per metric)
        if name_too_long(data.get("name") or ""):
            raise ValidationError(f"name {NAME_TOO_LONG}.", field_name="name")
        problems = tag_problems(data.get("tags"))
        if problems:
            raise ValidationError(problems, field_name="tags")


def tag_problems(tags: Any) -> list[str]:
    if tags is None or (isinstance(tags, dict) and not tags):
        return ["tags count must be greater than or equal to 1."]
    if not isinstance(tags, dict):
        return ["tags must be an object of tag names to values."]
    problems: list[str] = []
    chars = 0
    for i, (name, value) in enumerate(tags.items()):
        text = value if type(value) is str else None
        if not (name and text and len(name) + len(text) <= SHORT_TAG):
            text = _tag_checked(i, name, value, problems)  # (short ones need none)
        chars += len(name) + len(text or "")
    if not problems and (len(tags) > MAX_TAGS or chars > MAX_TAGS_BYTES // 4):
        whole = tags_problem({str(k): _tag_text(v) for k, v in tags.items()})
        if whole:
            problems.append(f"{whole}.")
    return problems


def _tag_checked(i: int, name: str, value: Any, problems: list[str]) -> str | None:
    """The text of one tag's value, once its name and value are checked (problems
    appended to ``problems``); None for a value that has no text."""
    shown = errors.clip(name)
    if name == "":
        problems.append(f"tag[{i}].name may not be empty.")
    elif name_too_long(name):
        problems.append(f"tag[{shown}].name {NAME_TOO_LONG}.")
    if value is None or isinstance(value, (dict, list)):
        what = "may not be null" if value is None else "must be a string"
        problems.append(f"tag[{shown}].value {what}.")
        return None
    if value == "":
        problems.append(f"tag[{shown}].value may not be empty.")
        return ""
    text = _tag_text(value)
    if name_too_long(text):
        problems.append(f"tag[{shown}].value {NAME_TOO_LONG}.")
    return text


# A tag whose name and value are this short together needs no length check (a
# character is at most 4 bytes of UTF-8).
SHORT_TAG = MAX_NAME_BYTES // 4


def _tag_text(value: Any) -> str:
    # Like KairosDB (Gson), numbers and booleans are accepted as their JSON text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


_ENVELOPE = MetricEnvelope()


class Parser:
    """Parses one request body into batches, collecting every problem on the way."""

    def __init__(self, *, max_points: int, registry: TypeRegistry = REGISTRY) -> None:
        self.max_points = max_points
        self.registry = registry
        self.batches: list[PointBatch] = []
        self.errors = errors.Problems()
        self.count = 0

    def parse(self, doc: Any) -> list[PointBatch]:
        if isinstance(doc, dict):
            doc = [doc]
        elif not isinstance(doc, list):
            raise errors.InvalidInput("Invalid start of json.")
        for i, metric in enumerate(doc):
            if self.errors.enough:
                break
            self._metric(i, metric)
        if self.errors:
            raise errors.InvalidInput(*self.errors.messages())
        return self.batches

    def _metric(self, i: int, metric: Any) -> None:
        ctx = f"metric[{i}]"
        if not isinstance(metric, dict):
            self.errors.append(f"{ctx} must be an object.")
            return
        name = metric.get("name")
        if isinstance(name, str) and name:
            ctx = f"{ctx}(name={errors.clip(name)})"
        env, type_name = self._envelope(ctx, metric)
        if type_name is not None:
            try:
                self.registry.get(type_name)
            except UnknownType as exc:
                self.errors.append(exc.message)
                return
        parts: list[Points] = []
        if "time" in metric or "timestamp" in metric or "value" in metric:
            single: list[Any] = []
            self._single(ctx, metric, type_name, single)
            if single:
                ((ts, kind, value),) = single
                parts.append(Points.of(kind, [ts], [value]))
        raw = metric.get("datapoints")
        if raw is not None:
            if isinstance(raw, list):
                parts.append(self._points(ctx, raw, type_name))
            else:
                self.errors.append(f"{ctx}.datapoints must be an array.")
        points = Points.concat(parts)
        self.count += len(points)
        if self.count > self.max_points:
            raise errors.PayloadTooLarge(
                f"More than {self.max_points} data points in one request; "
                "split it into smaller requests."
            )
        if env is not None and len(points):
            self.batches.append(
                PointBatch(_series(env["name"], env["tags"]), points, env["ttl"] or 0)
            )

    def _envelope(
        self, ctx: str, metric: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The metric's name, tags, type and ttl, or None when they are not valid
        (the problems reported: its points are still checked, so that one 400 lists
        everything); and its type's name."""
        plain = plain_envelope(metric)
        if plain is not None and not tag_problems(plain["tags"]):
            return plain, plain["type"]
        try:
            env = _ENVELOPE.load(metric)
        except ValidationError as exc:
            self.errors.extend(f"{ctx}.{m}" for _, m in errors.flatten(exc.messages))
            raw_type = metric.get("type")
            return None, raw_type if isinstance(raw_type, str) else None
        return env, env["type"]

    def _single(
        self,
        ctx: str,
        metric: dict[str, Any],
        type_name: str | None,
        points: list[Any],
    ) -> None:
        """The metric's one point given as ``timestamp`` (or ``time``) and ``value``."""
        ts = metric.get("time", metric.get("timestamp"))
        if ts is None:
            self.errors.append(f"{ctx}.timestamp may not be null.")
        elif "value" not in metric or metric["value"] is None:
            self.errors.append(f"{ctx}.value may not be null.")
        else:
            self._point(ctx, ts, metric["value"], type_name, points)

    def _points(self, ctx: str, raw: list[Any], type_name: str | None) -> Points:
        # (a declared type in bulk only when it is the built-in one of that name)
        if type_name is None or self.registry.get(type_name) in (LONG, DOUBLE):
            bulk = pairs_to_points(raw, type_name)
            if bulk is not None:
                return bulk
        points: list[Any] = []
        append = points.append
        for j, dp in enumerate(raw):
            # Pairs the bulk path did not take (it takes an array whole or not at
            # all): [int, int] and [int, float] with no declared type, then the rest.
            if type(dp) is list and len(dp) == 2 and type_name is None:
                ts, value = dp
                if type(ts) is int and LONG_MIN <= ts <= LONG_MAX:
                    kind = type(value)
                    if kind is int and LONG_MIN <= value <= LONG_MAX:
                        append((ts, "long", value))
                        continue
                    if kind is float and math.isfinite(value):
                        append((ts, "double", value))
                        continue
            self._slow_point(f"{ctx}.datapoints[{j}]", dp, type_name, points)
            if self.errors.enough:
                break
        return Points.from_tuples(points)

    def _slow_point(
        self, ctx: str, dp: Any, type_name: str | None, points: list[Any]
    ) -> None:
        if not isinstance(dp, list) or not dp:
            self.errors.append(f"{ctx}.timestamp cannot be null or empty.")
            return
        if dp[0] is None:
            self.errors.append(f"{ctx}.timestamp may not be null.")
            return
        if len(dp) < 2 or dp[1] is None:
            self.errors.append(f"{ctx}.value may not be empty.")
            return
        if len(dp) > 3:
            self.errors.append(
                f"{ctx} must be [timestamp, value] or [timestamp, value, type]."
            )
            return
        if len(dp) == 3:
            if not isinstance(dp[2], str):
                self.errors.append(f"{ctx}.type must be a string.")
                return
            type_name = dp[2]
            try:
                self.registry.get(type_name)
            except UnknownType as exc:
                self.errors.append(exc.message)
                return
        self._point(ctx, dp[0], dp[1], type_name, points)

    def _point(
        self,
        ctx: str,
        ts_raw: Any,
        value: Any,
        type_name: str | None,
        points: list[Any],
    ) -> None:
        ts = _timestamp(ts_raw)
        if ts is None:
            self.errors.append(f"{ctx}.timestamp must be an integer number of ms.")
            return
        try:
            if type_name is None:
                type_name, parsed = self.registry.infer(value)
            else:
                parsed = self.registry.get(type_name).parse(value)
        except InvalidValue as exc:
            text = str(exc)
            if text == "is an invalid type":
                # KairosDB's wording for an object or array with no declared type.
                self.errors.append(f"{ctx} value is an invalid type")
            else:
                self.errors.append(f"{ctx}.value {text}")
            return
        points.append((ts, type_name, parsed))


def _series(name: str, tags: dict[Any, Any]) -> SeriesKey:
    if all(type(v) is str for v in tags.values()):  # (the usual case: as given)
        return SeriesKey(name, canonical_tags(tags))
    return SeriesKey(
        name, canonical_tags({str(k): _tag_text(v) for k, v in tags.items()})
    )


def _timestamp(raw: Any) -> int | None:
    """Milliseconds as a long; integral floats and numeric strings are accepted, as
    KairosDB accepts them, but nothing outside the 64-bit range."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        raw = int(raw)
    elif isinstance(raw, str):
        try:
            raw = int(raw.strip())
        except ValueError:
            return None
    if isinstance(raw, int) and LONG_MIN <= raw <= LONG_MAX:
        return raw
    return None

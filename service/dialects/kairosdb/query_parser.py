"""KairosDB's query body, parsed into the service's ``Query``.

Envelopes (the query, each metric, each aggregator's and group-by's properties) go
through marshmallow schemas; messages keep KairosDB's form
(``query.metric[0].aggregators[1].sampling.value must be ...``) but name JSON
properties, never internal classes or fields, and say what would be valid. All problems
are collected and reported at once (the first hundred, and how many more).

Everything a query names is bounded before anything runs: times within the 64-bit
range of ms, durations no longer than it, counts within Java's int (as KairosDB reads
them), names within the store's key limit (``records.MAX_NAME_BYTES``).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from service import errors, times
from service.query import catalog
from service.query.engine import MetricQuery, Query
from service.query.groupers import (
    BinGroupBy,
    PointGrouper,
    TagGroupBy,
    TimeGroupBy,
    ValueGroupBy,
)
from service.query.timeunits import Duration, relative
from service.records import LONG_MAX, LONG_MIN, NAME_TOO_LONG, TagMatch, name_too_long

REGEX_PREFIX = "regex:"
GROUP_BYS = ("tag", "time", "value", "bin")


class QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # KairosDB ignores unknown top-level keys

    start_absolute = fields.Integer(
        load_default=None, allow_none=True, validate=catalog.IN_TIME_RANGE
    )
    end_absolute = fields.Integer(
        load_default=None, allow_none=True, validate=catalog.IN_TIME_RANGE
    )
    start_relative = catalog.duration_field(load_default=None, allow_none=True)
    end_relative = catalog.duration_field(load_default=None, allow_none=True)
    time_zone = catalog.TimeZone(load_default=None, allow_none=True)
    cache_time = fields.Integer(
        load_default=0,
        validate=[
            validate.Range(min=0, error="must be greater than or equal to 0"),
            catalog.at_most(catalog.INT_MAX),
        ],
    )
    metrics = fields.List(
        fields.Raw(),
        required=True,
        validate=validate.Length(min=1, error="must have a size of at least 1"),
        error_messages={"required": "must have a size of at least 1"},
    )


class MetricSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, error="may not be empty"),
            catalog.short_name,
        ],
        error_messages={"required": "may not be null", "null": "may not be null"},
    )
    tags = fields.Raw(load_default=None, allow_none=True)
    group_by = fields.List(fields.Raw(), load_default=list)
    aggregators = fields.List(fields.Raw(), load_default=list)
    limit = fields.Integer(
        load_default=0,
        allow_none=True,
        validate=[
            validate.Range(min=0, error="must be greater than or equal to 0"),
            catalog.at_most(catalog.INT_MAX),
        ],
    )
    order = fields.String(load_default="asc")
    exclude_tags = fields.Boolean(load_default=False)
    alias = fields.String(load_default=None, allow_none=True)
    plugins = fields.List(fields.Raw(), load_default=list)


class TagGroupSchema(Schema):
    tags = fields.List(
        fields.String(),
        required=True,
        validate=validate.Length(min=1, error="may not be empty"),
        error_messages={"required": "may not be null", "null": "may not be null"},
    )


class TimeGroupSchema(Schema):
    range_size = catalog.duration_field(
        required=True, error_messages={"required": "may not be null"}
    )
    group_count = fields.Integer(
        required=True,
        validate=[
            validate.Range(min=1, error=catalog.GE1),
            catalog.at_most(catalog.INT_MAX),
        ],
        error_messages={"required": catalog.GE1},
    )


class ValueGroupSchema(Schema):
    range_size = fields.Integer(
        required=True,
        validate=[
            validate.Range(min=1, error=catalog.GE1),
            catalog.at_most(LONG_MAX),
        ],
        error_messages={"required": "may not be null"},
    )


class BinGroupSchema(Schema):
    bins = fields.List(
        fields.Float(allow_nan=False),
        required=True,
        validate=validate.Length(min=1, error="may not be empty"),
        error_messages={"required": "may not be null"},
    )


_GROUP_SCHEMAS = {
    "tag": TagGroupSchema(unknown="raise"),
    "time": TimeGroupSchema(unknown="raise"),
    "value": ValueGroupSchema(unknown="raise"),
    "bin": BinGroupSchema(unknown="raise"),
}
_QUERY, _METRIC = QuerySchema(), MetricSchema()


def parse_query(doc: Any, *, now_ms: int | None = None) -> Query:
    problems = errors.Problems()
    if not isinstance(doc, dict):
        raise errors.InvalidInput("query must be a JSON object")
    now = times.now_ms() if now_ms is None else now_ms
    try:
        top = _QUERY.load(doc)
    except ValidationError as exc:
        errs: dict[str, Any] = (
            dict(exc.messages) if isinstance(exc.messages, dict) else {}
        )
        if "metrics" in errs:  # KairosDB names the list metric[]
            errs["metric[]"] = errs.pop("metrics")
        problems += messages("query", errs)
        raise errors.InvalidInput(*problems.messages()) from None
    start, end = _range(top, now, problems)
    query = Query(
        start=start,
        end=end,
        now=now,
        time_zone=top["time_zone"] or catalog.zone("UTC"),
        metrics=[],
    )
    for i, metric in enumerate(top["metrics"]):
        if problems.enough:
            break
        parsed = _metric(f"query.metric[{i}]", metric, query, problems)
        if parsed is not None:
            query.metrics.append(parsed)
    if problems:
        raise errors.InvalidInput(*problems.messages())
    return query


def _range(top: dict[str, Any], now: int, problems: errors.Problems) -> tuple[int, int]:
    """The query's start and end (both inclusive; no end means no upper bound, as
    in KairosDB). Problems with them are added to ``problems`` (and raised at once
    when the metrics cannot be checked without them)."""
    start = top["start_absolute"]
    if start is None and top["start_relative"]:
        start = _relative(now, "start_relative", top["start_relative"], problems)
    end = top["end_absolute"]
    if end is None and top["end_relative"]:
        end = _relative(now, "end_relative", top["end_relative"], problems)
    if problems:
        raise errors.InvalidInput(*problems.messages())
    if start is None:
        problems.append(
            "query.metric[0].start_time relative or absolute time must be set"
        )
    elif end is not None and end < start:
        problems.append("query.metric[0].end_time must be greater than the start time")
    return (0 if start is None else start), (LONG_MAX if end is None else end)


def _duration(d: dict[str, Any]) -> Duration:
    return Duration(d["value"], d["unit"])


def _relative(
    now: int, name: str, raw: dict[str, Any], problems: errors.Problems
) -> int | None:
    """Now minus a relative time, or None (and a problem) when that is before the
    earliest time a query can name."""
    moment = relative(now, _duration(raw))
    if moment < LONG_MIN:
        problems.append(
            f"query.{name} reaches before the earliest time a query can name "
            f"({LONG_MIN} ms since the epoch); use a shorter duration"
        )
        return None
    return moment


def _metric(
    ctx: str, raw: Any, query: Query, problems: errors.Problems
) -> MetricQuery | None:
    if not isinstance(raw, dict):
        problems.append(f"{ctx} must be an object")
        return None
    try:
        m = _METRIC.load(raw)
    except ValidationError as exc:
        problems += messages(ctx, exc.messages)
        return None
    before = len(problems)
    order = str(m["order"]).lower()
    if order not in ("asc", "desc"):
        problems.append(f"{ctx}.order must be either 'asc' or 'desc'")
    if m["plugins"]:
        problems.append(f"{ctx}.plugins no query plugins are installed on this server")
    mq = MetricQuery(
        name=m["name"],
        tags=_tags(ctx, m["tags"], problems),
        limit=m["limit"] or None,
        order="desc" if order == "desc" else "asc",
        exclude_tags=m["exclude_tags"],
        alias=m["alias"],
    )
    for j, item in enumerate(m["group_by"]):
        grouper = _group_by(f"{ctx}.group_by[{j}]", item, query, problems)
        if isinstance(grouper, TagGroupBy):
            mq.tag_group = grouper
        elif grouper is not None:
            mq.point_groups.append(grouper)
    for j, item in enumerate(m["aggregators"]):
        spec = _named(
            f"{ctx}.aggregators[{j}]", item, catalog.CATALOG, "aggregators", problems
        )
        if spec is None:
            continue
        name, props = spec
        try:
            mq.aggregators.append(catalog.build(name, props))
        except ValidationError as exc:
            problems += messages(
                f"{ctx}.aggregators[{j}]", exc.messages, of=f"{name} aggregator"
            )
    return mq if len(problems) == before else None


def _tags(ctx: str, raw: Any, problems: errors.Problems) -> dict[str, TagMatch]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{ctx}.tags must be an object of tag names to values")
        return {}
    out = {}
    for i, (name, value) in enumerate(raw.items()):
        if not name:
            problems.append(f"{ctx}.tags[{i}] name must not be empty")
            continue
        shown = errors.clip(name)
        if name_too_long(name):
            problems.append(f"{ctx}.tags[{i}].{shown} name {NAME_TOO_LONG}")
            continue
        values = value if isinstance(value, list) else [value]
        if not values or any(not isinstance(v, str) or not v for v in values):
            problems.append(f"{ctx}.tags[{i}].{shown} value must not be null or empty")
            continue
        exact, patterns = set(), []
        for v in values:
            if name_too_long(v):
                # (a pattern is bounded too: no tag value it could match is longer)
                problems.append(f"{ctx}.tags[{i}].{shown} value {NAME_TOO_LONG}")
            elif v.startswith(REGEX_PREFIX):
                try:
                    patterns.append(re.compile(v[len(REGEX_PREFIX) :]))
                except (re.error, RecursionError, OverflowError) as exc:
                    problems.append(
                        f"{ctx}.tags[{i}].{shown} {errors.clip(v)} is not a valid "
                        f"regular expression ({errors.clip(str(exc))})"
                    )
            else:
                exact.add(v)
        out[name] = TagMatch(frozenset(exact), tuple(patterns))
    return out


def _named(
    ctx: str, item: Any, known: Any, family: str, problems: errors.Problems
) -> tuple[str, dict[str, Any]] | None:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("name"), str)
        or not item["name"]
    ):
        problems.append(f"{ctx} must have a name")
        return None
    name = item["name"]
    if name not in known:
        problems.append(
            f"{ctx}.{errors.clip(name)} invalid {family} name; use one of "
            f"{', '.join(sorted(known))}"
        )
        return None
    return name, {k: v for k, v in item.items() if k != "name"}


def _group_by(
    ctx: str, item: Any, query: Query, problems: errors.Problems
) -> TagGroupBy | PointGrouper | None:
    spec = _named(ctx, item, _GROUP_SCHEMAS, "group_by", problems)
    if spec is None:
        return None
    name, props = spec
    try:
        p = _GROUP_SCHEMAS[name].load(props)
    except ValidationError as exc:
        problems += messages(ctx, exc.messages, of=f"{name} group_by")
        return None
    if name == "tag":
        return TagGroupBy(tuple(p["tags"]))
    if name == "time":
        return TimeGroupBy(_duration(p["range_size"]), p["group_count"], query.start)
    if name == "value":
        return ValueGroupBy(p["range_size"])
    bins = tuple(p["bins"])
    if list(bins) != sorted(bins):
        problems.append(f"{ctx}.bins must be in ascending order")
        return None
    return BinGroupBy(bins)


def messages(ctx: str, errs: Any, *, of: str | None = None) -> list[str]:
    """marshmallow's nested messages as KairosDB-style ``ctx.path message`` lines."""
    out = []
    for path, text in errors.flatten(errs):
        where = "".join(
            f"[{key}]"
            if isinstance(key, int)
            # (a client's own key, such as a save_as tag name: clipped)
            else f".{errors.clip(str(key))}"
            for key in path
        )
        if text == "Unknown field.":
            text = f"is not a property of the {of}" if of else "is not allowed here"
        out.append(f"{ctx}{where} {text}")
    return out

"""Every aggregator by name: its properties (a marshmallow schema) and its stage.

The schemas validate an aggregator's JSON object; ``build`` turns the validated
properties into an :class:`AggregatorSpec`. Messages complete a path such as
``query.metric[0].aggregators[1]``.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from service.errors import clip
from service.query import range_aggregators as ra
from service.query import stream_aggregators as sa
from service.query import vector as vx
from service.query.stages import AggregatorSpec, Pt, StageContext
from service.query.timeunits import MAX_VALUE, UNITS, Duration
from service.records import LONG_MAX, LONG_MIN, NAME_TOO_LONG, name_too_long

NUMBER = frozenset({"number"})
GE1 = "must be greater than or equal to 1"
EMPTY = "may not be empty"
# Counts and sizes (limit, sma size, group_count...) are Java ints in KairosDB, and
# a Cassandra LIMIT is one too.
INT_MAX = 2**31 - 1


def at_most(top: int) -> validate.Range:
    return validate.Range(max=top, error=f"must be less than or equal to {top}")


# A time in ms: the 64-bit range every store and client keeps times in.
IN_TIME_RANGE = validate.Range(
    min=LONG_MIN,
    max=LONG_MAX,
    error="must be a time in ms since the epoch between {min} and {max}",
)


def short_name(text: str) -> None:
    """A name that reaches a store's keys (metric, tag name or value) is bounded."""
    if name_too_long(text):
        raise ValidationError(NAME_TOO_LONG)


class TimeUnit(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).upper()
        if text not in UNITS:
            raise ValidationError(
                f"{clip(value)} is not a valid time unit, must be one of "
                f"{','.join(UNITS)}"
            )
        return text


class TimeZone(fields.Field):  # type: ignore[type-arg]
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> ZoneInfo:
        if not isinstance(value, str):
            raise ValidationError("must be a string naming a time zone")
        return zone(value)


def zone(text: str) -> ZoneInfo:
    if not text:
        return ZoneInfo("UTC")  # KairosDB reads an empty time zone as UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{clip(text)} is not a valid time zone; use an IANA name such as UTC or "
            "Europe/Paris"
        ) from None


class DurationSchema(Schema):
    class Meta:
        unknown = RAISE

    value = fields.Integer(
        required=True,
        validate=validate.Range(min=1, error=GE1),
        error_messages={"required": "may not be null", "invalid": "must be an integer"},
    )
    unit = TimeUnit(required=True, error_messages={"required": "may not be null"})

    @validates_schema
    def within_time_range(self, data: dict[str, Any], **_: Any) -> None:
        # No duration longer than the whole 64-bit range of ms: anything computed
        # from one (a relative time, a range edge) stays an exact, bounded integer.
        top = MAX_VALUE[data["unit"]]
        if data["value"] > top:
            raise ValidationError(
                f"must be less than or equal to {top} for {data['unit'].lower()}",
                "value",
            )


def duration_field(**kw: Any) -> fields.Nested:
    messages: dict[str, Any] = {"type": "must be an object with value and unit"}
    messages.update(kw.pop("error_messages", {}))
    return fields.Nested(DurationSchema, error_messages=messages, **kw)


class Props(Schema):
    """Properties every aggregator may have: none."""

    class Meta:
        unknown = RAISE


class RangeProps(Props):
    sampling = duration_field(load_default=None)
    align_sampling = fields.Boolean(load_default=True)
    align_start_time = fields.Boolean(load_default=False)
    align_end_time = fields.Boolean(load_default=False)
    start_time = fields.Integer(load_default=None, validate=IN_TIME_RANGE)
    time_zone = TimeZone(load_default=None)

    @validates_schema
    def one_alignment(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("align_start_time") and data.get("align_end_time"):
            raise ValidationError(
                "may not be set together with align_start_time", "align_end_time"
            )


class PercentileProps(RangeProps):
    percentile = fields.Float(
        required=True,
        error_messages={"required": "may not be zero", "invalid": "must be a number"},
    )

    @validates_schema
    def in_range(self, data: dict[str, Any], **_: Any) -> None:
        q = data.get("percentile")
        if q == 0:
            raise ValidationError("may not be zero", "percentile")
        if q is not None and not 0 < q <= 1:
            raise ValidationError("must be greater than 0 and at most 1", "percentile")


class DevProps(RangeProps):
    return_type = fields.String(
        load_default="value",
        validate=validate.OneOf(
            ["value", "pos_sd", "neg_sd"], error="must be value, pos_sd or neg_sd"
        ),
    )
    dev_count = fields.Integer(
        load_default=1, validate=[validate.Range(min=1, error=GE1), at_most(INT_MAX)]
    )


class RateProps(Props):
    sampling = duration_field(load_default=None)
    unit = TimeUnit(load_default=None)
    time_zone = TimeZone(load_default=None)


def _nonzero() -> fields.Float:
    return fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Predicate("__bool__", error="may not be zero"),
        error_messages={"required": "may not be zero", "invalid": "must be a number"},
    )


class DivProps(Props):
    divisor = _nonzero()


class ScaleProps(Props):
    factor = fields.Float(
        required=True,
        allow_nan=False,
        error_messages={"required": "may not be null", "invalid": "must be a number"},
    )


class SmaProps(Props):
    size = fields.Integer(
        required=True,
        validate=[validate.Range(min=1, error=GE1), at_most(INT_MAX)],
        error_messages={"required": "may not be null", "invalid": "must be an integer"},
    )


def _one_of(known: Any, what: str, choices: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        if text not in known:
            raise ValidationError(
                f"{clip(text)} is not a valid {what}, must be {choices}."
            )

    return check


class FilterProps(Props):
    filter_op = fields.String(
        required=True,
        error_messages={"required": "may not be null"},
        validate=_one_of(
            sa.FILTER_OPS, "filter_op", "'lte', 'lt', 'gte', 'gt', 'equal' or 'ne'"
        ),
    )
    threshold = fields.Raw(load_default=0.0)

    @validates_schema
    def threshold_kind(self, data: dict[str, Any], **_: Any) -> None:
        t = data.get("threshold")
        if not isinstance(t, str) and not (
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
        ):
            raise ValidationError("must be a number or a string", "threshold")

    def load(self, data: Any, **kw: Any) -> Any:  # case-insensitive op, like KairosDB
        if isinstance(data, dict) and isinstance(data.get("filter_op"), str):
            data = {**data, "filter_op": data["filter_op"].lower()}
        return super().load(data, **kw)


class TrimProps(Props):
    trim = fields.String(
        required=True,
        error_messages={"required": "may not be null"},
        validate=_one_of(
            ("first", "last", "both"), "trim type", "'first', 'last' or 'both'"
        ),
    )

    def load(self, data: Any, **kw: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("trim"), str):
            data = {**data, "trim": data["trim"].lower()}
        return super().load(data, **kw)


class SaveAsProps(Props):
    metric_name = fields.String(
        required=True,
        validate=[validate.Length(min=1, error="may not be empty"), short_name],
        error_messages={"required": "may not be null"},
    )
    # (what it writes is a series like any other: the write path's rules apply)
    tags = fields.Dict(
        keys=fields.String(validate=[validate.Length(min=1, error=EMPTY), short_name]),
        values=fields.String(
            validate=[validate.Length(min=1, error=EMPTY), short_name]
        ),
        load_default=dict,
    )
    ttl = fields.Integer(
        load_default=0, validate=validate.Range(min=0, max=630_720_000)
    )
    add_saved_from = fields.Boolean(load_default=True)


# -- building stages ------------------------------------------------------------------


def _range_options(p: dict[str, Any]) -> ra.RangeOptions:
    sampling = p.get("sampling")
    return ra.RangeOptions(
        sampling=Duration(sampling["value"], sampling["unit"])
        if sampling
        else Duration(1, "MILLISECONDS"),
        align_sampling=p["align_sampling"],
        align_start_time=p["align_start_time"],
        align_end_time=p["align_end_time"],
        start_time=p["start_time"],
    )


def _with_zone(p: dict[str, Any], ctx: StageContext) -> StageContext:
    if p.get("time_zone") is None:
        return ctx
    return StageContext(**{**ctx.__dict__, "time_zone": p["time_zone"]})


def _ranged(make_acc: Callable[[dict[str, Any]], Callable[[], ra.Accumulator]]) -> Any:
    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        opts, acc = _range_options(p), make_acc(p)
        return lambda ctx: ra.RangeStage(opts, _with_zone(p, ctx), acc)

    return build


def _dev(p: dict[str, Any]) -> Callable[[], ra.Accumulator]:
    kind, k = p["return_type"], p["dev_count"]
    if kind == "value":
        return ra.Dev
    sign = 1 if kind == "pos_sd" else -1

    class Band(ra.Dev):
        def result(self, stamp: int, aligned: bool) -> list[Pt]:
            ((_, sd),) = super().result(stamp, aligned)
            return [(stamp, self.mean + sign * k * sd)]

    return Band


def _rate(sampler: bool) -> Callable[[dict[str, Any]], Callable[[StageContext], Any]]:
    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        if p.get("sampling"):
            sampling = Duration(p["sampling"]["value"], p["sampling"]["unit"])
        else:
            sampling = Duration(1, p.get("unit") or "MILLISECONDS")
        return lambda ctx: sa.Rate(sampling, _with_zone(p, ctx), sampler=sampler)

    return build


def _gaps(p: dict[str, Any]) -> Callable[[StageContext], Any]:
    opts = _range_options(p)
    return lambda ctx: ra.GapsStage(opts, _with_zone(p, ctx))


def _stream(make: Callable[[dict[str, Any]], Any]) -> Any:
    """A builder for a stage that needs only its properties."""

    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        return lambda ctx: make(p)

    return build


def _save_as(p: dict[str, Any]) -> Callable[[StageContext], Any]:
    return lambda ctx: sa.SaveAs(
        ctx, p["metric_name"], p["tags"], p["ttl"], p["add_saved_from"]
    )


def _divide(p: dict[str, Any]) -> sa.Map:
    divisor = p["divisor"]
    return sa.Map(lambda v: v / divisor)


def _scale(p: dict[str, Any]) -> sa.Map:
    factor = p["factor"]
    return sa.Map(lambda v: v * factor)


def _accumulate(acc: Callable[[], ra.Accumulator]) -> Any:
    return _ranged(lambda p: acc)


def _vranged(make_red: Callable[[dict[str, Any]], vx.Reducer]) -> Any:
    """A vector range stage: a fresh reducer per result group."""

    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        opts = _range_options(p)
        return lambda ctx: vx.VRangeStage(opts, _with_zone(p, ctx), make_red(p))

    return build


def _vdev(p: dict[str, Any]) -> vx.Reducer:
    kind, k = p["return_type"], p["dev_count"]
    if kind == "value":
        return vx.DevR()
    return vx.DevR((1 if kind == "pos_sd" else -1, k))


@dataclass(frozen=True)
class Entry:
    props: type[Props]
    build: Callable[[dict[str, Any]], Callable[[StageContext], Any]]
    groups: frozenset[str] | None = NUMBER  # data groups it takes; None = all
    output_group: str | None = None
    takes_nulls: bool = False
    makes_nulls: bool = False
    vbuild: Callable[[dict[str, Any]], Callable[[StageContext], Any]] | None = None


def _vstream(make: Callable[[dict[str, Any]], Any]) -> Any:
    """A builder for a vector stage that needs only its properties."""

    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        return lambda ctx: make(p)

    return build


def _vrate(sampler: bool) -> Any:
    oracle = _rate(sampler)

    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        make = oracle(p)
        return lambda ctx: vx.VRate(make(ctx))

    return build


def _vwrap(
    oracle: Callable[[dict[str, Any]], Callable[[StageContext], Any]], wrap: Any
) -> Any:
    """A vector stage around the oracle's own stage (its settings and state)."""

    def build(p: dict[str, Any]) -> Callable[[StageContext], Any]:
        make = oracle(p)
        return lambda ctx: wrap(make(ctx))

    return build


CATALOG: dict[str, Entry] = {
    "avg": Entry(RangeProps, _accumulate(ra.Avg), vbuild=_vranged(lambda p: vx.AvgR())),
    "count": Entry(
        RangeProps,
        _accumulate(ra.Count),
        None,
        output_group="number",
        takes_nulls=True,
        vbuild=_vranged(lambda p: vx.CountR()),
    ),
    "dev": Entry(DevProps, _ranged(_dev), vbuild=_vranged(_vdev)),
    "first": Entry(
        RangeProps, _accumulate(ra.First), None, vbuild=_vranged(lambda p: vx.FirstR())
    ),
    "last": Entry(
        RangeProps, _accumulate(ra.Last), None, vbuild=_vranged(lambda p: vx.LastR())
    ),
    "max": Entry(RangeProps, _accumulate(ra.Max), vbuild=_vranged(lambda p: vx.MaxR())),
    "min": Entry(RangeProps, _accumulate(ra.Min), vbuild=_vranged(lambda p: vx.MinR())),
    "sum": Entry(RangeProps, _accumulate(ra.Sum), vbuild=_vranged(lambda p: vx.SumR())),
    "least_squares": Entry(
        RangeProps,
        _accumulate(ra.LeastSquares),
        vbuild=_vranged(lambda p: vx.LeastSquaresR()),
    ),
    "percentile": Entry(
        PercentileProps,
        _ranged(lambda p: functools.partial(ra.Percentile, p["percentile"])),
        vbuild=_vranged(lambda p: vx.PercentileR(p["percentile"])),
    ),
    "gaps": Entry(
        RangeProps,
        _gaps,
        None,
        takes_nulls=True,
        makes_nulls=True,
        vbuild=_vwrap(_gaps, vx.VGaps),
    ),
    "diff": Entry(
        Props, _stream(lambda p: sa.Diff()), vbuild=_vstream(lambda p: vx.VDiff())
    ),
    "div": Entry(
        DivProps,
        _stream(_divide),
        vbuild=_vstream(lambda p: vx.VMap(operator.truediv, p["divisor"])),
    ),
    "scale": Entry(
        ScaleProps,
        _stream(_scale),
        vbuild=_vstream(lambda p: vx.VMap(operator.mul, p["factor"])),
    ),
    "rate": Entry(RateProps, _rate(sampler=False), vbuild=_vrate(False)),
    "sampler": Entry(RateProps, _rate(sampler=True), vbuild=_vrate(True)),
    "sma": Entry(SmaProps, _stream(lambda p: sa.Sma(p["size"]))),
    "filter": Entry(
        FilterProps,
        _stream(lambda p: sa.Filter(p["filter_op"], p["threshold"])),
        None,
        vbuild=_vstream(lambda p: vx.VFilter(p["filter_op"], p["threshold"])),
    ),
    "trim": Entry(
        TrimProps,
        _stream(lambda p: sa.Trim(p["trim"])),
        None,
        takes_nulls=True,
        vbuild=_vstream(lambda p: vx.VTrim(p["trim"])),
    ),
    "save_as": Entry(SaveAsProps, _save_as, None, vbuild=_vwrap(_save_as, vx.VSaveAs)),
}
_SCHEMAS = {name: entry.props() for name, entry in CATALOG.items()}


def build(name: str, props: dict[str, Any]) -> AggregatorSpec:
    """A validated aggregator; raises ValidationError with field-keyed messages."""
    entry = CATALOG[name]
    params = _SCHEMAS[name].load(props)
    return AggregatorSpec(
        name=name,
        groups=entry.groups,
        make=entry.build(params),
        output_group=entry.output_group,
        takes_nulls=entry.takes_nulls,
        makes_nulls=entry.makes_nulls,
        vmake=entry.vbuild(params) if entry.vbuild else None,
    )

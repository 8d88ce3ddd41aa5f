"""Hostile KairosDB requests: writes, queries, deletes, metadata, all auth forms.

Every document comes in two kinds: *legal* ones, shaped like the real thing with
values at the edges of what is allowed (64-bit extremes, the longest durations and
names, zones with odd daylight saving), which must be answered 2xx; and *hostile*
ones, where any slot may hold anything (huge integers, NaN, lone surrogates, names
past the key limit, the wrong type), which must be answered 2xx or 4xx. Both kinds,
plus bare garbage and deep nesting, make up the bodies the fuzzers send.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.hostile import (
    EDGE_INTS,
    LONG_MAX,
    LONG_MIN,
    Request,
    anything,
    broken,
    deep,
    dumps,
    floats,
    header_text,
    integers,
    maybe,
    text,
)

TYPES = ["long", "double", "string", "json", "complex-number"]
UNITS = ["milliseconds", "SECONDS", "minutes", "hours", "days", "weeks", "months"]
UNITS += ["years", "Years"]
# the longest duration of each unit (service.query.timeunits.MAX_VALUE)
LONGEST = {
    "milliseconds": LONG_MAX,
    "seconds": LONG_MAX // 1000,
    "minutes": LONG_MAX // 60_000,
    "hours": LONG_MAX // 3_600_000,
    "days": LONG_MAX // 86_400_000,
    "weeks": LONG_MAX // 604_800_000,
    "months": LONG_MAX // 2_629_746_000,
    "years": LONG_MAX // 31_556_952_000,
}
ZONES = ["UTC", "Europe/Paris", "Pacific/Apia", "Australia/Lord_Howe", "Factory"]
ZONES += ["America/Santiago", "right/UTC", "Etc/GMT-14", "Antarctica/Troll"]
AGGREGATORS = ["avg", "count", "dev", "diff", "div", "filter", "first", "gaps"]
AGGREGATORS += ["last", "least_squares", "max", "min", "percentile", "rate"]
AGGREGATORS += ["sampler", "save_as", "scale", "sma", "sum", "trim"]
LEGAL_NAMES = ["0", "m", "é" * 2048]  # (the last is exactly the 4,096-byte limit)

legal_times = st.integers(LONG_MIN, LONG_MAX) | st.sampled_from(
    [LONG_MIN, LONG_MAX, 0, -1, 1, 2**62, -(2**62)]
)
legal_names = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8
) | st.sampled_from(LEGAL_NAMES)


@st.composite
def legal_duration(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(UNITS))
    top = LONGEST[unit.lower()]
    value = draw(st.integers(1, 100) | st.integers(1, top) | st.just(top))
    return {"value": value, "unit": unit}


@dataclass(frozen=True)
class Slots:
    """What fills each kind of slot: legal values, or legal ones mixed with anything."""

    legal: bool
    fill: Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]]
    times: st.SearchStrategy[Any]
    names: st.SearchStrategy[Any]
    keys: st.SearchStrategy[str]  # object keys: always text
    counts: st.SearchStrategy[Any]
    numbers: st.SearchStrategy[Any]


LEGAL = Slots(
    legal=True,
    fill=lambda s: s,
    times=legal_times,
    names=legal_names,
    keys=legal_names,
    counts=st.integers(1, 5) | st.sampled_from([2**31 - 1, 1]),
    numbers=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 9),
)
HOSTILE = Slots(
    legal=False,
    fill=maybe,
    times=st.integers(LONG_MIN, LONG_MAX) | st.sampled_from(EDGE_INTS) | anything,
    names=maybe(text),
    keys=text,
    counts=maybe(integers),
    numbers=maybe(floats | integers),
)
# (and lone surrogates in names and keys: such bodies are refused at the door)
BROKEN = dataclasses.replace(HOSTILE, names=maybe(broken), keys=broken)


# -- writes ---------------------------------------------------------------------


def _metric(s: Slots) -> st.SearchStrategy[dict[str, Any]]:
    value = s.numbers | s.fill(st.integers(LONG_MIN, LONG_MAX)) | s.names
    point = st.tuples(s.times, value).map(list)
    if not s.legal:
        point = point | st.lists(maybe(s.times | value), max_size=4)
    envelope = st.fixed_dictionaries(
        {
            "name": s.names,
            "tags": s.fill(st.dictionaries(s.keys, s.names, min_size=1, max_size=3)),
            "datapoints": s.fill(st.lists(point, max_size=5)),
        },
        optional={"ttl": s.fill(st.integers(0, 630_720_000))},
    )
    # one point of its own, as timestamp and value (both, or neither when legal)
    single = st.fixed_dictionaries({"timestamp": s.times, "value": value})
    if not s.legal:
        single = st.fixed_dictionaries(
            {},
            optional={
                "timestamp": s.times,
                "time": s.times,
                "value": value,
                "type": maybe(st.sampled_from([*TYPES, "quaternion"])),
            },
        )
    return st.builds(lambda e, p: {**e, **p}, envelope, st.just({}) | single)


write_bodies = st.one_of(
    *[st.lists(_metric(LEGAL), max_size=3), st.lists(_metric(HOSTILE), max_size=3)] * 2,
    _metric(HOSTILE),
    st.lists(_metric(BROKEN), min_size=1, max_size=2),
    anything,
    deep,
)

# -- queries ------------------------------------------------------------------------


def _duration(s: Slots) -> st.SearchStrategy[Any]:
    if s.legal:
        return legal_duration()
    return maybe(
        legal_duration()
        | st.fixed_dictionaries(
            {},
            optional={
                "value": maybe(integers),
                "unit": maybe(st.sampled_from([*UNITS, "fortnights", ""])),
            },
        )
    )


def _aggregator(s: Slots) -> st.SearchStrategy[dict[str, Any]]:
    if s.legal:
        return _legal_aggregator()
    bools, zone = s.fill(st.booleans()), s.fill(st.sampled_from(ZONES))
    return st.fixed_dictionaries(
        {"name": s.fill(st.sampled_from(AGGREGATORS))},
        optional={
            "sampling": _duration(s),
            "align_sampling": bools,
            "align_start_time": bools,
            "align_end_time": bools,
            "start_time": s.times,
            "time_zone": zone,
            "percentile": s.fill(st.floats(0.01, 1.0)),
            "return_type": s.fill(st.sampled_from(["value", "pos_sd", "neg_sd"])),
            "dev_count": s.counts,
            "unit": s.fill(st.sampled_from(UNITS)),
            "divisor": s.numbers,
            "factor": s.numbers,
            "size": s.counts,
            "filter_op": s.fill(st.sampled_from(["lt", "lte", "gt", "GTE", "ne"])),
            "threshold": s.numbers | s.names,
            "trim": s.fill(st.sampled_from(["first", "last", "both"])),
            "metric_name": s.names,
            "tags": s.fill(st.dictionaries(s.keys, s.names, max_size=2)),
            "ttl": s.fill(st.integers(0, 630_720_000)),
        },
    )


def _legal_aggregator() -> st.SearchStrategy[dict[str, Any]]:
    """An aggregator with the properties its name takes, each legal."""
    numbers, counts = LEGAL.numbers, LEGAL.counts
    ranged = {
        "sampling": legal_duration(),
        "align_sampling": st.booleans(),
        "start_time": legal_times,
        "time_zone": st.sampled_from(ZONES),
    }
    stamped = st.sampled_from(
        [{}, {"align_start_time": True}, {"align_end_time": True}]
    )

    def agg(name: str, required: Any = None, **optional: Any) -> Any:
        props = st.fixed_dictionaries(
            {"name": st.just(name), **(required or {})}, optional=optional
        )
        return st.builds(lambda p, extra: {**p, **extra}, props, stamped)

    simple = ["avg", "count", "first", "last", "max", "min", "sum"]
    simple += ["least_squares", "gaps"]
    return st.one_of(
        *[agg(name, **ranged) for name in simple],
        agg("percentile", {"percentile": st.floats(0.01, 1.0)}, **ranged),
        agg(
            "dev",
            return_type=st.sampled_from(["value", "pos_sd", "neg_sd"]),
            dev_count=counts,
            **ranged,
        ),
        *[
            st.fixed_dictionaries(
                {"name": st.just(name)},
                optional={
                    "sampling": legal_duration(),
                    "time_zone": st.sampled_from(ZONES),
                },
            )
            for name in ("rate", "sampler")
        ],
        st.just({"name": "diff"}),
        st.fixed_dictionaries(
            {"name": st.just("div"), "divisor": numbers.filter(bool)}
        ),
        st.fixed_dictionaries({"name": st.just("scale"), "factor": numbers}),
        st.fixed_dictionaries({"name": st.just("sma"), "size": counts}),
        st.fixed_dictionaries(
            {
                "name": st.just("filter"),
                "filter_op": st.sampled_from(["lt", "lte", "gt", "GTE", "ne"]),
                "threshold": numbers,
            }
        ),
        st.fixed_dictionaries(
            {"name": st.just("trim"), "trim": st.sampled_from(["first", "last"])}
        ),
        st.fixed_dictionaries(
            {"name": st.just("save_as"), "metric_name": legal_names},
            optional={
                "tags": st.dictionaries(legal_names, legal_names, max_size=2),
                "ttl": st.integers(0, 630_720_000),
            },
        ),
    )


def _group_by(s: Slots) -> st.SearchStrategy[dict[str, Any]]:
    bins = st.lists(s.numbers, min_size=1)
    if s.legal:
        bins = bins.map(sorted)
    return st.one_of(
        st.fixed_dictionaries(
            {"name": st.just("tag"), "tags": s.fill(st.lists(s.names, min_size=1))}
        ),
        st.fixed_dictionaries(
            {
                "name": st.just("time"),
                "range_size": _duration(s),
                "group_count": s.counts,
            }
        ),
        st.fixed_dictionaries(
            {
                "name": st.just("value"),
                "range_size": s.fill(st.integers(1, LONG_MAX)),
            }
        ),
        st.fixed_dictionaries(
            {
                "name": st.just("bin"),
                "bins": s.fill(bins),
            }
        ),
    )


def _metric_query(s: Slots) -> st.SearchStrategy[dict[str, Any]]:
    values = s.names | s.fill(st.lists(s.names, min_size=1, max_size=3))
    return st.fixed_dictionaries(
        {"name": s.names},
        optional={
            "tags": s.fill(st.dictionaries(s.keys, values, max_size=2)),
            "group_by": s.fill(st.lists(_group_by(s), max_size=2)),
            "aggregators": s.fill(st.lists(_aggregator(s), max_size=3)),
            "limit": s.fill(st.integers(0, 2**31 - 1)),
            "order": s.fill(st.sampled_from(["asc", "desc", "DESC"])),
            "exclude_tags": s.fill(st.booleans()),
            "alias": s.names,
        },
    )


def _query(s: Slots) -> st.SearchStrategy[dict[str, Any]]:
    if s.legal:  # a range that ends after it starts
        start = st.lists(legal_times, min_size=2, max_size=2).map(sorted).map(
            lambda t: {"start_absolute": t[0], "end_absolute": t[1]}
        ) | st.builds(lambda d: {"start_relative": d}, legal_duration())
    else:
        start = st.one_of(
            st.fixed_dictionaries({"start_absolute": s.times}),
            st.fixed_dictionaries({"start_relative": _duration(s)}),
            st.fixed_dictionaries(
                {"start_absolute": s.times},
                optional={"end_absolute": s.times, "end_relative": _duration(s)},
            ),
        )
    rest = st.fixed_dictionaries(
        {"metrics": s.fill(st.lists(_metric_query(s), min_size=1, max_size=3))},
        optional={
            "time_zone": s.fill(st.sampled_from(ZONES)),
            "cache_time": s.fill(st.integers(0, 2**31 - 1)),
        },
    )
    return st.builds(lambda a, b: {**a, **b}, start, rest)


query_bodies = st.one_of(
    *[_query(LEGAL), _query(HOSTILE)] * 2, _query(BROKEN), anything, deep
)

# -- requests ---------------------------------------------------------------------


@st.composite
def auth(draw: st.DrawFn, key: str | None) -> dict[str, str]:
    """Mostly no credentials (the public project) or the key (as Token or Basic);
    one time in six a wrong key, Basic with another user, or garbage. (Chosen by a
    drawn random number: hypothesis favours new values, so a plain one_of would
    pick the garbage, which never repeats, far more often than the rest.)"""
    roll = draw(st.randoms(use_true_random=False)).random()
    project = (key or "").split(".")[0]

    def basic(user: str) -> dict[str, str]:
        raw = base64.b64encode(f"{user}:{key}".encode("utf-8", "surrogatepass"))
        return {"Authorization": f"Basic {raw.decode()}"}

    if roll < 0.5 or not key:
        return {}
    if roll < 0.75:
        return {"Authorization": f"Token {key}"}
    if roll < 0.83:
        return basic(project)
    wrong = draw(st.sampled_from(["token", "header", "basic"]))
    if wrong == "basic":
        return basic(draw(broken))
    garbage = draw(header_text)
    return {"Authorization": f"Token {garbage}" if wrong == "token" else garbage}


def _body(doc: Any, gzipped: bool) -> tuple[bytes, dict[str, str]]:
    raw = dumps(doc)
    if gzipped:
        return gzip.compress(raw), {"Content-Encoding": "gzip"}
    return raw, {"Content-Type": "application/json"}


KINDS = ("write", "query", "get", "tags", "delete", "meta")
QUERY_PATHS = {
    "query": "/api/v1/datapoints/query",
    "tags": "/api/v1/datapoints/query/tags",
    "delete": "/api/v1/datapoints/delete",
}


@st.composite
def requests(
    draw: st.DrawFn, key: str | None = None, kinds: tuple[str, ...] = KINDS
) -> Request:
    """One hostile request to a KairosDB endpoint of one of ``kinds``."""
    headers = draw(auth(key))
    kind = draw(st.sampled_from(kinds))
    if kind == "write":
        body, more = _body(draw(write_bodies), draw(st.booleans()))
        return Request(
            "kairosdb", "POST", "/api/v1/datapoints", {}, headers | more, body
        )
    if kind == "get":
        params = {"query": dumps(draw(query_bodies)).decode()}
        return Request("kairosdb", "GET", "/api/v1/datapoints/query", params, headers)
    if kind in QUERY_PATHS:
        body, more = _body(draw(query_bodies), draw(st.booleans()))
        return Request("kairosdb", "POST", QUERY_PATHS[kind], {}, headers | more, body)
    which = draw(st.sampled_from(["metricnames", "tagnames", "tagvalues", "metric"]))
    if which == "metric":
        name = draw(broken.filter(bool)).encode("utf-8", "surrogatepass")
        path = f"/api/v1/metric/{quote(name, safe='')}"
        return Request("kairosdb", "DELETE", path, {}, headers)
    params = draw(
        st.dictionaries(st.sampled_from(["prefix", "metric", "tag", "name"]), text)
    )
    # (a query string carries text: what cannot be encoded is left out)
    params = {k: v for k, v in params.items() if v.isprintable() and _encodes(v)}
    return Request("kairosdb", "GET", f"/api/v1/{which}", params, headers)


def _encodes(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True

"""Hostile input, and what every answer to it must look like.

Hypothesis strategies shared by the fuzz tests (tests/functional/test_kairos_fuzz.py)
and the operator's fuzz target (bench/fuzz_http.py): values a client can spell in
JSON that a parser must survive (huge integers, NaN and Infinity, lone surrogates,
names past the key limit, deep nesting, the wrong type anywhere), requests built from
them (:class:`Request`), and :func:`violations`, which says what is wrong with an
answer: a 5xx, or a body that is not in the dialect's own envelope.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
EDGE_INTS = [
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    2**53 + 1,
    LONG_MAX,
    LONG_MIN,
    LONG_MAX + 1,
    LONG_MIN - 1,
    2**64,
    10**30,
    -(10**30),
    10**4000,  # (4,001 digits: the most Python reads back is 4,300)
]
EDGE_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.5]
ODD_TEXT = [
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\u202eevil",
    "e\u0301",
    "\U0001f600",
    "../../etc/passwd",
    "%00",
    "regex:(a+)+$",
    "regex:[",
    "x" * 5000,
    "é" * 2049,  # 4,098 bytes of UTF-8: just past the name limit
    "n" * 70 * 1024,  # past Cassandra's 64 KiB key limit
]

# Lone surrogates: valid JSON escapes (\ud800), not Unicode text. Bodies holding one
# are refused whole at the door, so they get a family of their own (``broken``)
# rather than a chance in every slot, which would leave little else past the door.
SURROGATE_TEXT = ["\ud800", "a\udc00", "\udbff!"]
surrogates = st.sampled_from(SURROGATE_TEXT) | st.tuples(
    st.text(max_size=4), st.characters(categories=["Cs"])
).map("".join)
# Mostly text a parser must take; now and then text it must refuse or survive.
text = st.one_of(*[st.text(max_size=12)] * 5, st.sampled_from(ODD_TEXT))
broken = text | surrogates
# What a header can carry (HTTP headers are Latin-1 text without control characters).
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)
integers = st.integers() | st.sampled_from(EDGE_INTS)
floats = st.floats() | st.sampled_from(EDGE_FLOATS)
scalars = st.none() | st.booleans() | integers | floats | text
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4)
    ),
    max_leaves=12,
)


class RawJson(bytes):
    """JSON text written out already (too deep for json.dumps to write)."""


def nested(depth: int) -> RawJson:
    """``depth`` arrays and objects inside each other (parsers must not recurse
    without a bound)."""
    opening = b'[{"a":' * (depth // 2) + b"[" * (depth % 2)
    closing = b"]" * (depth % 2) + b"}]" * (depth // 2)
    return RawJson(opening + b"1" + closing)


deep = st.integers(1, 3000).map(nested)


@st.composite
def usually(
    draw: st.DrawFn,
    common: st.SearchStrategy[Any],
    rare: st.SearchStrategy[Any],
    odds: float = 0.8,
) -> Any:
    """``common`` with probability ``odds``, else ``rare``. (Chosen by a drawn
    random number: hypothesis favours values it has not seen, so a plain one_of
    picks a branch of endless new values far more often than a fixed one.)"""
    roll = draw(st.randoms(use_true_random=False)).random()
    return draw(common if roll < odds else rare)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the plausible value, sometimes anything at all in its place."""
    return st.one_of(*[strategy] * 5, anything)


def dumps(doc: Any) -> bytes:
    """JSON as a client may send it: NaN and Infinity spelled out, lone surrogates
    escaped (``\\ud800``), huge integers written whole."""
    if isinstance(doc, RawJson):
        return bytes(doc)
    return json.dumps(doc, allow_nan=True, ensure_ascii=True).encode()


@dataclass(frozen=True)
class Request:
    """One request, as the fuzz target saves it to replay."""

    dialect: str  # kairosdb, liquid, analyze, mda, onenet
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def family(self) -> str:
        """The endpoint family: the path with ids left out."""
        parts = [p for p in self.path.split("?")[0].split("/") if p][:7]
        shown = "/".join(p if p in _WORDS else "*" for p in parts)
        return f"{self.method} /{shown}"


# The fixed words of every route (README.md); anything else in a path is an id.
_WORDS = frozenset(
    {
        "api",
        "v1",
        "datapoints",
        "query",
        "tags",
        "delete",
        "metric",
        "metricnames",
        "tagnames",
        "tagvalues",
        "version",
        "health",
        "status",
        "check",
        "projects",
        "project",
        "sessions",
        "attachments",
        "batch",
        "time",
        "devices",
        "datastreams",
        "data_points",
        "collect",
        "aliases",
        "analyze",
        "users",
    }
)


class _Strict(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _Strict(f"{name} is not JSON")


def strict_json(body: bytes) -> Any:
    """The document a body holds, read as strictly as a browser reads it (no NaN
    or Infinity); ValueError when it is not JSON."""
    return json.loads(body.decode("utf-8"), parse_constant=_no_constants)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, str) and m for m in value)


def _envelope_problem(dialect: str, status: int, doc: Any) -> str | None:
    """What is wrong with an answer's JSON for its dialect, or None."""
    if not isinstance(doc, (dict, list)):
        return "not a JSON object or array"
    if dialect == "onenet":
        if not isinstance(doc, dict) or not isinstance(doc.get("errno"), int):
            return "no errno"
        if not isinstance(doc.get("error"), str):
            return "no error text"
        if (doc["errno"] == 0) != (doc["error"] == "succ"):
            return "errno and error disagree"
        return None
    if status < 400:
        if dialect == "mda" and not (
            isinstance(doc, dict) and doc.get("status") == "success"
        ):
            return "an MDA success without status success"
        return None
    if not isinstance(doc, dict):
        return "an error that is not an object"
    if dialect == "kairosdb":
        ok = set(doc) == {"errors"} and doc["errors"] and _strings(doc["errors"])
    elif dialect == "liquid":
        ok = isinstance(doc.get("error"), str) and set(doc) <= {"error", "details"}
    elif dialect == "analyze":
        ok = set(doc) == {"message"} and isinstance(doc["message"], str)
    else:  # mda
        result = doc.get("result")
        ok = (
            set(doc) == {"status", "result"}
            and isinstance(doc["status"], str)
            and doc["status"] != "success"
            and isinstance(result, dict)
            and _strings(result.get("errors"))
        )
    return None if ok else f"not in {dialect}'s error envelope"


def violations(
    request: Request, status: int, content_type: str, body: bytes
) -> list[str]:
    """Everything wrong with an answer: a 5xx (a 503 is the store's, not the
    input's, and is reported too), or a body not in the dialect's envelope."""
    found = []
    if status >= 500:
        found.append(f"HTTP {status}")
    if not body:
        # no body: a 204, a Liquid production error, an OPTIONS or HEAD answer
        return found
    if "json" not in content_type:
        if request.dialect == "mda" and "/attachments/" in request.path:
            return found  # an attachment is the file itself
        return [*found, f"a body of type {content_type or 'none'}, not JSON"]
    try:
        doc = strict_json(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return [*found, f"a body that is not strict JSON ({exc})"]
    problem = _envelope_problem(request.dialect, status, doc)
    if problem:
        found.append(problem)
    return found

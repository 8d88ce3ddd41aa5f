"""Hypothesis strategies for hostile input, shared by the dialects' fuzz tests.

They lean towards what broke the service before: text that is not Unicode (lone
surrogates, bytes that are not UTF-8), times at and past the ends of the calendar and
of 64 bits, impossible UTC offsets, numbers JSON cannot carry back, names far past
their limits, and wrong types at every level.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

from hypothesis import strategies as st

# Characters of every category, lone surrogates included (JSON escapes them).
any_char = st.characters(codec=None, exclude_categories=())
text = st.text(any_char, max_size=12) | st.sampled_from(
    ["", " ", "\ud800", "a\udc00", "\udbff!", "\x00", "é", "報告", "$", ".", "a.b"]
)
# Numbers at the edges of 64 bits and of floats.
numbers = (
    st.sampled_from(
        [0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70, 10**30, 1e308, -0.0]
    )
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
)
scalars = st.none() | st.booleans() | numbers | text


def json_values(leaves: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4)
        ),
        max_leaves=12,
    )


anything = json_values()

# Times as clients spell them: right and wrong fields, years at and past both ends,
# offsets up to +99:99, fractions of any length.
_year = st.sampled_from(["0000", "0001", "1970", "2015", "9999", "10000", "99"])
_two = st.integers(0, 99).map(lambda n: f"{n:02d}")
_offset = st.sampled_from(["", "Z", "z"]) | st.builds(
    lambda sign, hh, mm, colon: f"{sign}{hh}{colon}{mm}",
    st.sampled_from(["+", "-"]),
    _two,
    _two,
    st.sampled_from([":", ""]),
)
_fraction = st.sampled_from(["", ".", ".5", ".123", ".123456", ".1234567890"])
times = (
    st.builds(
        lambda y, mo, d, sep, h, mi, s, f, o: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{f}{o}",
        _year,
        _two,
        _two,
        st.sampled_from(["T", " ", "t"]),
        _two,
        _two,
        _two,
        _fraction,
        _offset,
    )
    | st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2015-03-22T22:31:12+99:00",
            "2015-03-22T22:31:12+00:60",
            "2015-03-22T22:31:12-24:00",
            "2015-03-22T22:31:12",
        ]
    )
    | text
)
# Millisecond counts, as decimal text.
millis = numbers.map(lambda n: str(int(n)) if isinstance(n, int) else str(n)) | text

# Names: short, at a limit, far past it.
names = (
    text
    | st.sampled_from([255, 256, 70_000]).map(lambda n: "x" * n)  # (a short repr)
    | st.sampled_from(["a[b]", "a/b"])
)


def path_segment(raw: bytes | str) -> str:
    """Any bytes or text as one percent-encoded path segment."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    return urllib.parse.quote(raw, safe="")


segments = (st.binary(max_size=12) | names).map(path_segment)


def query(params: dict[str, bytes | str]) -> str:
    """A query string from any bytes or text (``params=`` would refuse surrogates)."""
    return "&".join(f"{k}={path_segment(v)}" for k, v in params.items())


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


cursors = (
    anything.map(cursor_of)
    | st.text(max_size=12)
    | st.sampled_from(
        [cursor_of([1, "\ud800"]), cursor_of([-5, 1]), cursor_of([0, 2**64])]
    )
)


def json_bytes(value: Any) -> bytes:
    """JSON text as a client may send it: lone surrogates as \\u escapes, NaN and
    Infinity spelled out (ujson reads them)."""
    return json.dumps(value, allow_nan=True).encode()

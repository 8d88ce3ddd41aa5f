"""The JSON value count that bounds a body's tree before ujson builds it, checked
against the plain oracle: decode the body and count what came out."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import ujson
from hypothesis import example, given
from hypothesis import strategies as st

from service import errors
from service.web.jsonsize import ValueCounter

# Text heavy in what the counter must see through: separators, quotes and backslashes
# inside strings, and characters that JSON escapes.
TEXT = st.text(alphabet=st.sampled_from(',:[{}]"\\ aé\n\u2028😀'), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5)
    ),
    max_leaves=40,
)


def values(doc: Any) -> int:
    """The oracle: values in a decoded tree, object keys included."""
    if isinstance(doc, list):
        return 1 + sum(values(x) for x in doc)
    if isinstance(doc, dict):
        return 1 + sum(1 + values(x) for x in doc.values())
    return 1


def counted(body: bytes, cuts: list[int], tier: int) -> int:
    """The count of ``body`` fed in pieces cut at ``cuts``, forced to ``tier``."""
    counter = ValueCounter(10**9)
    counter.tier = tier
    seen = b""
    edges = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        piece = body[start:end]
        seen += piece
        if tier == 2:
            counter.add(piece, seen)
        else:
            counter.length += len(piece)
            counter._feed(piece)
    return counter.values


@given(
    doc=DOCS,
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 1]),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
@example(doc=["a\\", '"'], ascii_only=True, indent=None, cuts=[3, 4, 5])
@example(doc={"k": "\\\\\\"}, ascii_only=False, indent=None, cuts=[7, 8])
def test_every_tier_bounds_the_tree_however_the_body_is_cut(
    doc: Any, ascii_only: bool, indent: int | None, cuts: list[int]
) -> None:
    body = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode()
    truth = values(ujson.loads(body))
    length_bound = (len(body) + 1) // 2
    separators = counted(body, cuts, tier=2)
    outside_strings = counted(body, cuts, tier=3)
    assert truth <= length_bound
    assert truth <= outside_strings <= separators
    # Outside strings, a separator starts a value, or opens an empty container.
    assert outside_strings <= 2 * truth
    # Cutting the body anywhere (mid-string, mid-escape) changes nothing.
    assert outside_strings == counted(body, [], tier=3)


def test_strings_full_of_separators_do_not_count() -> None:
    body = json.dumps(["12:00, [13:00], {14:00}"] * 1000).encode()
    assert counted(body, [], tier=2) > 5000
    assert counted(body, [], tier=3) == 1000 + 1


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b"[]," * 2000 + b"[]]",  # the bomb's shape
        b"[" + b"0," * 5000 + b"0]",
        json.dumps({f"k{i}": i for i in range(3000)}).encode(),
    ],
)
def test_a_body_over_the_limit_is_refused_while_it_arrives(body: bytes) -> None:
    counter = ValueCounter(2000)
    seen = b""

    def feed() -> None:
        nonlocal seen
        for start in range(0, len(body), 100):
            piece = body[start : start + 100]
            seen += piece
            counter.add(piece, seen)

    with pytest.raises(errors.PayloadTooLarge, match="more than 2,000 values"):
        feed()
    # Refused soon after the limit was passed, not at the end of the body.
    assert len(seen) < 0.9 * len(body)


def test_a_body_under_the_limit_passes_whatever_its_strings_hold() -> None:
    doc = ["a:b,c[d{e" * 100] * 50  # 51 values, thousands of separators in text
    body = json.dumps(doc).encode()
    counter = ValueCounter(60)
    counter.add(body, body)
    assert counter.values >= 51


def test_small_bodies_are_not_scanned_at_all() -> None:
    body = json.dumps([[1, 2]] * 100).encode()
    counter = ValueCounter(len(body))
    counter.add(body, body)
    assert counter.tier == 1


def test_the_estimate_covers_text_and_scratch() -> None:
    ascii_body = json.dumps(["x" * 1000] * 100).encode()
    counter = ValueCounter(10**6)
    counter.add(ascii_body, ascii_body)
    tree, scratch = counter.estimate(ascii_body)
    assert scratch == 4 * len(ascii_body)
    assert tree >= len(ascii_body)
    # An escape past U+FFFF makes every character of its string 4 bytes wide.
    wide = json.dumps(["x" * 1000 + "😀"] * 100).encode()
    counter = ValueCounter(10**6)
    counter.add(wide, wide)
    assert counter.estimate(wide)[0] >= 4 * len(wide)

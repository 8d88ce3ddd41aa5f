"""Reading the stores' JSON text columns: text that is not Unicode (lone surrogates,
stored as ``\\ud800`` escapes before they were refused) reads back as U+FFFD; all
other text exactly. The oracle is Python's own UTF-16 codec, which pairs surrogates
and replaces lone ones."""

from __future__ import annotations

from typing import Any

import ujson
from hypothesis import given
from hypothesis import strategies as st

from service.storage.json_text import loads

texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=8,
)


def oracle(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, list):
        return [oracle(v) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():  # (two keys may now read the same: the last wins)
            out[oracle(k)] = oracle(v)
        return out
    return value


@given(values)
def test_stored_json_reads_back_as_text(value: Any) -> None:
    stored = ujson.dumps(value)  # what both drivers write (ASCII escapes)
    got = loads(stored)
    assert got == oracle(value)
    ujson.dumps(got, ensure_ascii=False).encode("utf-8")  # a response can carry it

"""The plain path of Liquid's data point envelope against its marshmallow schema as
the oracle: whenever the plain path takes a data point, the schema loads the same
fields from it."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.dialects.liquid.parse import _SCHEMA, plain_envelope

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)
)
ANY = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
)
FIELDS = {
    "timestamp": st.one_of(st.none(), st.text(max_size=30), ANY),
    "user": st.one_of(st.dictionaries(st.text(max_size=5), ANY, max_size=4), ANY),
    "device": st.one_of(st.dictionaries(st.text(max_size=5), ANY, max_size=4), ANY),
    "event": st.one_of(st.dictionaries(st.text(max_size=5), ANY, max_size=4), ANY),
    "values": st.one_of(st.just([]), st.lists(SCALARS, max_size=3), ANY),
    "other": ANY,
}


@given(st.fixed_dictionaries({}, optional=FIELDS))
@example({"user": {}, "device": {}, "event": {}})
@example({"user": {}, "device": {}, "event": {}, "timestamp": None, "values": []})
def test_the_plain_envelope_is_what_the_schema_loads(doc: dict[str, Any]) -> None:
    plain = plain_envelope(doc)
    try:
        loaded = _SCHEMA.load(doc)
    except ValidationError:
        assert plain is None
        return
    assert plain is None or plain == loaded

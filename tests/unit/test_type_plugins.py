"""Another package adds a data type through the ``datapoints.types`` entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from service.datatypes import TypeRegistry
from service.dialects.kairosdb.parse import Parser


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny installed distribution declaring a 'boolean' type."""
    (tmp_path / "dp_boolean.py").write_text(
        textwrap.dedent("""
        from service.datatypes import DataType, InvalidValue

        class Boolean(DataType):
            name = "boolean"
            group = "number"

            def parse(self, raw):
                if not isinstance(raw, bool):
                    raise InvalidValue("must be true or false")
                return raw

            def encode(self, value):
                return b"\\x01" if value else b"\\x00"

            def decode(self, data):
                return data == b"\\x01"

            def as_float(self, value):
                return 1.0 if value else 0.0

        BOOLEAN = Boolean()
    """)
    )
    dist = tmp_path / "dp_boolean-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dp-boolean\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[datapoints.types]\nboolean = dp_boolean:BOOLEAN\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("dp_boolean", None)


def test_a_plugin_type_is_registered_and_used(plugin_on_path: Path) -> None:
    registry = TypeRegistry()
    registry.load_entry_points()
    assert "boolean" in registry.names()
    boolean = registry.get("boolean")
    assert boolean.decode(boolean.encode(True)) is True
    doc = [
        {
            "name": "m",
            "type": "boolean",
            "tags": {"a": "b"},
            "datapoints": [[1, True], [2, False]],
        }
    ]
    (batch,) = Parser(max_points=10, registry=registry).parse(doc)
    assert batch.points == [(1, "boolean", True), (2, "boolean", False)]
    bad = [{"name": "m", "type": "boolean", "tags": {"a": "b"}, "datapoints": [[1, 3]]}]
    with pytest.raises(Exception, match="must be true or false"):
        Parser(max_points=10, registry=registry).parse(bad)

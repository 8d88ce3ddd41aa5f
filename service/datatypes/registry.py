"""Finding types by name, and KairosDB's type inference for untyped values."""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points
from typing import Any

from service.datatypes.base import DataType, InvalidValue
from service.datatypes.builtin import BUILTIN_TYPES, DOUBLE, LONG, STRING
from service.errors import clip
from service.records import LONG_MAX, LONG_MIN

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "datapoints.types"
_LONG_TEXT = re.compile(r"-?[0-9]+")
_DOUBLE_TEXT = re.compile(r"-?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")


class UnknownType(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        # (clipped: a client's name, which may be any length, is quoted)
        self.message = f"Unregistered data point type '{clip(name)}'"


class TypeRegistry:
    def __init__(self, types: tuple[DataType, ...] = ()) -> None:
        self._types: dict[str, DataType] = {}
        for data_type in types:
            self.register(data_type)

    def register(self, data_type: DataType) -> None:
        existing = self._types.get(data_type.name)
        if existing is not None and existing is not data_type:
            raise ValueError(f"data type {data_type.name!r} is registered twice")
        self._types[data_type.name] = data_type

    def get(self, name: str) -> DataType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownType(name) from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def load_entry_points(self) -> None:
        """Register every type other installed packages declare."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            data_type = ep.load()
            if not isinstance(data_type, DataType):
                log.error("entry point %s is not a DataType; ignored", ep.value)
                continue
            self.register(data_type)

    def of_json(self, value: Any) -> tuple[str, Any]:
        """A JSON value's own type, for values no client typed (OneNET uploads,
        what a query's save_as writes): integers in range are longs, other numbers
        doubles, strings strings, anything else (true, arrays, objects, huge
        integers) JSON. Unlike ``infer``, text is never read as a number."""
        if isinstance(value, str):
            kind = "string"
        elif isinstance(value, bool):
            kind = "json"
        elif isinstance(value, int):
            kind = "long" if LONG_MIN <= value <= LONG_MAX else "json"
        elif isinstance(value, float):
            kind = "double"
        else:
            kind = "json"
        return kind, self.get(kind).parse(value)

    def infer(self, raw: Any) -> tuple[str, Any]:
        """KairosDB's rule for a value without ``type``.

        A number (or a string that reads as one) is a long when its text has no
        fraction and a double otherwise; any other string is a string. Objects and
        arrays need an explicit type.
        """
        if isinstance(raw, bool):
            return "string", STRING.parse(raw)
        if isinstance(raw, int):
            return "long", LONG.parse(raw)
        if isinstance(raw, float):
            return "double", DOUBLE.parse(raw)
        if isinstance(raw, str):
            if _LONG_TEXT.fullmatch(raw):
                return "long", LONG.parse(raw)
            if _DOUBLE_TEXT.fullmatch(raw):
                return "double", DOUBLE.parse(raw)
            if raw == "":
                raise InvalidValue("may not be empty.")
            return "string", STRING.parse(raw)
        if raw is None:
            raise InvalidValue("may not be null.")
        if isinstance(raw, list) and not raw:
            raise InvalidValue("may not be an empty array.")
        raise InvalidValue("is an invalid type")


def _default_registry() -> TypeRegistry:
    registry = TypeRegistry(BUILTIN_TYPES)
    try:
        registry.load_entry_points()
    except Exception:  # a broken plugin must not take the built-ins down with it
        log.exception("loading data types from entry points failed")
    return registry


REGISTRY = _default_registry()

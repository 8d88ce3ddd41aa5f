"""The type registry: every data point value goes through a registered data type.

A type brings its validation (``parse``) and its codec (``encode``/``decode``). Built-in
types are registered through the ``datapoints.types`` entry-point group like any plugin,
so another package adds a type by declaring an entry point that names a
:class:`DataType` instance.
"""

from __future__ import annotations

from service.datatypes.base import DataType, InvalidValue
from service.datatypes.registry import REGISTRY, TypeRegistry, UnknownType

__all__ = ["REGISTRY", "DataType", "InvalidValue", "TypeRegistry", "UnknownType"]

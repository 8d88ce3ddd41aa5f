"""Storage: one typed contract (``base``), two drivers (``sqlite``, ``cassandra``),
and the factory that picks one from the configuration."""

from service.storage.base import Backend, PointStore, SchemaState
from service.storage.factory import open_backend, prepare_backend

__all__ = ["Backend", "PointStore", "SchemaState", "open_backend", "prepare_backend"]

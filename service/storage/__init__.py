"""Storage: one typed contract (``base``), two drivers (``sqlite``, ``cassandra``)."""

from service.storage.base import Backend, PointStore, SchemaState
from service.storage.factory import open_backend

__all__ = ["Backend", "PointStore", "SchemaState", "open_backend"]

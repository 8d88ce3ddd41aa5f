"""Choosing the store from the configuration."""

from __future__ import annotations

from service.config import Config
from service.storage.base import Backend


def open_backend(config: Config) -> Backend:
    """The configured store. Nothing connects until the first call that needs it."""
    if config.store_kind == "cassandra":
        from service.storage.cassandra import CassandraBackend

        return CassandraBackend(config)
    from service.storage.sqlite import SqliteBackend

    return SqliteBackend(config.sqlite_path, row_width_ms=config.row_width_ms)

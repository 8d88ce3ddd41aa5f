"""Choosing the store from the configuration, and readying it to serve."""

from __future__ import annotations

from service import errors
from service.config import Config
from service.storage.base import Backend


def open_backend(config: Config) -> Backend:
    """The configured store. Nothing connects until the first call that needs it."""
    if config.store_kind == "cassandra":
        from service.storage.cassandra import CassandraBackend

        return CassandraBackend(config)
    from service.storage.sqlite import SqliteBackend

    return SqliteBackend(config.sqlite_path, row_width_ms=config.row_width_ms)


def prepare_backend(config: Config) -> Backend:
    """The store, ready to serve: the embedded one gets its schema created (it is a
    local file); Cassandra must already have it, applied by an operator."""
    backend = open_backend(config)
    if backend.name == "sqlite":
        backend.apply_schema()
        return backend
    state = backend.schema_state()
    if not state.current:
        backend.close()  # (a driver's threads would outlive the refusal)
        missing = "no datapoints schema" if not state.applied else "an older schema"
        raise errors.SchemaMissing(
            f"The {state.store} has {missing} (applied {list(state.applied)}, "
            f"this version needs {state.latest}). Run `datapoints schema apply` with "
            "the same DATAPOINTS_STORE first."
        )
    return backend

"""The embedded store: one SQLite file, the same contract as Cassandra."""

from service.storage.sqlite.backend import SqliteBackend

__all__ = ["SqliteBackend"]

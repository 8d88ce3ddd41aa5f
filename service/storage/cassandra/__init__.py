"""The Cassandra driver of the storage contract."""

from service.storage.cassandra.backend import CassandraBackend

__all__ = ["CassandraBackend"]

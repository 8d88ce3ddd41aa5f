"""A Cassandra keyspace as the service's store."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from service import errors
from service.config import Config
from service.storage.base import SchemaState
from service.storage.cassandra.coalesce import Coalescer
from service.storage.cassandra.compaction import Background, CompactionQueue, Compactor
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.devices import CassandraDeviceStore
from service.storage.cassandra.events import CassandraEventStore
from service.storage.cassandra.forms import CassandraFormStore
from service.storage.cassandra.migrate import migrate_cells
from service.storage.cassandra.points import CassandraPointStore
from service.storage.cassandra.projects import CassandraProjectStore
from service.storage.cassandra.schema import CassandraSchema, RowWidth
from service.storage.cassandra.session import CassandraSession, Role

# How long a check's finding that the schema is current is trusted before it is looked
# at again: load balancers may call /health/check every few seconds on every worker.
# (The keyspace itself is read on every check; a missing schema is never cached.)
SCHEMA_VERDICT_SECONDS = 10.0
NO_SCHEMA = (
    "The data store has no current schema for this service; an operator must run "
    "`datapoints schema apply`."
)


class CassandraBackend:
    name = "cassandra"
    cooperative = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self.keyspace = config.cassandra.keyspace
        self.session = CassandraSession(config.cassandra)
        self.schema = CassandraSchema(
            self.session,
            replication=config.replication,
            durable_writes=config.durable_writes,
            row_width_ms=config.row_width_ms,
        )
        self._schema_current_at: float | None = None  # monotonic
        self.context = CassandraContext(
            self.session,
            # one per process: small writes of all stores share its batches
            Coalescer(self.session),
            write_concurrency=config.write_concurrency,
            read_concurrency=config.read_concurrency,
        )
        self.compactor = Compactor(self.context, config.compaction)
        self.background = (
            Background(self.compactor, config.compaction.interval_seconds)
            if config.compaction.enabled
            else None
        )
        self.points = CassandraPointStore(
            self.context,
            row_width=RowWidth(self.schema),
            index_cache_size=config.index_cache_size,
            index_cache_seconds=config.index_cache_seconds,
            queue=CompactionQueue(config.compaction),
            background=self.background,
        )
        self.projects = CassandraProjectStore(self.session)
        self.devices = CassandraDeviceStore(self.session)
        self.forms = CassandraFormStore(self.context)
        self.events = CassandraEventStore(self.context)

    def schema_state(self) -> SchemaState:
        return self.schema.state()

    def apply_schema(self) -> SchemaState:
        state = self.schema.apply()
        # a keyspace of the per-point layout: its points into blocks (migrate.py)
        migrate_cells(self.context)
        return state

    def compaction_status(self) -> dict[str, Any]:
        return {"store": f"cassandra keyspace {self.keyspace}"} | (
            self.compactor.status()
        )

    def compact(self, *, all_now: bool) -> dict[str, Any]:
        done = self.compactor.run(all_now=all_now)
        return {"store": f"cassandra keyspace {self.keyspace}"} | dataclasses.asdict(
            done
        )

    def check(self) -> None:
        """Raise unless the service's keyspace answers a read (at the metadata
        consistency, so it fails while too few of its replicas are reachable) and
        holds the schema this code needs."""
        setting = self.session.execute(
            "SELECT value FROM {ks}.settings WHERE name = ?",
            ("row_width_ms",),
            role=Role.META,
        )
        if setting.one() is None:
            raise errors.SchemaMissing(NO_SCHEMA)  # the tables, but never applied
        verdict = self._schema_current_at
        if verdict is not None and time.monotonic() - verdict < SCHEMA_VERDICT_SECONDS:
            return
        if not self.schema.state().current:
            self._schema_current_at = None
            raise errors.SchemaMissing(NO_SCHEMA)
        self._schema_current_at = time.monotonic()

    def close(self) -> None:
        if self.background is not None:
            self.background.stop()
        self.session.close()

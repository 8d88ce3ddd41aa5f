"""A Cassandra keyspace as the service's store."""

from __future__ import annotations

import logging
import time

from service import errors
from service.config import Config
from service.storage.base import SchemaState
from service.storage.cassandra.coalesce import Coalescer
from service.storage.cassandra.devices import CassandraDeviceStore
from service.storage.cassandra.events import CassandraEventStore
from service.storage.cassandra.forms import CassandraFormStore
from service.storage.cassandra.points import CassandraPointStore
from service.storage.cassandra.projects import CassandraProjectStore
from service.storage.cassandra.schema import CassandraSchema
from service.storage.cassandra.session import CassandraSession, Role

log = logging.getLogger(__name__)

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

    def __init__(self, config: Config) -> None:
        self.config = config
        self.keyspace = config.cassandra.keyspace
        self.session = CassandraSession(config.cassandra)
        self.schema = CassandraSchema(
            self.session,
            keyspace=self.keyspace,
            replication=config.replication,
            durable_writes=config.durable_writes,
            row_width_ms=config.row_width_ms,
        )
        self._points: CassandraPointStore | None = None
        self._schema_current_at: float | None = None  # monotonic
        # one per process: small writes of all dialects share its batches
        self.coalescer = Coalescer(self.session, keyspace=self.keyspace)
        self.projects = CassandraProjectStore(self.session, keyspace=self.keyspace)
        self.devices = CassandraDeviceStore(self.session, keyspace=self.keyspace)
        self.forms = CassandraFormStore(
            self.session, keyspace=self.keyspace, concurrency=config.write_concurrency
        )
        self.events = CassandraEventStore(
            self.session,
            keyspace=self.keyspace,
            write_concurrency=config.write_concurrency,
            read_concurrency=config.read_concurrency,
            coalescer=self.coalescer,
        )

    @property
    def points(self) -> CassandraPointStore:
        # Built on first use: it needs the row width recorded in the keyspace.
        if self._points is None:
            self._points = CassandraPointStore(
                self.session,
                keyspace=self.keyspace,
                row_width_ms=self._recorded_row_width(),
                write_concurrency=self.config.write_concurrency,
                read_concurrency=self.config.read_concurrency,
                coalescer=self.coalescer,
                index_cache_size=self.config.index_cache_size,
                index_cache_seconds=self.config.index_cache_seconds,
            )
        return self._points

    def _recorded_row_width(self) -> int:
        state = self.schema.state()
        if not state.current:
            raise errors.SchemaMissing(
                f"The keyspace '{self.keyspace}' has no current datapoints schema; "
                "run `datapoints schema apply`."
            )
        width = int(state.settings.get("row_width_ms", self.config.row_width_ms))
        if width != self.config.row_width_ms:
            log.warning(
                "keyspace %s was created with row width %d ms; "
                "DATAPOINTS_ROW_WIDTH_MS=%d is ignored",
                self.keyspace,
                width,
                self.config.row_width_ms,
            )
        return width

    def schema_state(self) -> SchemaState:
        return self.schema.state()

    def apply_schema(self) -> SchemaState:
        return self.schema.apply()

    def check(self) -> None:
        """Raise unless the service's keyspace answers a read (at the metadata
        consistency, so it fails while too few of its replicas are reachable) and
        holds the schema this code needs."""
        setting = self.session.prepare("SELECT value FROM {ks}.settings WHERE name = ?")
        if (
            self.session.execute(setting, ("row_width_ms",), role=Role.META).one()
            is None
        ):
            raise errors.SchemaMissing(NO_SCHEMA)  # the tables, but never applied
        verdict = self._schema_current_at
        if verdict is not None and time.monotonic() - verdict < SCHEMA_VERDICT_SECONDS:
            return
        if not self.schema.state().current:
            self._schema_current_at = None
            raise errors.SchemaMissing(NO_SCHEMA)
        self._schema_current_at = time.monotonic()

    def close(self) -> None:
        self.session.close()

"""``datapoints schema apply|status`` on Cassandra, and the row width it records.

Creates the keyspace with the configured replication (or alters it when the setting
changed), then applies each numbered file of ``schema/cassandra`` that is not yet
recorded in ``schema_migrations`` (``{ks}`` in them names the keyspace, as in every
statement the session runs). Every statement is idempotent, so running it twice, or
from two hosts at once, is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging

from service import errors
from service.config import Replication
from service.storage.base import SchemaState
from service.storage.cassandra.session import CassandraSession, Role
from service.storage.schema_files import migrations

log = logging.getLogger(__name__)


class CassandraSchema:
    def __init__(
        self,
        session: CassandraSession,
        *,
        replication: Replication,
        durable_writes: bool,
        row_width_ms: int,
    ) -> None:
        self.session = session
        self.keyspace = session.keyspace
        self.replication = replication
        self.durable_writes = durable_writes
        self.row_width_ms = row_width_ms

    def state(self) -> SchemaState:
        latest = len(migrations("cassandra"))
        name = f"cassandra keyspace {self.keyspace}"
        if not self._keyspace_exists():
            return SchemaState(name, (), latest, {})
        try:
            rows = self.session.execute(
                "SELECT version FROM {ks}.schema_migrations", role=Role.META
            )
            applied = tuple(sorted(row.version for row in rows))
            settings = {
                row.name: row.value
                for row in self.session.execute(
                    "SELECT name, value FROM {ks}.settings", role=Role.META
                )
            }
        except errors.SchemaMissing:
            return SchemaState(name, (), latest, {})
        return SchemaState(name, applied, latest, settings)

    def apply(self) -> SchemaState:
        self._ensure_keyspace()
        state = self.state()
        for migration in migrations("cassandra"):
            if migration.version in state.applied:
                continue
            log.info(
                "applying schema %03d %s", migration.version, migration.description
            )
            for statement in migration.statements():
                self.session.execute_schema(statement)
            self.session.execute(
                "INSERT INTO {ks}.schema_migrations "
                "(version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, dt.datetime.now(dt.UTC)),
                role=Role.META,
            )
        # The row width is fixed at creation: a later apply with another
        # DATAPOINTS_ROW_WIDTH_MS keeps the first value. (A plain read-then-write, not
        # IF NOT EXISTS: a lightweight transaction needs a quorum of replicas, which a
        # keyspace whose replication was just raised may not have yet.)
        if "row_width_ms" not in self.state().settings:
            self.session.execute(
                "INSERT INTO {ks}.settings (name, value) VALUES (?, ?)",
                ("row_width_ms", str(self.row_width_ms)),
                role=Role.META,
            )
        return self.state()

    def _keyspace_exists(self) -> bool:
        rows = self.session.execute(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (self.keyspace,),
            role=Role.META,
        )
        return rows.one() is not None

    def _ensure_keyspace(self) -> None:
        wanted = self.replication.as_cql_map()
        durable = "true" if self.durable_writes else "false"
        if not self._keyspace_exists():
            self.session.execute_schema(
                "CREATE KEYSPACE IF NOT EXISTS {ks} "
                f"WITH replication = {wanted} AND durable_writes = {durable}"
            )
            return
        row = self.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (self.keyspace,),
            role=Role.META,
        ).one()
        if _replication_of(row.replication) != _replication_of_setting(
            self.replication
        ):
            log.warning(
                "changing replication of %s to %s; run `nodetool repair` on every "
                "node afterwards so existing data reaches its new replicas",
                self.keyspace,
                wanted,
            )
            self.session.execute_schema(
                "ALTER KEYSPACE {ks} WITH replication = " + wanted
            )


class RowWidth:
    """How many milliseconds a row (partition) of a series covers: fixed when the
    keyspace's schema was created and recorded in its ``settings`` table, so it is
    read from there, once, on first use (not at construction: nothing connects
    before gunicorn forks its workers)."""

    def __init__(self, schema: CassandraSchema) -> None:
        self._schema = schema
        self._ms: int | None = None

    @property
    def ms(self) -> int:
        ms = self._ms
        if ms is None:
            ms = self._ms = self._recorded()
        return ms

    def _recorded(self) -> int:
        state = self._schema.state()
        if not state.current:
            raise errors.SchemaMissing(
                f"The keyspace '{self._schema.keyspace}' has no current datapoints "
                "schema; run `datapoints schema apply`."
            )
        configured = self._schema.row_width_ms
        width = int(state.settings.get("row_width_ms", configured))
        if width != configured:
            log.warning(
                "keyspace %s was created with row width %d ms; "
                "DATAPOINTS_ROW_WIDTH_MS=%d is ignored",
                self._schema.keyspace,
                width,
                configured,
            )
        return width


def _replication_of(current: dict[str, str]) -> dict[str, str]:
    cls = current.get("class", "").rsplit(".", 1)[-1]
    return {"class": cls} | {k: str(v) for k, v in current.items() if k != "class"}


def _replication_of_setting(replication: Replication) -> dict[str, str]:
    if replication.strategy == "NetworkTopologyStrategy":
        return {"class": replication.strategy} | {
            dc: str(rf) for dc, rf in replication.datacenters
        }
    return {
        "class": replication.strategy,
        "replication_factor": str(replication.factor),
    }

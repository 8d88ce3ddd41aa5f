"""``datapoints schema apply|status`` on Cassandra.

Creates the keyspace with the configured replication (or alters it when the setting
changed), then applies each numbered file of ``schema/cassandra`` that is not yet
recorded in ``schema_migrations``. Every statement is idempotent, so running it twice,
or from two hosts at once, is harmless.
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
        keyspace: str,
        replication: Replication,
        durable_writes: bool,
        row_width_ms: int,
    ) -> None:
        self.session = session
        self.keyspace = keyspace
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
                f"SELECT version FROM {self.keyspace}.schema_migrations", role=Role.META
            )
            applied = tuple(sorted(row.version for row in rows))
            settings = {
                row.name: row.value
                for row in self.session.execute(
                    f"SELECT name, value FROM {self.keyspace}.settings", role=Role.META
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
                self.session.execute(
                    statement.replace("{keyspace}", self.keyspace), role=Role.META
                )
            self.session.execute(
                f"INSERT INTO {self.keyspace}.schema_migrations "
                "(version, description, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.description, dt.datetime.now(dt.UTC)),
                role=Role.META,
            )
        # The row width is fixed at creation: a later apply with another
        # DATAPOINTS_ROW_WIDTH_MS keeps the first value. (A plain read-then-write, not
        # IF NOT EXISTS: a lightweight transaction needs a quorum of replicas, which a
        # keyspace whose replication was just raised may not have yet.)
        if "row_width_ms" not in self.state().settings:
            self.session.execute(
                f"INSERT INTO {self.keyspace}.settings (name, value) VALUES (%s, %s)",
                ("row_width_ms", str(self.row_width_ms)),
                role=Role.META,
            )
        return self.state()

    def _keyspace_exists(self) -> bool:
        rows = self.session.execute(
            "SELECT keyspace_name FROM system_schema.keyspaces "
            "WHERE keyspace_name = %s",
            (self.keyspace,),
            role=Role.META,
        )
        return rows.one() is not None

    def _ensure_keyspace(self) -> None:
        wanted = self.replication.as_cql_map()
        durable = "true" if self.durable_writes else "false"
        if not self._keyspace_exists():
            self.session.execute(
                f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} "
                f"WITH replication = {wanted} AND durable_writes = {durable}",
                role=Role.META,
            )
            return
        row = self.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
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
            self.session.execute(
                f"ALTER KEYSPACE {self.keyspace} WITH replication = {wanted}",
                role=Role.META,
            )


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

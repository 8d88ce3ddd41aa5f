"""``datapoints schema apply|status`` on the embedded store, and the row width it
records.

Applies each numbered file of ``schema/sqlite`` not yet recorded in
``schema_migrations``, in one transaction.
"""

from __future__ import annotations

import datetime as dt

from service.storage.base import SchemaState
from service.storage.schema_files import migrations
from service.storage.sqlite.database import SqliteDatabase


class SqliteSchema:
    def __init__(self, database: SqliteDatabase, *, row_width_ms: int) -> None:
        self.database = database
        # The configured width until ``apply`` reads the one recorded when the file
        # was created (it never changes afterwards).
        self.row_width_ms = row_width_ms

    def state(self) -> SchemaState:
        latest = len(migrations("sqlite"))
        name = f"sqlite {self.database.path}"
        conn = self.database.conn
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master "
            "WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not has_table:
            return SchemaState(name, (), latest, {})
        applied = tuple(
            row[0]
            for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")
        )
        settings = dict(conn.execute("SELECT name, value FROM settings").fetchall())
        return SchemaState(name, applied, latest, settings)

    def apply(self) -> SchemaState:
        applied = set(self.state().applied)
        with self.database.write() as conn:
            for migration in migrations("sqlite"):
                if migration.version in applied:
                    continue
                for statement in migration.statements():
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.description,
                        dt.datetime.now(dt.UTC).isoformat(),
                    ),
                )
            conn.execute(
                "INSERT OR IGNORE INTO settings VALUES ('row_width_ms', ?)",
                (str(self.row_width_ms),),
            )
        state = self.state()
        self.row_width_ms = int(state.settings["row_width_ms"])
        return state

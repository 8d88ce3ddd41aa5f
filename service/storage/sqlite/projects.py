"""Projects in the embedded store."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from service import errors
from service.records import Project
from service.storage.sqlite.database import SqliteDatabase

_COLUMNS = "id, name, mode, session_gap, timezone, key_hash, key_nonce, created_at"


class SqliteProjectStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database

    def create_project(self, project: Project) -> None:
        try:
            with self.database.write() as conn:
                conn.execute(
                    f"INSERT INTO projects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _values(project),
                )
        except sqlite3.IntegrityError:
            raise errors.Conflict(f"project {project.id} already exists") from None

    def get_project(self, project_id: str) -> Project | None:
        row = self.database.conn.execute(
            f"SELECT {_COLUMNS} FROM projects WHERE id = ?", (project_id,)
        ).fetchone()
        return _project(row) if row else None

    def list_projects(self) -> list[Project]:
        rows = self.database.conn.execute(
            f"SELECT {_COLUMNS} FROM projects ORDER BY created_at, id"
        )
        return [_project(r) for r in rows]

    def update_project(self, project: Project) -> None:
        with self.database.write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO projects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _values(project),
            )


def _values(p: Project) -> tuple[Any, ...]:
    return (
        p.id,
        p.name,
        p.mode,
        p.session_gap,
        p.timezone,
        p.key_hash,
        p.key_nonce,
        p.created_at.isoformat(),
    )


def _project(row: Any) -> Project:
    return Project(
        id=row[0],
        name=row[1],
        mode=row[2],
        session_gap=row[3],
        timezone=row[4],
        key_hash=bytes(row[5]),
        key_nonce=bytes(row[6]),
        created_at=dt.datetime.fromisoformat(row[7]),
    )

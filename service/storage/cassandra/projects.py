"""Projects on Cassandra (one small table, metadata consistency)."""

from __future__ import annotations

from typing import Any

from service import errors
from service.records import Project
from service.storage.cassandra.session import CassandraSession, Role

_COLUMNS = "id, name, mode, session_gap, timezone, key_hash, key_nonce, created_at"
_INSERT = "INSERT INTO {ks}.projects (" + _COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT = "SELECT " + _COLUMNS + " FROM {ks}.projects"


class CassandraProjectStore:
    def __init__(self, session: CassandraSession) -> None:
        self.session = session

    def create_project(self, project: Project) -> None:
        # A lightweight transaction: two creations can never share an id.
        row = self.session.execute(
            _INSERT + " IF NOT EXISTS", _values(project), role=Role.META
        ).one()
        if not row[0]:
            raise errors.Conflict(f"project {project.id} already exists")

    def get_project(self, project_id: str) -> Project | None:
        row = self.session.execute(
            _SELECT + " WHERE id = ?", (project_id,), role=Role.META
        ).one()
        return _project(row) if row else None

    def list_projects(self) -> list[Project]:
        rows = self.session.execute(_SELECT, role=Role.META)
        return sorted((_project(r) for r in rows), key=lambda p: (p.created_at, p.id))

    def update_project(self, project: Project) -> None:
        self.session.execute(_INSERT, _values(project), role=Role.META)


def _values(p: Project) -> tuple[Any, ...]:
    return (
        p.id,
        p.name,
        p.mode,
        p.session_gap,
        p.timezone,
        p.key_hash,
        p.key_nonce,
        p.created_at,
    )


def _project(row: Any) -> Project:
    import datetime as dt

    created = row.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return Project(
        id=row.id,
        name=row.name,
        mode=row.mode,
        session_gap=row.session_gap,
        timezone=row.timezone,
        key_hash=bytes(row.key_hash),
        key_nonce=bytes(row.key_nonce),
        created_at=created,
    )

"""Form sessions and attachments in the embedded store (one transaction per write, so
nothing is ever orphaned)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ujson

from service.records import Attachment, FormDevice, FormSession
from service.storage.form_codec import CHUNK, decode_data, encode_data
from service.storage.sqlite.database import SqliteDatabase


class SqliteFormStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database

    def get_form_session(self, project: str, uuid: str) -> FormSession | None:
        row = self.database.conn.execute(
            "SELECT uuid, unit_id, created, saved, received, is_deleted, data "
            "FROM form_sessions WHERE project = ? AND uuid = ?",
            (project, uuid),
        ).fetchone()
        return _session(row) if row else None

    def save_form_session(
        self,
        project: str,
        session: FormSession,
        uploads: dict[str, tuple[Attachment, bytes]],
        previous: FormSession | None,
    ) -> None:
        with self.database.write() as conn:
            for point, (meta, data) in uploads.items():
                conn.executemany(
                    "INSERT INTO form_attachments VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (project, session.uuid, point, meta.id, n, data[s : s + CHUNK])
                        for n, s in enumerate(range(0, max(len(data), 1), CHUNK))
                    ],
                )
            conn.execute(
                "INSERT OR REPLACE INTO form_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project,
                    session.uuid,
                    session.unit_id,
                    session.created,
                    session.saved,
                    session.received,
                    int(session.is_deleted),
                    ujson.dumps(encode_data(session)),
                ),
            )
            conn.execute(
                "INSERT INTO form_devices VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "first_used = min(first_used, excluded.first_used), "
                "last_used = max(last_used, excluded.last_used)",
                (project, session.unit_id, session.received, session.received),
            )
            if previous is not None:
                kept = {a.id for a in session.attachments().values()}
                conn.executemany(
                    "DELETE FROM form_attachments WHERE project = ? AND uuid = ? "
                    "AND point = ? AND id = ?",
                    [
                        (project, previous.uuid, point, a.id)
                        for point, a in previous.attachments().items()
                        if a.id not in kept
                    ],
                )

    def list_form_sessions(
        self,
        project: str,
        *,
        unit_id: str | None,
        saved_from: int,
        saved_to: int,
        include_deleted: bool,
        limit: int,
        after: tuple[int, str] | None,
    ) -> list[FormSession]:
        sql = (
            "SELECT uuid, unit_id, created, saved, received, is_deleted, data "
            "FROM form_sessions WHERE project = ? AND saved <= ?"
        )
        params: list[Any] = [project, saved_to]
        if after is not None:
            sql += " AND (saved > ? OR (saved = ? AND uuid > ?))"
            params += [after[0], after[0], after[1]]
        else:
            sql += " AND saved >= ?"
            params.append(saved_from)
        if unit_id is not None:
            sql += " AND unit_id = ?"
            params.append(unit_id)
        if not include_deleted:
            sql += " AND is_deleted = 0"
        sql += " ORDER BY saved, uuid LIMIT ?"
        params.append(limit)
        return [_session(r) for r in self.database.conn.execute(sql, params)]

    def attachment_chunks(
        self, project: str, uuid: str, point: str, attachment_id: str
    ) -> Iterator[bytes]:
        rows = self.database.conn.execute(
            "SELECT data FROM form_attachments WHERE project = ? AND uuid = ? "
            "AND point = ? AND id = ? ORDER BY chunk",
            (project, uuid, point, attachment_id),
        ).fetchall()
        for (data,) in rows:
            yield bytes(data)

    def form_devices(self, project: str) -> list[FormDevice]:
        return self._devices(project, None)

    def form_device(self, project: str, unit_id: str) -> FormDevice | None:
        found = self._devices(project, unit_id)
        return found[0] if found else None

    def _devices(self, project: str, unit_id: str | None) -> list[FormDevice]:
        sql = (
            "SELECT d.unit_id, d.first_used, d.last_used, (SELECT count(*) FROM "
            "form_sessions s WHERE s.project = d.project AND s.unit_id = d.unit_id "
            "AND s.is_deleted = 0) FROM form_devices d WHERE d.project = ?"
        )
        params: list[Any] = [project]
        if unit_id is not None:
            sql += " AND d.unit_id = ?"
            params.append(unit_id)
        rows = self.database.conn.execute(sql + " ORDER BY d.unit_id", params)
        return [FormDevice(r[0], r[1], r[2], r[3]) for r in rows]


def _session(row: Any) -> FormSession:
    return FormSession(
        uuid=row[0],
        unit_id=row[1],
        created=row[2],
        saved=row[3],
        received=row[4],
        is_deleted=bool(row[5]),
        data=decode_data(ujson.loads(row[6])),
    )

"""Form sessions and attachments on Cassandra."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

from service.records import Attachment, FormDevice, FormSession
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.session import Role, Statement, earliest_wins
from service.storage.form_codec import CHUNK, decode_data, encode_data

_GET_SESSION = (
    "SELECT uuid, unit_id, created, saved, received, is_deleted, data "
    "FROM {ks}.form_sessions WHERE project = ? AND uuid = ?"
)
_PUT_CHUNK = (
    "INSERT INTO {ks}.form_attachments (project, uuid, point, id, chunk, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_PUT_SESSION = (
    "INSERT INTO {ks}.form_sessions (project, uuid, unit_id, created, saved, "
    "received, is_deleted, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_PUT_BY_SAVED = (
    "INSERT INTO {ks}.form_sessions_by_saved (project, saved, uuid, unit_id, "
    "is_deleted) VALUES (?, ?, ?, ?, ?)"
)
_PUT_BY_UNIT = (
    "INSERT INTO {ks}.form_sessions_by_unit (project, unit_id, saved, uuid, "
    "is_deleted) VALUES (?, ?, ?, ?, ?)"
)
_DELETE_BY_SAVED = (
    "DELETE FROM {ks}.form_sessions_by_saved WHERE project = ? AND saved = ? "
    "AND uuid = ?"
)
_DELETE_BY_UNIT = (
    "DELETE FROM {ks}.form_sessions_by_unit WHERE project = ? AND unit_id = ? "
    "AND saved = ? AND uuid = ?"
)
# Last and first use exact whatever order writes arrive in (see the schema).
_USED_LAST = (
    "UPDATE {ks}.form_devices USING TIMESTAMP ? SET last_used = ? "
    "WHERE project = ? AND unit_id = ?"
)
_USED_FIRST = (
    "UPDATE {ks}.form_devices USING TIMESTAMP ? SET first_used = ? "
    "WHERE project = ? AND unit_id = ?"
)
_DELETE_CHUNKS = (
    "DELETE FROM {ks}.form_attachments WHERE project = ? AND uuid = ? "
    "AND point = ? AND id = ?"
)
_DEVICES = (
    "SELECT unit_id, first_used, last_used FROM {ks}.form_devices WHERE project = ?"
)


class CassandraFormStore:
    def __init__(self, context: CassandraContext) -> None:
        self.session = context.session
        self.write_concurrency = context.write_concurrency
        self.read_concurrency = context.read_concurrency

    def get_form_session(self, project: str, uuid: str) -> FormSession | None:
        row = self.session.execute(_GET_SESSION, (project, uuid), role=Role.READ).one()
        return _session(row) if row else None

    def save_form_session(
        self,
        project: str,
        session: FormSession,
        uploads: dict[str, tuple[Attachment, bytes]],
        previous: FormSession | None,
    ) -> None:
        # 1. the new attachments' bytes, 2. the session and its index rows (from
        # then on it names the new bytes), 3. the bytes nothing names any more.
        self._write(self._chunks(project, session.uuid, uploads))
        self._write(self._session_rows(project, session, previous))
        if previous is not None:
            kept = {a.id for a in session.attachments().values()}
            self._write(
                [
                    self.session.bind(
                        _DELETE_CHUNKS,
                        (project, previous.uuid, point, uuidlib.UUID(a.id)),
                    )
                    for point, a in previous.attachments().items()
                    if a.id not in kept
                ]
            )

    def _write(self, statements: list[Statement]) -> None:
        self.session.execute_all(
            statements, role=Role.WRITE, concurrency=self.write_concurrency
        )

    def _chunks(
        self, project: str, uuid: str, uploads: dict[str, tuple[Attachment, bytes]]
    ) -> list[Statement]:
        bind = self.session.bind
        return [
            bind(
                _PUT_CHUNK,
                (project, uuid, point, uuidlib.UUID(meta.id), n, data[at : at + CHUNK]),
            )
            for point, (meta, data) in uploads.items()
            for n, at in enumerate(range(0, max(len(data), 1), CHUNK))
        ]

    def _session_rows(
        self, project: str, s: FormSession, previous: FormSession | None
    ) -> list[Statement]:
        """The session's row, its index rows (the old ones gone if it moved) and
        its device's first and last use."""
        bind = self.session.bind
        out = [
            bind(
                _PUT_SESSION,
                (
                    project,
                    s.uuid,
                    s.unit_id,
                    s.created,
                    s.saved,
                    s.received,
                    s.is_deleted,
                    encode_data(s),
                ),
            )
        ]
        if previous is not None and (previous.saved, previous.unit_id) != (
            s.saved,
            s.unit_id,
        ):
            out.append(bind(_DELETE_BY_SAVED, (project, previous.saved, previous.uuid)))
            out.append(
                bind(
                    _DELETE_BY_UNIT,
                    (project, previous.unit_id, previous.saved, previous.uuid),
                )
            )
        micros = s.received * 1_000_000
        return [
            *out,
            bind(_PUT_BY_SAVED, (project, s.saved, s.uuid, s.unit_id, s.is_deleted)),
            bind(_PUT_BY_UNIT, (project, s.unit_id, s.saved, s.uuid, s.is_deleted)),
            bind(_USED_LAST, (micros, s.received, project, s.unit_id)),
            bind(_USED_FIRST, (earliest_wins(micros), s.received, project, s.unit_id)),
        ]

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
        params: list[Any] = [project]
        if unit_id is None:
            table, key = "form_sessions_by_saved", "project = ?"
        else:
            table, key = "form_sessions_by_unit", "project = ? AND unit_id = ?"
            params.append(unit_id)
        if after is not None:
            where = f"{key} AND (saved, uuid) > (?, ?) AND saved <= ?"
            params += [after[0], after[1], saved_to]
        else:
            where = f"{key} AND saved >= ? AND saved <= ?"
            params += [saved_from, saved_to]
        rows = self.session.stream(
            "SELECT uuid, is_deleted FROM {ks}." + table + " WHERE " + where,
            tuple(params),
            role=Role.READ,
            fetch_size=max(100, min(limit * 2, 5000)),
        )
        # The index names the sessions; their rows are read a page at a time,
        # concurrently (a session deleted meanwhile is skipped).
        out: list[FormSession] = []
        wanted: list[str] = []
        for row in rows:
            if row.is_deleted and not include_deleted:
                continue
            wanted.append(row.uuid)
            if len(out) + len(wanted) >= limit:
                out += self._sessions(project, wanted)
                wanted = []
                if len(out) >= limit:
                    break
        out += self._sessions(project, wanted)
        return out[:limit]

    def _sessions(self, project: str, uuids: list[str]) -> list[FormSession]:
        found = self.session.fetch_all(
            _GET_SESSION,
            [(project, uuid) for uuid in uuids],
            role=Role.READ,
            concurrency=self.read_concurrency,
        )
        return [_session(rows[0]) for rows in found if rows]

    def attachment_chunks(
        self, project: str, uuid: str, point: str, attachment_id: str
    ) -> Iterator[bytes]:
        rows = self.session.stream(
            "SELECT data FROM {ks}.form_attachments WHERE project = ? AND uuid = ? "
            "AND point = ? AND id = ?",
            (project, uuid, point, uuidlib.UUID(attachment_id)),
            role=Role.READ,
            fetch_size=4,  # chunks are 256 KiB: a few per page
        )
        for row in rows:
            yield bytes(row.data)

    def form_devices(self, project: str) -> list[FormDevice]:
        rows = self.session.execute(_DEVICES, (project,), role=Role.READ)
        used = [r for r in rows if r.last_used is not None]
        counts = self._live_counts(project, [r.unit_id for r in used])
        return [_device(r, n) for r, n in zip(used, counts, strict=True)]

    def form_device(self, project: str, unit_id: str) -> FormDevice | None:
        row = self.session.execute(
            _DEVICES + " AND unit_id = ?", (project, unit_id), role=Role.READ
        ).one()
        if row is None or row.last_used is None:
            return None
        return _device(row, self._live_counts(project, [unit_id])[0])

    def _live_counts(self, project: str, units: list[str]) -> list[int]:
        """How many sessions of each unit are not deleted (read concurrently)."""
        found = self.session.fetch_all(
            "SELECT is_deleted FROM {ks}.form_sessions_by_unit WHERE project = ? "
            "AND unit_id = ?",
            [(project, unit) for unit in units],
            role=Role.READ,
            concurrency=self.read_concurrency,
        )
        return [sum(1 for r in rows if not r.is_deleted) for rows in found]


def _device(row: Any, live: int) -> FormDevice:
    first = row.first_used if row.first_used is not None else row.last_used
    return FormDevice(row.unit_id, first, row.last_used, live)


def _session(row: Any) -> FormSession:
    return FormSession(
        uuid=row.uuid,
        unit_id=row.unit_id,
        created=row.created,
        saved=row.saved,
        received=row.received,
        is_deleted=bool(row.is_deleted),
        data=decode_data(row.data),
    )

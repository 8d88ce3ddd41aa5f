"""Form sessions and attachments on Cassandra."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

from service.records import Attachment, FormDevice, FormSession
from service.storage.cassandra.session import (
    CassandraSession,
    Params,
    Role,
    Statement,
    earliest_wins,
)
from service.storage.form_codec import CHUNK, decode_data, encode_data

_GET_SESSION = (
    "SELECT uuid, unit_id, created, saved, received, is_deleted, data "
    "FROM {ks}.form_sessions WHERE project = ? AND uuid = ?"
)


class CassandraFormStore:
    def __init__(
        self, session: CassandraSession, *, keyspace: str, concurrency: int
    ) -> None:
        self.session = session
        self.ks = keyspace
        self.concurrency = concurrency

    def get_form_session(self, project: str, uuid: str) -> FormSession | None:
        row = self.session.execute(
            self.session.prepare(_GET_SESSION),
            (project, uuid),
            role=Role.READ,
        ).one()
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
        chunk = self.session.prepare(
            "INSERT INTO {ks}.form_attachments (project, uuid, point, id, chunk, data) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        items: list[tuple[Statement, Params]] = []
        for point, (meta, data) in uploads.items():
            for n, start in enumerate(range(0, max(len(data), 1), CHUNK)):
                items.append(
                    (
                        chunk.bind(
                            (
                                project,
                                session.uuid,
                                point,
                                uuidlib.UUID(meta.id),
                                n,
                                data[start : start + CHUNK],
                            )
                        ),
                        None,
                    )
                )
        self.session.execute_all(items, role=Role.WRITE, concurrency=self.concurrency)
        items = [
            (
                self.session.prepare(
                    "INSERT INTO {ks}.form_sessions (project, uuid, unit_id, created, saved, "
                    "received, is_deleted, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ).bind(
                    (
                        project,
                        session.uuid,
                        session.unit_id,
                        session.created,
                        session.saved,
                        session.received,
                        session.is_deleted,
                        encode_data(session),
                    )
                ),
                None,
            )
        ]
        if previous is not None and (previous.saved, previous.unit_id) != (
            session.saved,
            session.unit_id,
        ):
            items += [
                (
                    self.session.prepare(
                        "DELETE FROM {ks}.form_sessions_by_saved WHERE project = ? "
                        "AND saved = ? AND uuid = ?"
                    ).bind((project, previous.saved, previous.uuid)),
                    None,
                ),
                (
                    self.session.prepare(
                        "DELETE FROM {ks}.form_sessions_by_unit WHERE project = ? "
                        "AND unit_id = ? AND saved = ? AND uuid = ?"
                    ).bind((project, previous.unit_id, previous.saved, previous.uuid)),
                    None,
                ),
            ]
        items += [
            (
                self.session.prepare(
                    "INSERT INTO {ks}.form_sessions_by_saved (project, saved, uuid, "
                    "unit_id, is_deleted) VALUES (?, ?, ?, ?, ?)"
                ).bind(
                    (
                        project,
                        session.saved,
                        session.uuid,
                        session.unit_id,
                        session.is_deleted,
                    )
                ),
                None,
            ),
            (
                self.session.prepare(
                    "INSERT INTO {ks}.form_sessions_by_unit (project, unit_id, saved, "
                    "uuid, is_deleted) VALUES (?, ?, ?, ?, ?)"
                ).bind(
                    (
                        project,
                        session.unit_id,
                        session.saved,
                        session.uuid,
                        session.is_deleted,
                    )
                ),
                None,
            ),
            (
                self.session.prepare(
                    "UPDATE {ks}.form_devices USING TIMESTAMP ? SET last_used = ? "
                    "WHERE project = ? AND unit_id = ?"
                ).bind(
                    (
                        session.received * 1_000_000,
                        session.received,
                        project,
                        session.unit_id,
                    )
                ),
                None,
            ),
            (
                self.session.prepare(
                    "UPDATE {ks}.form_devices USING TIMESTAMP ? SET first_used = ? "
                    "WHERE project = ? AND unit_id = ?"
                ).bind(
                    (
                        earliest_wins(session.received * 1_000_000),
                        session.received,
                        project,
                        session.unit_id,
                    )
                ),
                None,
            ),
        ]
        self.session.execute_all(items, role=Role.WRITE, concurrency=self.concurrency)
        if previous is not None:
            kept = {a.id for a in session.attachments().values()}
            stale = [
                (
                    self.session.prepare(
                        "DELETE FROM {ks}.form_attachments WHERE project = ? AND uuid = ? "
                        "AND point = ? AND id = ?"
                    ).bind((project, previous.uuid, point, uuidlib.UUID(a.id))),
                    None,
                )
                for point, a in previous.attachments().items()
                if a.id not in kept
            ]
            self.session.execute_all(
                stale, role=Role.WRITE, concurrency=self.concurrency
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
            self.session.prepare(
                f"SELECT uuid, is_deleted FROM {{ks}}.{table} WHERE {where}"
            ),
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
        stmt = self.session.prepare(_GET_SESSION)
        found = self.session.fetch_all(
            [(stmt, (project, uuid)) for uuid in uuids],
            role=Role.READ,
            concurrency=self.concurrency,
        )
        return [_session(rows[0]) for rows in found if rows]

    def attachment_chunks(
        self, project: str, uuid: str, point: str, attachment_id: str
    ) -> Iterator[bytes]:
        rows = self.session.stream(
            self.session.prepare(
                "SELECT data FROM {ks}.form_attachments WHERE project = ? AND uuid = ? "
                "AND point = ? AND id = ?"
            ),
            (project, uuid, point, uuidlib.UUID(attachment_id)),
            role=Role.READ,
            fetch_size=4,  # chunks are 256 KiB: a few per page
        )
        for row in rows:
            yield bytes(row.data)

    def form_devices(self, project: str) -> list[FormDevice]:
        rows = self.session.execute(
            self.session.prepare(
                "SELECT unit_id, first_used, last_used FROM {ks}.form_devices "
                "WHERE project = ?"
            ),
            (project,),
            role=Role.READ,
        )
        used = [r for r in rows if r.last_used is not None]
        counts = self._live_counts(project, [r.unit_id for r in used])
        return [_device(r, n) for r, n in zip(used, counts, strict=True)]

    def form_device(self, project: str, unit_id: str) -> FormDevice | None:
        row = self.session.execute(
            self.session.prepare(
                "SELECT unit_id, first_used, last_used FROM {ks}.form_devices "
                "WHERE project = ? AND unit_id = ?"
            ),
            (project, unit_id),
            role=Role.READ,
        ).one()
        if row is None or row.last_used is None:
            return None
        return _device(row, self._live_counts(project, [unit_id])[0])

    def _live_counts(self, project: str, units: list[str]) -> list[int]:
        """How many sessions of each unit are not deleted (read concurrently)."""
        stmt = self.session.prepare(
            "SELECT is_deleted FROM {ks}.form_sessions_by_unit WHERE project = ? "
            "AND unit_id = ?"
        )
        found = self.session.fetch_all(
            [(stmt, (project, unit)) for unit in units],
            role=Role.READ,
            concurrency=self.concurrency,
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

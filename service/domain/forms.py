"""Form sessions (Mobile Data Anywhere): create, replace, merge, soft delete, batch and
attachments, over the storage contract. The dialect module parses requests into
``SessionInput`` and calls these; nothing here knows about HTTP."""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from service import errors, times
from service.records import (
    LONG_MAX,
    LONG_MIN,
    Attachment,
    FormDevice,
    FormSession,
    Upload,
)
from service.storage.base import FormStore
from service.storage.form_codec import encode_data

# A session's row holds its values (attachments are chunked apart): kept far below
# Cassandra's mutation limit (16 MiB by default), counted as stored (JSON, non-ASCII
# characters escaped).
MAX_SESSION_DATA_BYTES = 4 * 1024 * 1024

# What one write does: the session, the bytes of its new attachments, and the version
# it replaces (whose attachments it no longer names are deleted).
Plan = tuple[FormSession, dict[str, tuple[Attachment, bytes]], FormSession | None]


@dataclass
class SessionInput:
    """What a request says about a session; None means "not given"."""

    uuid: str | None = None
    unit_id: str | None = None
    created: int | None = None
    saved: int | None = None
    is_deleted: bool | None = None
    # point (lower case) -> scalar value, Upload, or None to remove the point
    data: dict[str, Any] = field(default_factory=dict)


class FormSessions:
    def __init__(self, store: FormStore, *, max_attachment_bytes: int) -> None:
        self.store = store
        self.max_attachment_bytes = max_attachment_bytes

    # -- writes -------------------------------------------------------------------------

    def create(self, project: str, given: SessionInput) -> FormSession:
        """A new session; one with the same uuid, attachments included, is replaced."""
        if not given.unit_id:
            raise errors.InvalidInput("session[unit_id] is required")
        session_uuid = given.uuid or str(uuidlib.uuid4())
        previous = self.store.get_form_session(project, session_uuid)
        return self._save(project, self._new(session_uuid, given, previous))

    def update(
        self, project: str, session_uuid: str, given: SessionInput
    ) -> FormSession:
        """Only the given fields and points change; new attachments replace old ones."""
        return self._merge(
            project, self.get(project, session_uuid, deleted=True), given
        )

    def _merge(
        self, project: str, previous: FormSession, given: SessionInput
    ) -> FormSession:
        return self._save(project, self._merged(previous, given))

    def _save(self, project: str, plan: Plan) -> FormSession:
        session, uploads, previous = plan
        self.store.save_form_session(project, session, uploads, previous)
        return session

    def _new(
        self, session_uuid: str, given: SessionInput, previous: FormSession | None
    ) -> Plan:
        now = times.now_s()
        session = FormSession(
            uuid=session_uuid,
            unit_id=given.unit_id or "",
            created=now if given.created is None else given.created,
            saved=now if given.saved is None else given.saved,
            received=now,
            is_deleted=bool(given.is_deleted),
        )
        return session, self._apply(session, given.data), previous

    def _merged(self, previous: FormSession, given: SessionInput) -> Plan:
        session = FormSession(
            uuid=previous.uuid,
            unit_id=given.unit_id or previous.unit_id,
            created=previous.created if given.created is None else given.created,
            saved=previous.saved if given.saved is None else given.saved,
            received=times.now_s(),
            is_deleted=previous.is_deleted
            if given.is_deleted is None
            else given.is_deleted,
            data=dict(previous.data),
        )
        return session, self._apply(session, given.data), previous

    def delete(self, project: str, session_uuid: str) -> FormSession:
        """Soft: the session is kept, marked deleted, and hidden unless asked for.
        An already deleted session is not found."""
        return self._merge(
            project, self.get(project, session_uuid), SessionInput(is_deleted=True)
        )

    def put_attachment(
        self, project: str, session_uuid: str, point: str, upload: Upload
    ) -> Attachment:
        session = self.update(
            project, session_uuid, SessionInput(data={point.lower(): upload})
        )
        attachment = session.data[point.lower()]
        assert isinstance(attachment, Attachment)
        return attachment

    def delete_attachment(self, project: str, session_uuid: str, point: str) -> None:
        session = self.get(project, session_uuid, deleted=True)
        if not isinstance(session.data.get(point.lower()), Attachment):
            raise errors.NotFound(f"session {session_uuid} has no attachment {point!r}")
        self._merge(project, session, SessionInput(data={point.lower(): None}))

    def batch(
        self,
        project: str,
        *,
        add: list[SessionInput],
        update: list[SessionInput],
        delete: list[str],
    ) -> dict[str, list[str]]:
        """All or nothing as far as validation goes: every session to update or delete
        must exist, and every session must be valid (attachment and data limits
        included), before anything is written."""
        for given in add:
            if not given.unit_id:
                raise errors.InvalidInput(
                    "sessionsToAdd: every session needs a unit_id"
                )
        # read once here, then merged onto (the latest version of a session named
        # twice is the one planned just before)
        current: dict[str, FormSession | None] = {
            u: self.store.get_form_session(project, u) if u else None
            for u in [*(g.uuid or "" for g in update), *delete]
        }
        missing = [u for u, found in current.items() if found is None]
        if missing:
            raise errors.NotFound(*(f"no session {u!r}" for u in missing))
        plans: list[Plan] = []
        done: dict[str, list[str]] = {"added": [], "updated": [], "deleted": []}
        for given in add:
            session_uuid = given.uuid or str(uuidlib.uuid4())
            previous = (
                current[session_uuid]
                if session_uuid in current
                else self.store.get_form_session(project, session_uuid)
            )
            plans.append(self._new(session_uuid, given, previous))
            current[session_uuid] = plans[-1][0]
            done["added"].append(session_uuid)
        changes = [(g.uuid or "", g, "updated") for g in update] + [
            (u, SessionInput(is_deleted=True), "deleted") for u in delete
        ]
        for session_uuid, given, outcome in changes:
            previous = current[session_uuid]
            assert previous is not None
            plans.append(self._merged(previous, given))
            current[session_uuid] = plans[-1][0]
            done[outcome].append(session_uuid)
        for plan in plans:
            self._save(project, plan)
        return done

    def _apply(
        self, session: FormSession, data: dict[str, Any]
    ) -> dict[str, tuple[Attachment, bytes]]:
        uploads: dict[str, tuple[Attachment, bytes]] = {}
        for point, value in data.items():
            if value is None:
                session.data.pop(point, None)
            elif isinstance(value, Upload):
                if len(value.data) > self.max_attachment_bytes:
                    raise errors.PayloadTooLarge(
                        f"attachment {point!r} is {len(value.data)} bytes; the limit is "
                        f"{self.max_attachment_bytes}"
                    )
                meta = Attachment(
                    filename=value.filename,
                    content_type=value.content_type,
                    length=len(value.data),
                    md5=hashlib.md5(value.data, usedforsecurity=False).hexdigest(),
                    id=str(uuidlib.uuid1()),
                )
                session.data[point] = meta
                uploads[point] = (meta, value.data)
            else:
                session.data[point] = value
        size = sum(len(k) + len(v) for k, v in encode_data(session).items())
        if size > MAX_SESSION_DATA_BYTES:
            raise errors.PayloadTooLarge(
                f"session {session.uuid}'s values take {size} bytes as stored; the "
                f"limit is {MAX_SESSION_DATA_BYTES} (send large values as attachments)"
            )
        return uploads

    # -- reads --------------------------------------------------------------------------

    def get(
        self, project: str, session_uuid: str, *, deleted: bool = False
    ) -> FormSession:
        session = self.store.get_form_session(project, session_uuid)
        if session is None or (session.is_deleted and not deleted):
            raise errors.NotFound(f"no session {session_uuid!r}")
        return session

    def attachment(
        self, project: str, session_uuid: str, point: str
    ) -> tuple[Attachment, Iterator[bytes]]:
        session = self.get(project, session_uuid, deleted=True)
        meta = session.data.get(point.lower())
        if not isinstance(meta, Attachment):
            raise errors.NotFound(f"session {session_uuid} has no attachment {point!r}")
        chunks = self.store.attachment_chunks(
            project, session.uuid, point.lower(), meta.id
        )
        return meta, chunks

    def find(
        self,
        project: str,
        *,
        unit_id: str | None = None,
        saved_from: int = LONG_MIN,
        saved_to: int = LONG_MAX,
        include_deleted: bool = False,
        limit: int = 100,
        after: tuple[int, str] | None = None,
    ) -> list[FormSession]:
        return self.store.list_form_sessions(
            project,
            unit_id=unit_id,
            saved_from=saved_from,
            saved_to=saved_to,
            include_deleted=include_deleted,
            limit=limit,
            after=after,
        )

    def devices(self, project: str) -> list[FormDevice]:
        return self.store.form_devices(project)

    def device(self, project: str, unit_id: str) -> FormDevice:
        found = self.store.form_device(project, unit_id)
        if found is None:
            raise errors.NotFound(f"no device {unit_id!r}")
        return found

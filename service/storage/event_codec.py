"""How an event is laid out in the ``events`` table, shared by both drivers and the
benchmark's raw ceiling: one tuple of columns in, one ``StoredEvent`` out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ujson

from service.records import Event, StoredEvent
from service.storage.json_text import loads

# The columns ``event_row`` fills, in the schema's order (both stores).
COLUMNS = (
    "project, user_id, device_id, ts, event_id, name, attributes, user_attributes, "
    "device_attributes, identified, extras, received_at"
)
# What ``stored_event`` reads back: the full event, or just its identity.
READ_FULL = (
    "device_id, ts, event_id, name, attributes, user_attributes, device_attributes, "
    "identified"
)
READ_KEYS = "device_id, ts, event_id"


def event_row(project: str, e: Event, received_at: Any) -> tuple[Any, ...]:
    return (
        project,
        e.user_id,
        e.device_id,
        e.ts,
        e.event_id,
        e.name,
        ujson.dumps(e.attributes),
        ujson.dumps(e.user_attributes),
        ujson.dumps(e.device_attributes),
        e.identified,
        ujson.dumps(e.extras),
        received_at,
    )


def stored_event(user_id: str, row: Sequence[Any], full: bool) -> StoredEvent:
    """A row of ``READ_FULL`` (or, when not ``full``, of ``READ_KEYS``) columns."""
    if not full:
        return StoredEvent(user_id, row[0], row[1], bytes(row[2]))
    return StoredEvent(
        user_id,
        row[0],
        row[1],
        bytes(row[2]),
        row[3],
        loads(row[4]),
        loads(row[5]),
        loads(row[6]),
        bool(row[7]),
    )

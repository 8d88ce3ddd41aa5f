"""How a form session's data map is stored, shared by both drivers: point -> JSON text,
attachments marked so they read back as ``Attachment``."""

from __future__ import annotations

from typing import Any

import ujson

from service.records import Attachment, FormSession
from service.storage.json_text import repaired, repaired_text

# Attachment bytes are stored in chunks of this size (no large cells).
CHUNK = 256 * 1024


def encode_data(session: FormSession) -> dict[str, str]:
    out = {}
    for point, value in session.data.items():
        if isinstance(value, Attachment):
            out[point] = ujson.dumps(
                {**value.public(), "id": value.id, "attachment": True}
            )
        else:
            out[point] = ujson.dumps(value)
    return out


def decode_data(stored: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for point, text in (stored or {}).items():
        if not point.isascii():  # (SQLite keeps the map as one JSON text)
            point = repaired_text(point)
        value = ujson.loads(text)
        if "\\ud" in text or "\\uD" in text:  # (json_text.may_hold_surrogates, inline)
            value = repaired(value)  # (rare: a row stored before they were refused)
        if isinstance(value, dict) and value.get("attachment") is True:
            value = Attachment(
                value["filename"],
                value["content_type"],
                value["length"],
                value["md5"],
                value["id"],
            )
        out[point] = value
    return out

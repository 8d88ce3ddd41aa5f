"""Mobile Data Anywhere's answers: ``{"status": "success", "result": ...}`` holding
sessions and devices, times as unix seconds and as ISO 8601 in UTC."""

from __future__ import annotations

import urllib.parse
from typing import Any

from service import times
from service.records import Attachment, FormDevice, FormSession


def success(result: Any, **extra: Any) -> dict[str, Any]:
    return {"status": "success", "result": result, **extra}


def _iso(seconds: int) -> str:
    return times.to_datetime(seconds * 1000).strftime("%Y-%m-%dT%H:%M:%SZ")


def session(s: FormSession) -> dict[str, Any]:
    return {
        "uuid": s.uuid,
        "unit_id": s.unit_id,
        "created": _iso(s.created),
        "created_timestamp": s.created,
        "saved": _iso(s.saved),
        "saved_timestamp": s.saved,
        "received": _iso(s.received),
        "received_timestamp": s.received,
        "is_deleted": s.is_deleted,
        "data": {
            k: v.public() if isinstance(v, Attachment) else v for k, v in s.data.items()
        },
    }


def device(d: FormDevice) -> dict[str, Any]:
    return {
        "unit_id": d.unit_id,
        "first_used": _iso(d.first_used),
        "first_used_timestamp": d.first_used,
        "last_used": _iso(d.last_used),
        "last_used_timestamp": d.last_used,
        "session_count": d.session_count,
    }


def disposition(filename: str) -> str:
    """A Content-Disposition header for any filename: an ASCII fallback that needs no
    quoting, and the name itself in RFC 5987's form (headers travel as Latin-1, so a
    name like "報告.pdf" cannot be sent raw)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
        for c in filename
    )
    encoded = urllib.parse.quote(filename.encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"

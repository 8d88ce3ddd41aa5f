"""Mobile Data Anywhere's API v1: sessions, attachments, batch, devices, time."""

from __future__ import annotations

import base64
import datetime as dt
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import falcon
import ujson

from service import errors
from service.dialects.mda.auth import authenticate
from service.dialects.mda.parse import (
    UUID,
    check_filename,
    check_point,
    check_unit_id,
    check_uuid,
    multipart_parts,
    read_form,
    session_input,
)
from service.forms import FormSessions, SessionInput
from service.projects import Project
from service.records import (
    LONG_MAX,
    LONG_MIN,
    Attachment,
    FormDevice,
    FormSession,
    Upload,
)
from service.web.body import read_body, read_json

if TYPE_CHECKING:
    from service.web.app import Services

_STATUS = {
    400: "bad request",
    401: "forbidden",  # MDA answers every authentication failure with 403
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "payload too large",
    415: "unsupported media type",
    500: "internal server error",
    503: "service unavailable",
}


class MdaEnvelope:
    """``{"status": "bad request", "result": {"errors": [...]}}`` with the status."""

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        status = 403 if status == 401 else status
        resp.status = falcon.code_to_http_status(status)
        resp.media = {
            "status": _STATUS.get(status, "error"),
            "result": {"errors": messages},
        }


def success(resp: falcon.Response, result: Any, **extra: Any) -> None:
    resp.media = {"status": "success", "result": result, **extra}


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_json(s: FormSession) -> dict[str, Any]:
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


def device_json(d: FormDevice) -> dict[str, Any]:
    return {
        "unit_id": d.unit_id,
        "first_used": _iso(d.first_used),
        "first_used_timestamp": d.first_used,
        "last_used": _iso(d.last_used),
        "last_used_timestamp": d.last_used,
        "session_count": d.session_count,
    }


class MdaResource:
    envelope = MdaEnvelope()

    def __init__(self, services: Services) -> None:
        self.services = services
        self.forms: FormSessions = services.ingestor.forms

    def project(self, req: falcon.Request, project_id: str | None = None) -> Project:
        project = authenticate(req, self.services.directory)
        if project_id is not None and project_id != project.id:
            raise errors.Forbidden("These credentials do not reach that project.")
        return project

    def given(self, req: falcon.Request) -> SessionInput:
        limits = self.services.config.limits
        doc, files = read_form(req, limits, max_part=self.forms.max_attachment_bytes)
        return session_input(doc, files)


def _flag(req: falcon.Request, name: str) -> bool:
    return (req.get_param(name) or "").lower() in ("1", "true", "yes")


def _int_param(req: falcon.Request, name: str, default: int) -> int:
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    try:
        # (the length test first: int() refuses strings of over 4,300 digits)
        value = int(raw) if len(raw) <= 20 else LONG_MAX + 1
    except ValueError:
        raise errors.InvalidInput(f"{name} must be an integer") from None
    if not LONG_MIN <= value <= LONG_MAX:
        raise errors.InvalidInput(f"{name} must be within the signed 64-bit range")
    return value


class UnknownPath(MdaResource):
    """A sink for paths under MDA's prefixes that no route takes (an attachment path
    without a point...): a 404 in MDA's envelope. /api/v1 is shared with KairosDB,
    whose envelope would answer otherwise."""

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        req.context.envelope = self.envelope
        raise errors.NotFound("not found")


class Sessions(MdaResource):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, project_id: str
    ) -> None:
        project = self.project(req, project_id)
        session = self.forms.create(project.id, self.given(req))
        success(resp, session_json(session))

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, project_id: str
    ) -> None:
        project = self.project(req, project_id)
        limit = _int_param(req, "limit", 100)
        if not 1 <= limit <= 1000:
            raise errors.InvalidInput("limit must be between 1 and 1000")
        after = _cursor(req.get_param("cursor"))
        unit_id = req.get_param("unit_id") or None
        found = self.forms.find(
            project.id,
            unit_id=None if unit_id is None else check_unit_id(unit_id),
            saved_from=_int_param(req, "saved_from", -(2**62)),
            saved_to=_int_param(req, "saved_to", 2**62),
            include_deleted=_flag(req, "deleted"),
            limit=limit,
            after=after,
        )
        extra = {}
        if len(found) == limit:
            last = found[-1]
            extra["next_cursor"] = _make_cursor(last.saved, last.uuid)
        success(resp, [session_json(s) for s in found], **extra)


class OneSession(MdaResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, uuid: str
    ) -> None:
        project = self.project(req, project_id)
        success(
            resp,
            session_json(
                self.forms.get(
                    project.id, check_uuid(uuid), deleted=_flag(req, "deleted")
                )
            ),
        )

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, uuid: str
    ) -> None:
        project = self.project(req, project_id)
        check_uuid(uuid)
        success(
            resp, session_json(self.forms.update(project.id, uuid, self.given(req)))
        )

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, uuid: str
    ) -> None:
        project = self.project(req, project_id)
        success(resp, session_json(self.forms.delete(project.id, check_uuid(uuid))))


class Attachments(MdaResource):
    def on_get(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        project_id: str,
        uuid: str,
        point: str,
    ) -> None:
        project = self.project(req, project_id)
        meta, chunks = self.forms.attachment(
            project.id, check_uuid(uuid), check_point(point)
        )
        resp.content_type = meta.content_type
        resp.content_length = meta.length
        resp.set_header("Content-Disposition", _disposition(meta.filename))
        resp.set_header("ETag", f'"{meta.md5}"')
        resp.stream = chunks

    def on_put(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        project_id: str,
        uuid: str,
        point: str,
    ) -> None:
        project = self.project(req, project_id)
        check_uuid(uuid)
        point = check_point(point)
        upload = self._upload(req, point)
        meta = self.forms.put_attachment(project.id, uuid, point, upload)
        success(resp, {"length": meta.length, "md5": meta.md5})

    def on_delete(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        project_id: str,
        uuid: str,
        point: str,
    ) -> None:
        project = self.project(req, project_id)
        point = check_point(point)
        self.forms.delete_attachment(project.id, check_uuid(uuid), point)
        success(resp, {"deleted": point})

    def _upload(self, req: falcon.Request, point: str) -> Upload:
        limits = self.services.config.limits
        cap = self.forms.max_attachment_bytes
        kind = (req.content_type or "").split(";")[0].strip().lower()
        if kind == "application/octet-stream":
            filename = check_filename(req.get_param("filename") or point)
            return Upload(filename, "application/octet-stream", read_body(req, limits))
        if kind == "multipart/form-data":
            parts = multipart_parts(req, read_body(req, limits), cap)
            for name, value in parts:
                if name == "attachment" and isinstance(value, Upload):
                    return value
            raise errors.InvalidInput(
                "the multipart body has no file field named attachment"
            )
        raise errors.InvalidInput(
            f"Content-Type {kind or '(none)'} is not accepted; send multipart/form-data "
            "with a field attachment, or application/octet-stream with ?filename="
        )


class Batch(MdaResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.project(req)
        doc = read_json(req, self.services.config.limits)
        if not isinstance(doc, dict):
            raise errors.InvalidInput("the batch must be a JSON object")
        groups = {}
        for key in ("sessionsToAdd", "sessionsToUpdate", "sessionsToDelete"):
            by_project = doc.get(key) or {}
            if not isinstance(by_project, dict):
                raise errors.InvalidInput(
                    f"{key} must map project ids to lists of sessions"
                )
            for project_id, sessions in by_project.items():
                if str(project_id) != project.id:
                    raise errors.Forbidden(
                        f"{key}: these credentials do not reach that project"
                    )
                if not isinstance(sessions, list):
                    raise errors.InvalidInput(f"{key}[{project_id}] must be a list")
                for n, entry in enumerate(sessions):
                    if not isinstance(entry, dict):
                        raise errors.InvalidInput(
                            f"{key}[{project_id}][{n}] must be an object"
                        )
            groups[key] = [s for sessions in by_project.values() for s in sessions]
        add = [session_input({"session": s}) for s in groups["sessionsToAdd"]]
        update = [session_input({"session": s}) for s in groups["sessionsToUpdate"]]
        if any(u.uuid is None for u in update):
            raise errors.InvalidInput("sessionsToUpdate: every session needs its uuid")
        delete = []
        for s in groups["sessionsToDelete"]:
            if not isinstance(s.get("uuid"), str) or not UUID.fullmatch(s["uuid"]):
                raise errors.InvalidInput(
                    "sessionsToDelete: every entry needs its uuid (a session id)"
                )
            delete.append(s["uuid"])
        success(
            resp, self.forms.batch(project.id, add=add, update=update, delete=delete)
        )


class Time(MdaResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        success(resp, int(time.time()))


class Devices(MdaResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.project(req, req.get_param("project_id") or None)
        success(resp, [device_json(d) for d in self.forms.devices(project.id)])


class OneDevice(MdaResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, unit_id: str) -> None:
        project = self.project(req, req.get_param("project_id") or None)
        success(
            resp, device_json(self.forms.device(project.id, check_unit_id(unit_id)))
        )


def _make_cursor(saved: int, uuid: str) -> str:
    return base64.urlsafe_b64encode(ujson.dumps([saved, uuid]).encode()).decode()


def _cursor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    try:
        saved, uuid = ujson.loads(base64.urlsafe_b64decode(text.encode()))
        if (
            type(saved) is int
            and LONG_MIN <= saved <= LONG_MAX
            and isinstance(uuid, str)
            and UUID.fullmatch(uuid)
        ):
            return saved, uuid
    except (ValueError, TypeError):
        pass
    raise errors.InvalidInput("cursor is not one this server gave")


def _disposition(filename: str) -> str:
    """A Content-Disposition header for any filename: an ASCII fallback that needs no
    quoting, and the name itself in RFC 5987's form (headers travel as Latin-1, so a
    name like "報告.pdf" cannot be sent raw)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
        for c in filename
    )
    encoded = urllib.parse.quote(filename.encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"

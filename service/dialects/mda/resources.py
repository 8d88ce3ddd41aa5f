"""Mobile Data Anywhere's API v1: sessions, attachments, batch, devices, time."""

from __future__ import annotations

from typing import Any

import falcon

from service import errors, times
from service.dialects.mda import parse, views
from service.dialects.mda.auth import authenticate
from service.dialects.mda.bodies import read_attachment, read_form
from service.dialects.mda.envelope import MdaEnvelope
from service.domain import Services
from service.domain.forms import SessionInput
from service.records import Project
from service.web import params
from service.web.body import read_json


class MdaResource:
    envelope = MdaEnvelope()

    def __init__(self, services: Services) -> None:
        self.forms = services.forms
        self.projects = services.projects
        self.limits = services.config.limits

    def project(self, req: falcon.Request, project_id: str | None = None) -> Project:
        project = authenticate(req, self.projects)
        if project_id is not None and project_id != project.id:
            raise errors.Forbidden("These credentials do not reach that project.")
        return project

    def given(self, req: falcon.Request) -> SessionInput:
        doc, files = read_form(
            req, self.limits, max_part=self.forms.max_attachment_bytes
        )
        return parse.session_input(doc, files)


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
        resp.media = views.success(views.session(session))

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, project_id: str
    ) -> None:
        project = self.project(req, project_id)
        limit = params.integer(req, "limit", default=100, low=1, high=1000)
        after = parse.position(req.get_param("cursor"))
        unit_id = req.get_param("unit_id") or None
        found = self.forms.find(
            project.id,
            unit_id=None if unit_id is None else parse.check_unit_id(unit_id),
            saved_from=params.integer(req, "saved_from", default=-(2**62)),
            saved_to=params.integer(req, "saved_to", default=2**62),
            include_deleted=params.flag(req, "deleted"),
            limit=limit,
            after=after,
        )
        extra = {}
        if len(found) == limit:
            extra["next_cursor"] = parse.cursor(found[-1].saved, found[-1].uuid)
        resp.media = views.success([views.session(s) for s in found], **extra)


class OneSession(MdaResource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, uuid: str
    ) -> None:
        project = self.project(req, project_id)
        session = self.forms.get(
            project.id, parse.check_uuid(uuid), deleted=params.flag(req, "deleted")
        )
        resp.media = views.success(views.session(session))

    def on_put(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, uuid: str
    ) -> None:
        project = self.project(req, project_id)
        parse.check_uuid(uuid)
        session = self.forms.update(project.id, uuid, self.given(req))
        resp.media = views.success(views.session(session))

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, uuid: str
    ) -> None:
        project = self.project(req, project_id)
        session = self.forms.delete(project.id, parse.check_uuid(uuid))
        resp.media = views.success(views.session(session))


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
            project.id, parse.check_uuid(uuid), parse.check_point(point)
        )
        resp.content_type = meta.content_type
        resp.content_length = meta.length
        resp.set_header("Content-Disposition", views.disposition(meta.filename))
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
        parse.check_uuid(uuid)
        point = parse.check_point(point)
        upload = read_attachment(
            req, self.limits, point, max_part=self.forms.max_attachment_bytes
        )
        meta = self.forms.put_attachment(project.id, uuid, point, upload)
        resp.media = views.success({"length": meta.length, "md5": meta.md5})

    def on_delete(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        project_id: str,
        uuid: str,
        point: str,
    ) -> None:
        project = self.project(req, project_id)
        point = parse.check_point(point)
        self.forms.delete_attachment(project.id, parse.check_uuid(uuid), point)
        resp.media = views.success({"deleted": point})


class Batch(MdaResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.project(req)
        add, update, delete = parse.batch(read_json(req, self.limits), project.id)
        done = self.forms.batch(project.id, add=add, update=update, delete=delete)
        resp.media = views.success(done)


class Time(MdaResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = views.success(times.now_s())


class Devices(MdaResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        project = self.project(req, req.get_param("project_id") or None)
        found = self.forms.devices(project.id)
        resp.media = views.success([views.device(d) for d in found])


class OneDevice(MdaResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, unit_id: str) -> None:
        project = self.project(req, req.get_param("project_id") or None)
        found = self.forms.device(project.id, parse.check_unit_id(unit_id))
        resp.media = views.success(views.device(found))

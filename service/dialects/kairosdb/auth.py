"""Which project a KairosDB request reads and writes.

The one its key names (``Authorization: Token <key>``, or Basic with the project id
as user and the key as password), else the shared ``public`` project of clients that
do not authenticate, unless ``DATAPOINTS_KAIROSDB_PUBLIC=false``.
"""

from __future__ import annotations

import falcon

from service import errors
from service.domain.projects import Directory
from service.records import PUBLIC_PROJECT
from service.web.auth import basic, token


def project_of(req: falcon.Request, projects: Directory, *, public: bool) -> str:
    key = token(req)
    if key is not None:
        return projects.by_key(key).id
    credentials = basic(req)
    if credentials is not None:
        user, key = credentials
        project = projects.by_key(key).id
        if user != project:
            # A user field that names another project is a client confused about
            # which tenant it writes to: refuse rather than guess.
            raise errors.Unauthorized(
                "Basic authorization: the user must be the id of the project "
                "the key belongs to."
            )
        return project
    if req.get_header("Authorization"):
        raise errors.Unauthorized(
            "Unsupported or malformed Authorization; use Token <key>, or Basic "
            "with the project id and key."
        )
    if not public:
        raise errors.Unauthorized("An API key is required: Authorization: Token <key>.")
    return PUBLIC_PROJECT

"""KairosDB's error envelope: ``{"errors": ["...", ...]}`` with the status.

It is also the envelope of paths that belong to no dialect (``service.web.paths``).
"""

from __future__ import annotations

import falcon


class KairosEnvelope:
    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        resp.status = falcon.code_to_http_status(status)
        resp.media = {"errors": messages}

"""Mobile Data Anywhere's error envelope."""

from __future__ import annotations

import falcon

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

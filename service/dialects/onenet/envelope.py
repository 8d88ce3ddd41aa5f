"""OneNET's error envelope and its error numbers."""

from __future__ import annotations

import falcon

# errno -> error; 0, 1, 3 and 7 are OneNET's own numbers, the others this service's.
ERRNO = {
    0: "succ",
    1: "auth failed",
    3: "parameter required",
    5: "invalid parameter",
    7: "service internal error",
    11: "device not found",
    12: "datastream not found",
    13: "payload too large",
    14: "already exists",
    15: "not found",
}


def errno_of(status: int, messages: list[str]) -> int:
    text = messages[0] if messages else ""
    if status in (401, 403):
        return 1
    if status == 404:
        if text.startswith("device not found"):
            return 11
        return 12 if text.startswith("datastream not found") else 15
    if status == 409:
        return 14
    if status == 413:
        return 13
    if status >= 500:
        return 7
    return 3 if text.startswith("missing parameter") else 5


class OneNetEnvelope:
    """``{"errno": N, "error": "..."}``. Request errors come with HTTP 200, as OneNET
    sends them and its SDKs expect (they read the errno of a 200 and treat any other
    status as a transport failure); DATAPOINTS_ONENET_HTTP_STATUS=rest sends the 4xx
    instead. A failure to store is always a 5xx: never a 2xx for data not written."""

    def __init__(self, rest_statuses: bool) -> None:
        self.rest = rest_statuses

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: int,
        messages: list[str],
    ) -> None:
        errno = errno_of(status, messages)
        keep = self.rest or status >= 500
        resp.status = falcon.code_to_http_status(status if keep else 200)
        label, detail = ERRNO[errno], "; ".join(messages)
        if status >= 500 or not detail or detail == label:
            error = label
        elif detail.startswith(
            (label, "missing parameter", "invalid parameter", "invalid format")
        ):
            error = detail
        else:
            error = f"{label}: {detail}"
        resp.media = {"errno": errno, "error": error}

"""Falcon apps that do nothing, for bench/serving_floor.py: the ceiling of each way of
serving before any of the service's own work (WSGI for gunicorn's sync and gthread
workers, ASGI for an asyncio worker). Each reads the request body, as the service's
write endpoints do, and answers 204."""

from __future__ import annotations

import falcon
import falcon.asgi


class Noop:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.bounded_stream.read()
        resp.status = falcon.HTTP_204


class AsyncNoop:
    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        await req.stream.read()
        resp.status = falcon.HTTP_204


wsgi_app = falcon.App()
wsgi_app.add_route("/noop", Noop())

asgi_app = falcon.asgi.App()
asgi_app.add_route("/noop", AsyncNoop())

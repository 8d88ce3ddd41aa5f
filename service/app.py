"""The application factory: ``create_app(config)``, the composition root.

It opens the store (``service.storage.factory``), builds the services once
(``service.domain.build_services``) and lets each dialect register its routes with
them. Nothing connects until the first request that needs the store (after gunicorn
has forked its workers).

The dialects are listed here and nowhere else: a fifth one is a package with a
``register(app, services)`` and an envelope, a line in ``DIALECTS`` and one in
``envelopes`` (and its paths in ``service.web.paths``).
"""

from __future__ import annotations

import functools
from typing import Any

import falcon
import falcon.media
import ujson

from service.config import Config
from service.dialects import kairosdb, liquid, mda, onenet
from service.dialects.kairosdb.envelope import KairosEnvelope
from service.dialects.liquid.envelope import AnalyzeEnvelope, LiquidEnvelope
from service.dialects.mda.envelope import MdaEnvelope
from service.dialects.onenet.envelope import OneNetEnvelope
from service.domain import build_services
from service.storage.base import Backend
from service.storage.factory import open_backend
from service.web import errors as web_errors
from service.web import paths
from service.web.budget import BodyBudget, BudgetedApp
from service.web.errors import Envelope

DIALECTS = (kairosdb, liquid, mda, onenet)


def create_app(config: Config, backend: Backend | None = None) -> falcon.App[Any, Any]:
    store = backend or open_backend(config)
    services = build_services(config, store)
    app = BudgetedApp(
        body_budget=BodyBudget(config.worker_body_budget),
        cooperative=store.cooperative,
        middleware=[web_errors.EnvelopeMiddleware()],
        cors_enable=True,
    )
    json_handler = falcon.media.JSONHandler(
        dumps=functools.partial(
            ujson.dumps, ensure_ascii=False, escape_forward_slashes=False
        ),
        loads=ujson.loads,
    )
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.req_options.strip_url_path_trailing_slash = True
    web_errors.install(app, envelopes(config))
    for dialect in DIALECTS:
        dialect.register(app, services)
    return app


def envelopes(config: Config) -> dict[str, Envelope]:
    """Each dialect's error envelope, by the names ``service.web.paths`` gives the
    paths: for errors on paths no route takes, and gunicorn's own (the serving
    worker renders those)."""
    return {
        paths.KAIROSDB: KairosEnvelope(),
        paths.LIQUID: LiquidEnvelope(),
        paths.ANALYZE: AnalyzeEnvelope(),
        paths.MDA: MdaEnvelope(),
        paths.ONENET: OneNetEnvelope(config.onenet_rest_statuses),
    }

"""The application factory: ``create_app(config)``.

Stores are built here and injected into the resources; nothing connects until the
first request that needs the store (after gunicorn has forked its workers).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import falcon
import falcon.media
import ujson

from service.config import Config
from service.ingest import Ingestor
from service.iot import Iot
from service.projects import Directory, Keys
from service.storage import Backend, open_backend
from service.web import errors as web_errors
from service.web import paths
from service.web.budget import BodyBudget, BudgetedApp


@dataclass
class Services:
    """What resources need, built once per process."""

    config: Config
    backend: Backend
    ingestor: Ingestor
    directory: Directory
    iot: Iot


def create_app(config: Config, backend: Backend | None = None) -> falcon.App[Any, Any]:
    backend = backend or open_backend(config)
    directory = Directory(backend.projects, Keys(config.secret()))
    ingestor = Ingestor(config, backend)
    services = Services(
        config, backend, ingestor, directory, Iot(backend, ingestor, directory)
    )
    app = BudgetedApp(
        body_budget=BodyBudget(config.worker_body_budget),
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
    web_errors.install(app, paths.envelopes(config))

    from service.dialects import kairosdb, liquid, mda, onenet

    kairosdb.register(app, services)
    liquid.register(app, services)
    mda.register(app, services)
    onenet.register(app, services)
    return app

"""Running the app under gunicorn (``datapoints serve``)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from service.config import Config

WORKER_CLASSES = {
    "loop": "service.serving.loop_worker.LoopWorker",
    "gthread": "service.serving.worker.DeadlineWorker",
}


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn with the app built in each worker, after the fork.

    ``preload_app`` stays off: every worker calls :meth:`load` itself, so no Cassandra
    connection or SQLite handle ever crosses a fork.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        super().__init__()

    def load_config(self) -> None:
        c = self.config
        settings: dict[str, Any] = {
            "bind": [c.bind],
            "workers": c.workers,
            "threads": c.threads,
            # Either worker keeps deadlines for slow clients, admission of heavy
            # requests and the refusals of malformed requests in the dialects'
            # envelopes; the loop worker costs a small request a fraction of the CPU
            "worker_class": WORKER_CLASSES[c.worker],
            # A worker silent for this long is killed and replaced: no hung worker.
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 5,
            # KairosDB's GET /api/v1/datapoints/query?query=<json> carries the whole
            # query in the request line: allow 8 KiB (gunicorn's default is 4 KiB)
            "limit_request_line": 8190,
            "loglevel": c.log_level.lower(),
            "accesslog": "-" if c.log_level == "DEBUG" else None,
            "errorlog": "-",
            "proc_name": "datapoints",
            "preload_app": False,
            # gunicorn's runtime control socket ($HOME/.gunicorn/gunicorn.ctl, one
            # path for every server on the host) is not part of this service
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from service.app import create_app

        return create_app(self.config)

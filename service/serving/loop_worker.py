"""The gunicorn worker of ``datapoints serve``: uvicorn's, on uvloop, with the
service's HTTP protocol (``service.serving.protocol``) and the WSGI app bridged onto
its loop (``service.serving.bridge``).

Chosen by measurement (BENCHMARKS.md, "Small requests"): a request that does nothing
costs ~57 µs of CPU here against ~245 µs under gunicorn's gthread worker, and a small
write runs on the loop's thread without being handed to another. gunicorn stays the
process manager (workers, restarts, the timeout on a silent worker, signals).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from service import cooperative
from service.app import envelopes
from service.config import Config, Serving
from service.serving.bridge import Bridge
from service.serving.protocol import Protocol


@dataclass(frozen=True)
class Settings:
    """What the protocol needs of the service (on uvicorn's config object)."""

    serving: Serving
    envelopes: dict[str, Any]
    big_heads: int  # connections reading a head past the buffer at once


class LoopWorker(UvicornWorker):  # type: ignore[misc]
    wsgi: Any  # the app, set by gunicorn's load_wsgi
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": Protocol,
        "interface": "asgi3",
        "lifespan": "off",
        # (no "server: uvicorn" header: answers name no internals)
        "server_header": False,
        # (X-Forwarded-* are not trusted: as under gunicorn's own workers, the
        # proxy's address is the client's)
        "proxy_headers": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = getattr(self.app, "config", None)
        self.service_config = (
            config if isinstance(config, Config) else Config.from_env()
        )
        self.envelopes = envelopes(self.service_config)
        self.config.datapoints = Settings(
            self.service_config.serving, self.envelopes, self.cfg.threads
        )

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        if cfg.is_ssl:
            raise RuntimeError(
                "the loop worker serves plain HTTP/1.x: end TLS at a proxy"
            )

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = Bridge(
            self.wsgi,
            self.service_config,
            threads=self.cfg.threads,
            envelopes=self.envelopes,
        )

    async def _serve(self) -> None:
        cooperative.install(asyncio.get_running_loop())
        await super()._serve()

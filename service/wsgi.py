"""WSGI entry point for servers other than ``datapoints serve``.

``gunicorn service.wsgi:app`` works; the store connects on the first request in each
worker, so ``--preload`` is safe too.
"""

from service.cli import prepare_backend
from service.config import Config
from service.web.app import create_app

_config = Config.from_env()
app = create_app(_config, prepare_backend(_config))

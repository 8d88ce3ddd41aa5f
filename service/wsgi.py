"""WSGI entry point for servers other than ``datapoints serve``.

``gunicorn service.wsgi:app`` works. The store is checked (and the embedded one's
schema created) here, with a connection closed at once; the app's own store connects
on the first request in each worker, so ``--preload`` is safe too.
"""

from service.app import create_app
from service.config import Config
from service.storage.factory import prepare_backend

_config = Config.from_env()
prepare_backend(_config).close()
app = create_app(_config)

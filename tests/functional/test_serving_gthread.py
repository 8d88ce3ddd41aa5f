"""The serving rules again under the fallback worker (``DATAPOINTS_WORKER=gthread``):
every test of test_serving.py, against a server running gunicorn's gthread worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.config import Config
from tests.functional import test_serving
from tests.functional.test_serving import *  # noqa: F403 (the tests, run again)
from tests.served import Served, served


@pytest.fixture(scope="module")
def server(served_config: Config) -> Iterator[Served]:
    assert served_config.secret_key
    settings = {**test_serving.SETTINGS, "DATAPOINTS_WORKER": "gthread"}
    with served(served_config.store_url, served_config.secret_key, **settings) as s:
        yield s

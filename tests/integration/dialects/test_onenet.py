"""tests/functional/test_onenet.py on real Cassandra (see conftest.py)."""

from tests.functional.test_onenet import *  # noqa: F403

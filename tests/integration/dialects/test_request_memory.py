"""tests/functional/test_request_memory.py on real Cassandra (see conftest.py)."""

from tests.functional.test_request_memory import *  # noqa: F403

"""tests/functional/test_onenet_fuzz.py on real Cassandra (see conftest.py)."""

from tests.functional.test_onenet_fuzz import *  # noqa: F403

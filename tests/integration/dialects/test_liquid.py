"""tests/functional/test_liquid.py on real Cassandra (see conftest.py)."""

from tests.functional.test_liquid import *  # noqa: F403

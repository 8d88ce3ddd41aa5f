"""tests/functional/test_liquid_fuzz.py on real Cassandra (see conftest.py)."""

from tests.functional.test_liquid_fuzz import *  # noqa: F403

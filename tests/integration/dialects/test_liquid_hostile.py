"""tests/functional/test_liquid_hostile.py on real Cassandra (see conftest.py)."""

from tests.functional.test_liquid_hostile import *  # noqa: F403

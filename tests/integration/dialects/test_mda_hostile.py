"""tests/functional/test_mda_hostile.py on real Cassandra (see conftest.py)."""

from tests.functional.test_mda_hostile import *  # noqa: F403

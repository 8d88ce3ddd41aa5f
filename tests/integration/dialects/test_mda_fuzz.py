"""tests/functional/test_mda_fuzz.py on real Cassandra (see conftest.py)."""

from tests.functional.test_mda_fuzz import *  # noqa: F403

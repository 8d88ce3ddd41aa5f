"""tests/functional/test_mda.py on real Cassandra (see conftest.py)."""

from tests.functional.test_mda import *  # noqa: F403

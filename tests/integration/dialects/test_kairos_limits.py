"""tests/functional/test_kairos_limits.py on real Cassandra (see conftest.py)."""

from tests.functional.test_kairos_limits import *  # noqa: F403

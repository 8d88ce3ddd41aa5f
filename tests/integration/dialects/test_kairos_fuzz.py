"""tests/functional/test_kairos_fuzz.py on real Cassandra (see conftest.py)."""

from tests.functional.test_kairos_fuzz import *  # noqa: F403

"""tests/functional/test_tenancy.py on real Cassandra (see conftest.py)."""

from tests.functional.test_tenancy import *  # noqa: F403

"""tests/functional/test_onenet_hostile.py on real Cassandra (see conftest.py)."""

from tests.functional.test_onenet_hostile import *  # noqa: F403

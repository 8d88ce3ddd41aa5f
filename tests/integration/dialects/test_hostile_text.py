"""tests/functional/test_hostile_text.py on real Cassandra (see conftest.py)."""

from tests.functional.test_hostile_text import *  # noqa: F403

"""tests/functional/test_serving.py (a real ``datapoints serve``) on real Cassandra."""

from tests.functional.test_serving import *  # noqa: F403

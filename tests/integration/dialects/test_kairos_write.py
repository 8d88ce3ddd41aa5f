"""tests/functional/test_kairos_write.py on real Cassandra (see conftest.py)."""

import pytest

from tests.functional.test_kairos_write import *  # noqa: F403

pytestmark = pytest.mark.usefixtures("empty_public_project")
# There a store double checks how store failures map to HTTP; here the same is
# checked against a Cassandra that is down (test_kairos_http.py).
del test_store_failures_are_never_a_2xx_and_leak_nothing  # noqa: F821

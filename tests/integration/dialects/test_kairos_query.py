"""tests/functional/test_kairos_query.py on real Cassandra (see conftest.py)."""

import pytest

from tests.functional.test_kairos_query import *  # noqa: F403

pytestmark = pytest.mark.usefixtures("empty_public_project")

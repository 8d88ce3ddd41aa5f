"""Fixtures every tier shares."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "ci", parent=settings.get_profile("default"), max_examples=200
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def unique() -> str:
    """A name no other test uses: metrics, projects and users are never shared."""
    return "t" + uuid.uuid4().hex[:12]

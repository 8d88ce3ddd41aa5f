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
# CI (tox sets HYPOTHESIS_PROFILE=ci) is deterministic: the same examples every run,
# no example database, so a run lands or fails on the code alone. A failure found
# while exploring (the default profile, random and remembering failures locally, or
# "explore" for long runs) becomes a fixed regression test (@example or a plain test).
settings.register_profile(
    "ci",
    parent=settings.get_profile("default"),
    max_examples=200,
    derandomize=True,
    database=None,
    print_blob=True,
)
settings.register_profile(
    "explore", parent=settings.get_profile("default"), max_examples=5000
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def unique() -> str:
    """A name no other test uses: metrics, projects and users are never shared."""
    return "t" + uuid.uuid4().hex[:12]

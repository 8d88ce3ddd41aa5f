"""Which dialect a path belongs to, and which requests are heavy."""

from __future__ import annotations

import pytest

from service.web.paths import (
    ANALYZE,
    KAIROSDB,
    LIQUID,
    MDA,
    ONENET,
    dialect_of,
    is_heavy,
)


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/api/v1/datapoints", KAIROSDB),
        ("/api/v1/datapoints/query/tags", KAIROSDB),
        ("/api/v1/projectsx/1", KAIROSDB),
        ("/api/v1/projects/1/sessions", MDA),
        ("/api/v1/project/1/sessions/u/attachments/p", MDA),
        ("/api/v1/sessions/batch", MDA),
        ("/api/v1/time", MDA),
        ("/api/v1/devices", MDA),
        ("/api/v1/devices/unit", MDA),
        ("/data_points", LIQUID),
        ("/collect/data_points", LIQUID),
        ("/aliases", LIQUID),
        ("/analyze/users/1", ANALYZE),
        ("/devices", ONENET),
        ("/devices/1/datastreams/s", ONENET),
        ("/devicesx", KAIROSDB),
        ("/", KAIROSDB),
        ("", KAIROSDB),
        ("/api", KAIROSDB),
        ("/api/v2/projects/1", KAIROSDB),
    ],
)
def test_dialect_of(path: str, dialect: str) -> None:
    assert dialect_of(path) == dialect


@pytest.mark.parametrize(
    ("method", "path", "heavy"),
    [
        ("POST", "/api/v1/datapoints/query", True),
        ("GET", "/api/v1/datapoints/query", True),
        ("OPTIONS", "/api/v1/datapoints/query", False),  # a CORS preflight
        ("POST", "/api/v1/datapoints", False),  # ingest
        ("POST", "/api/v1/datapoints/query/x", False),
        ("DELETE", "/api/v1/metric/cpu", True),
        ("DELETE", "/api/v1/metric/cpu/x", False),
        ("GET", "/analyze/users/1", True),
        ("GET", "/analyze/", False),
        ("POST", "/devices/1/datapoints", False),  # ingest
        ("GET", "/devices/1/datapoints", True),
        ("GET", "/devices/1", False),
        ("GET", "/api/v1/projects/1/sessions", True),
        ("POST", "/api/v1/projects/1/sessions", False),  # ingest
        ("GET", "/api/v1/projects/1/sessions/u", False),
    ],
)
def test_is_heavy(method: str, path: str, heavy: bool) -> None:
    assert is_heavy(method, path) is heavy

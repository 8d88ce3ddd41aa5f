"""The path table the app and the serving worker share (service.web.paths) agrees
with the app's routes, and errors on paths no route takes use the path's dialect."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import falcon
import pytest
from falcon import testing

from service.app import envelopes
from service.config import Config
from service.web import errors as web_errors
from service.web.paths import MDA, NAMES, dialect_of, is_heavy

METHODS = ("GET", "POST", "PUT", "DELETE")


def routes(client: testing.TestClient) -> Iterator[tuple[str, Any, set[str]]]:
    """(a path of the route, its resource, its methods) for every route."""

    def walk(nodes: Any) -> Iterator[tuple[str, Any, set[str]]]:
        for node in nodes:
            if node.resource is not None:
                path = re.sub(r"\{[^}]+\}", "x1", node.uri_template)
                methods = {
                    m for m in METHODS if hasattr(node.resource, f"on_{m.lower()}")
                }
                yield path, node.resource, methods
            yield from walk(node.children)

    return walk(client.app._router._roots)


def test_every_route_is_in_the_table_under_its_own_dialect(
    client: testing.TestClient, config: Config
) -> None:
    table = envelopes(config)
    for path, resource, _ in routes(client):
        assert type(table[dialect_of(path)]) is type(resource.envelope), path


def test_an_app_must_have_an_envelope_for_every_dialect(config: Config) -> None:
    table = envelopes(config)
    assert set(table) == set(NAMES)
    del table[MDA]
    # (an error handler that found no envelope would answer its error with a 500)
    with pytest.raises(ValueError, match="no error envelope for mda"):
        web_errors.install(falcon.App(), table)


def test_the_heavy_routes_are_the_queries_listings_and_range_deletes(
    client: testing.TestClient,
) -> None:
    heavy = {
        (method, path)
        for path, _, methods in routes(client)
        for method in methods
        if is_heavy(method, path)
    }
    assert heavy == {
        ("GET", "/api/v1/datapoints/query"),
        ("POST", "/api/v1/datapoints/query"),
        ("POST", "/api/v1/datapoints/query/tags"),
        ("POST", "/api/v1/datapoints/delete"),
        ("DELETE", "/api/v1/metric/x1"),
        ("GET", "/api/v1/projects/x1/sessions"),
        ("GET", "/api/v1/project/x1/sessions"),
        ("GET", "/api/v1/devices"),
        ("GET", "/analyze/users/x1"),
        ("GET", "/analyze/users/x1/sessions"),
        ("GET", "/analyze/sessions/x1"),
        ("GET", "/analyze/devices/x1"),
        ("GET", "/devices/datapoints"),
        ("GET", "/devices/x1/datapoints"),
        ("DELETE", "/devices/x1/datapoints"),
    }


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/api/v1/nothing", {"errors"}),
        ("/nothing", {"errors"}),
        ("/api/v1/projects/p1/nothing", {"status", "result"}),
        ("/api/v1/devices/u1/nothing", {"status", "result"}),
        ("/collect/nothing", {"error"}),
        ("/analyze/nothing", {"message"}),
        ("/devices/d1/nothing/else", {"errno", "error"}),
    ],
)
def test_a_path_no_route_takes_answers_in_its_dialects_envelope(
    client: testing.TestClient, path: str, shape: set[str]
) -> None:
    result = client.simulate_get(path)
    assert result.status_code in (200, 404)  # OneNET says 404 with errno, in a 200
    assert set(result.json) == shape

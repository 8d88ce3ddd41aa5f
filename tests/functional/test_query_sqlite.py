from __future__ import annotations

from tests.contract.query import QueryContract


class TestSqliteQuery(QueryContract):
    """The query contract on the embedded store (``client`` from conftest)."""

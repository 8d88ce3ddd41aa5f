from __future__ import annotations

from tests.contract.points import PointStoreContract


class TestSqlitePoints(PointStoreContract):
    """The storage contract on the embedded store (``backend`` from conftest)."""

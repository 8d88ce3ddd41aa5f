from __future__ import annotations

from tests.contract.devices import DeviceStoreContract
from tests.contract.events import EventStoreContract
from tests.contract.forms import FormStoreContract
from tests.contract.point_history import PointHistoryContract


class TestSqlitePoints(PointHistoryContract):
    """The storage contract on the embedded store (``backend`` from conftest)."""


class TestSqliteEvents(EventStoreContract):
    """The events and projects contract on the embedded store."""


class TestSqliteForms(FormStoreContract):
    """The form sessions contract on the embedded store."""


class TestSqliteDevices(DeviceStoreContract):
    """The IoT devices contract on the embedded store."""

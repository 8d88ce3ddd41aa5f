"""The storage contract for IoT devices and datastreams, run on both drivers."""

from __future__ import annotations

import dataclasses

import pytest

from service import errors
from service.records import Device, Stream
from service.storage import Backend


class DeviceStoreContract:
    """Subclasses supply ``backend``."""

    def test_devices(self, backend: Backend, unique: str) -> None:
        store = backend.devices
        d = Device(
            id="100",
            title="t",
            description="d",
            tags=("a", "b"),
            location={"lon": 1.5},
            auth_info="sn-1",
            other={"k": [1]},
            private=False,
            protocol="HTTP",
            created_at=1_700_000_000_123,
            key_hash=b"h" * 32,
            key_nonce=b"n" * 16,
        )
        store.create_device(unique, d)
        assert store.get_device(unique, "100") == d
        with pytest.raises(errors.Conflict):
            store.create_device(unique, d)
        store.create_device(unique, dataclasses.replace(d, id="099"))
        assert [x.id for x in store.list_devices(unique)] == ["099", "100"]
        store.update_device(unique, dataclasses.replace(d, title="u"))
        assert store.get_device(unique, "100").title == "u"  # type: ignore[union-attr]
        store.delete_device(unique, "100")
        assert store.get_device(unique, "100") is None
        assert store.get_device(unique + "-other", "099") is None

    def test_streams(self, backend: Backend, unique: str) -> None:
        store = backend.devices
        store.ensure_streams(unique, "d", ["a", "b", "a"], 1000)
        store.put_stream(unique, "d", Stream("b", ("x",), "ppm", "p", 1000))
        store.ensure_streams(
            unique, "d", ["a", "b", "c"], 2000
        )  # existing ones untouched
        assert store.list_streams(unique, "d") == [
            Stream("a", create_time=1000),
            Stream("b", ("x",), "ppm", "p", 1000),
            Stream("c", create_time=2000),
        ]
        store.delete_stream(unique, "d", "a")
        assert store.get_stream(unique, "d", "a") is None
        store.ensure_streams(unique, "d", ["a"], 3000)  # created again after a delete
        assert store.get_stream(unique, "d", "a") == Stream("a", create_time=3000)
        store.delete_device(unique, "d")
        assert store.list_streams(unique, "d") == []
        assert store.list_streams(unique, "other") == []

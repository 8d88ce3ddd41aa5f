"""IoT devices and datastreams on Cassandra."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import ujson

from service import errors
from service.records import Device, Stream
from service.storage.cassandra.session import CassandraSession, Role
from service.storage.json_text import loads

_DEVICE = (
    "device_id, title, description, tags, location, auth_info, other, private, "
    "protocol, created_at, key_hash, key_nonce"
)
_PUT_DEVICE = (
    "INSERT INTO {ks}.iot_devices (project, " + _DEVICE + ") "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DEVICES = "SELECT " + _DEVICE + " FROM {ks}.iot_devices WHERE project = ?"
_STREAMS = (
    "SELECT stream_id, tags, unit, unit_symbol, create_time FROM {ks}.iot_streams "
    "WHERE project = ? AND device_id = ?"
)


class CassandraDeviceStore:
    def __init__(self, session: CassandraSession) -> None:
        self.session = session

    def create_device(self, project: str, device: Device) -> None:
        row = self.session.execute(
            _PUT_DEVICE + " IF NOT EXISTS", (project, *_values(device)), role=Role.META
        ).one()
        if not row[0]:
            raise errors.Conflict(f"device {device.id} already exists")

    def get_device(self, project: str, device_id: str) -> Device | None:
        row = self.session.execute(
            _DEVICES + " AND device_id = ?", (project, device_id), role=Role.READ
        ).one()
        return _device(row) if row else None

    def list_devices(self, project: str) -> list[Device]:
        rows = self.session.stream(
            _DEVICES, (project,), role=Role.READ, fetch_size=1000
        )
        return [_device(r) for r in rows]

    def update_device(self, project: str, device: Device) -> None:
        self.session.execute(_PUT_DEVICE, (project, *_values(device)), role=Role.WRITE)

    def delete_device(self, project: str, device_id: str) -> None:
        self.session.execute_all(
            [
                self.session.bind(
                    "DELETE FROM {ks}."
                    + table
                    + " WHERE project = ? AND device_id = ?",
                    (project, device_id),
                )
                for table in ("iot_devices", "iot_streams")
            ],
            role=Role.WRITE,
            concurrency=2,
        )

    def ensure_streams(
        self, project: str, device_id: str, stream_ids: Sequence[str], now_ms: int
    ) -> None:
        # Only the streams that do not exist yet: a plain write (no timestamp games,
        # so that deleting a stream or device really deletes it).
        known = {s.id for s in self.list_streams(project, device_id)}
        missing = [s for s in dict.fromkeys(stream_ids) if s not in known]
        if not missing:
            return
        batch = self.session.batch(  # one partition: one mutation
            "UPDATE {ks}.iot_streams SET create_time = ? "
            "WHERE project = ? AND device_id = ? AND stream_id = ?",
            role=Role.WRITE,
        )
        for stream_id in missing:
            batch.add((now_ms, project, device_id, stream_id))
        self.session.execute_all([batch], role=Role.WRITE, concurrency=1)

    def put_stream(self, project: str, device_id: str, stream: Stream) -> None:
        self.session.execute(
            "UPDATE {ks}.iot_streams SET tags = ?, unit = ?, unit_symbol = ?, "
            "create_time = ? WHERE project = ? AND device_id = ? AND stream_id = ?",
            (
                list(stream.tags),
                stream.unit,
                stream.unit_symbol,
                stream.create_time,
                project,
                device_id,
                stream.id,
            ),
            role=Role.WRITE,
        )

    def get_stream(self, project: str, device_id: str, stream_id: str) -> Stream | None:
        row = self.session.execute(
            _STREAMS + " AND stream_id = ?",
            (project, device_id, stream_id),
            role=Role.READ,
        ).one()
        return _stream(row) if row and row.create_time is not None else None

    def list_streams(self, project: str, device_id: str) -> list[Stream]:
        rows = self.session.execute(_STREAMS, (project, device_id), role=Role.READ)
        return [_stream(r) for r in rows if r.create_time is not None]

    def delete_stream(self, project: str, device_id: str, stream_id: str) -> None:
        self.session.execute(
            "DELETE FROM {ks}.iot_streams WHERE project = ? AND device_id = ? "
            "AND stream_id = ?",
            (project, device_id, stream_id),
            role=Role.WRITE,
        )


def _values(d: Device) -> tuple[Any, ...]:
    return (
        d.id,
        d.title,
        d.description,
        list(d.tags),
        ujson.dumps(d.location),
        d.auth_info,
        ujson.dumps(d.other),
        d.private,
        d.protocol,
        dt.datetime.fromtimestamp(d.created_at / 1000, dt.UTC),
        d.key_hash,
        d.key_nonce,
    )


def _device(row: Any) -> Device:
    created = row.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return Device(
        id=row.device_id,
        title=row.title,
        description=row.description or "",
        tags=tuple(row.tags or ()),
        location=loads(row.location or "null"),
        auth_info=row.auth_info or "",
        other=loads(row.other or "null"),
        private=bool(row.private),
        protocol=row.protocol or "HTTP",
        created_at=int(created.timestamp() * 1000),
        key_hash=bytes(row.key_hash),
        key_nonce=bytes(row.key_nonce),
    )


def _stream(row: Any) -> Stream:
    return Stream(
        id=row.stream_id,
        tags=tuple(row.tags or ()),
        unit=row.unit or "",
        unit_symbol=row.unit_symbol or "",
        create_time=row.create_time,
    )

"""IoT devices and datastreams in the embedded store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import ujson

from service import errors
from service.records import Device, Stream
from service.storage.json_text import loads
from service.storage.sqlite.database import SqliteDatabase


class SqliteDeviceStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database

    def create_device(self, project: str, device: Device) -> None:
        try:
            with self.database.write() as conn:
                conn.execute(
                    "INSERT INTO iot_devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, *_values(device)),
                )
        except sqlite3.IntegrityError:
            raise errors.Conflict(f"device {device.id} already exists") from None

    def get_device(self, project: str, device_id: str) -> Device | None:
        row = self.database.conn.execute(
            "SELECT * FROM iot_devices WHERE project = ? AND device_id = ?",
            (project, device_id),
        ).fetchone()
        return _device(row) if row else None

    def list_devices(self, project: str) -> list[Device]:
        rows = self.database.conn.execute(
            "SELECT * FROM iot_devices WHERE project = ? ORDER BY device_id", (project,)
        )
        return [_device(r) for r in rows]

    def update_device(self, project: str, device: Device) -> None:
        with self.database.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO iot_devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (project, *_values(device)),
            )

    def delete_device(self, project: str, device_id: str) -> None:
        with self.database.write() as conn:
            for table in ("iot_devices", "iot_streams"):
                conn.execute(
                    f"DELETE FROM {table} WHERE project = ? AND device_id = ?",
                    (project, device_id),
                )

    def ensure_streams(
        self, project: str, device_id: str, stream_ids: Sequence[str], now_ms: int
    ) -> None:
        with self.database.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO iot_streams VALUES (?, ?, ?, '[]', '', '', ?)",
                [(project, device_id, s, now_ms) for s in dict.fromkeys(stream_ids)],
            )

    def put_stream(self, project: str, device_id: str, stream: Stream) -> None:
        with self.database.write() as conn:
            conn.execute(
                "INSERT INTO iot_streams VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET tags = excluded.tags, unit = excluded.unit, unit_symbol = "
                "excluded.unit_symbol, create_time = excluded.create_time",
                (
                    project,
                    device_id,
                    stream.id,
                    ujson.dumps(list(stream.tags)),
                    stream.unit,
                    stream.unit_symbol,
                    stream.create_time,
                ),
            )

    def get_stream(self, project: str, device_id: str, stream_id: str) -> Stream | None:
        row = self.database.conn.execute(
            "SELECT stream_id, tags, unit, unit_symbol, create_time FROM iot_streams "
            "WHERE project = ? AND device_id = ? AND stream_id = ?",
            (project, device_id, stream_id),
        ).fetchone()
        return _stream(row) if row else None

    def list_streams(self, project: str, device_id: str) -> list[Stream]:
        rows = self.database.conn.execute(
            "SELECT stream_id, tags, unit, unit_symbol, create_time FROM iot_streams "
            "WHERE project = ? AND device_id = ? ORDER BY stream_id",
            (project, device_id),
        )
        return [_stream(r) for r in rows]

    def delete_stream(self, project: str, device_id: str, stream_id: str) -> None:
        with self.database.write() as conn:
            conn.execute(
                "DELETE FROM iot_streams WHERE project = ? AND device_id = ? AND stream_id = ?",
                (project, device_id, stream_id),
            )


def _values(d: Device) -> tuple[Any, ...]:
    return (
        d.id,
        d.title,
        d.description,
        ujson.dumps(list(d.tags)),
        ujson.dumps(d.location),
        d.auth_info,
        ujson.dumps(d.other),
        int(d.private),
        d.protocol,
        str(d.created_at),
        d.key_hash,
        d.key_nonce,
    )


def _device(r: Any) -> Device:
    return Device(
        id=r[1],
        title=r[2],
        description=r[3],
        tags=tuple(loads(r[4])),
        location=loads(r[5]),
        auth_info=r[6],
        other=loads(r[7]),
        private=bool(r[8]),
        protocol=r[9],
        created_at=int(r[10]),
        key_hash=bytes(r[11]),
        key_nonce=bytes(r[12]),
    )


def _stream(r: Any) -> Stream:
    return Stream(
        id=r[0],
        tags=tuple(loads(r[1])),
        unit=r[2],
        unit_symbol=r[3],
        create_time=r[4],
    )

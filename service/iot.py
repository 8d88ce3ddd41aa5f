"""IoT devices, datastreams and their points (China Mobile OneNET), over the storage
contracts. A datastream's points are the series ``<stream id>{device_id=<device>}`` of
the common data-point table, so the KairosDB query API reads them too.

The dialect module parses requests; nothing here knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from service import errors
from service.ingest import Ingestor
from service.projects import Directory, Project, digest, key_matches
from service.records import (
    LONG_MAX,
    LONG_MIN,
    Device,
    Point,
    PointBatch,
    SeriesKey,
    Stream,
)
from service.storage.base import Backend, Order, PointStore

DEVICE_TAG = "device_id"
# How long a process trusts what it read of a device (a deleted device's key stops
# working within this) and which streams exist (a deleted stream's metadata comes back
# within this when its device uploads again).
DEVICE_CACHE_SECONDS = 10.0
STREAM_CACHE_SECONDS = 60.0
# Keys are about 70 characters; anything much longer is no key.
MAX_KEY_CHARS = 300


def series(device_id: str, stream_id: str) -> SeriesKey:
    return SeriesKey(stream_id, ((DEVICE_TAG, device_id),))


@dataclass(frozen=True)
class Access:
    """Who a request is: the project's key (every device) or one device's key."""

    project: Project
    device_id: str | None = None

    def reach(self, device_id: str) -> None:
        if self.device_id is not None and self.device_id != device_id:
            raise errors.Forbidden("auth failed: this key reaches another device")

    def need_project_key(self) -> None:
        if self.device_id is not None:
            raise errors.Forbidden("auth failed: this needs the project's key")


class Iot:
    def __init__(
        self, backend: Backend, ingestor: Ingestor, directory: Directory
    ) -> None:
        self.backend = backend
        self.store = backend.devices
        self.ingestor = ingestor
        self.directory = directory
        self._devices: dict[tuple[str, str], tuple[float, Device | None]] = {}
        self._streams: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def points(self) -> PointStore:
        # not taken at construction: on Cassandra it needs the schema's row width,
        # read on first use (after gunicorn has forked)
        return self.backend.points

    # -- keys ---------------------------------------------------------------------------

    def authenticate(self, key: str | None) -> Access:
        """``<project>.<secret>`` is a project key, ``<project>.<device>.<secret>`` a
        device key; both are checked against stored hashes in constant time."""
        parts = (key or "").split(".")
        if len(key or "") > MAX_KEY_CHARS:
            # (no key is this long; its parts would go to store keys unchecked)
            raise errors.Unauthorized("auth failed")
        if len(parts) == 2:
            return Access(self.directory.by_key(key))
        if len(parts) == 3 and all(parts):
            project = self.directory.get(parts[0])
            device = self.device_cached(parts[0], parts[1]) if project else None
            expected = device.key_hash if device else b"\0" * 32
            if key_matches(key or "", expected) and project and device:
                return Access(project, device.id)
        raise errors.Unauthorized("auth failed")

    def device_key(self, project: Project, device: Device) -> str:
        derived = self.directory.keys.derive(
            project.id, device.key_nonce, purpose=f"device-key:{device.id}"
        )
        return f"{project.id}.{device.id}.{derived.split('.', 1)[1]}"

    # -- devices ------------------------------------------------------------------------

    def device_cached(self, project_id: str, device_id: str) -> Device | None:
        now = time.monotonic()
        hit = self._devices.get((project_id, device_id))
        if hit is not None and now - hit[0] < DEVICE_CACHE_SECONDS:
            return hit[1]
        device = self.store.get_device(project_id, device_id)
        with self._lock:
            if len(self._devices) > 100_000:
                self._devices.clear()
            self._devices[(project_id, device_id)] = (now, device)
        return device

    def device(self, access: Access, device_id: str) -> Device:
        access.reach(device_id)
        device = self.store.get_device(access.project.id, device_id)
        if device is None:
            raise errors.NotFound(f"device not found: {device_id}")
        return device

    def create_device(
        self, access: Access, fields: dict[str, Any]
    ) -> tuple[Device, str]:
        access.need_project_key()
        for _ in range(5):
            device = Device(
                id=str(secrets.randbelow(9 * 10**9) + 10**9),
                created_at=int(time.time() * 1000),
                key_nonce=secrets.token_bytes(16),
                **fields,
            )
            key = self.device_key(access.project, device)
            device = replace(device, key_hash=digest(key))
            try:
                self.store.create_device(access.project.id, device)
            except errors.Conflict:
                continue  # an id already taken: draw another
            return device, key
        raise errors.Conflict("could not allocate a device id")

    def update_device(
        self, access: Access, device_id: str, fields: dict[str, Any]
    ) -> Device:
        device = replace(self.device(access, device_id), **fields)
        self.store.update_device(access.project.id, device)
        self._forget(access.project.id, device_id)
        return device

    def delete_device(self, access: Access, device_id: str) -> None:
        self.device(access, device_id)
        streams = self.store.list_streams(access.project.id, device_id)
        self.points.delete_points(
            access.project.id,
            [series(device_id, s.id) for s in streams],
            LONG_MIN,
            LONG_MAX,
        )
        self.store.delete_device(access.project.id, device_id)
        self._forget(access.project.id, device_id)

    def list_devices(
        self,
        access: Access,
        *,
        page: int,
        per_page: int,
        tag: str | None,
        title: str | None,
    ) -> tuple[int, list[Device]]:
        found = [
            d
            for d in self.store.list_devices(access.project.id)
            if (access.device_id is None or d.id == access.device_id)
            and (tag is None or tag in d.tags)
            and (title is None or title.lower() in d.title.lower())
        ]
        start = (page - 1) * per_page
        return len(found), found[start : start + per_page]

    def _forget(self, project_id: str, device_id: str) -> None:
        with self._lock:
            self._devices.pop((project_id, device_id), None)
            self._streams.pop((project_id, device_id), None)

    # -- datastreams --------------------------------------------------------------------

    def create_stream(self, access: Access, device_id: str, stream: Stream) -> Stream:
        self.device(access, device_id)
        if self.store.get_stream(access.project.id, device_id, stream.id) is not None:
            raise errors.Conflict(f"datastream already exists: {stream.id}")
        stream = replace(stream, create_time=int(time.time() * 1000))
        self.store.put_stream(access.project.id, device_id, stream)
        return stream

    def update_stream(
        self, access: Access, device_id: str, stream_id: str, changes: dict[str, Any]
    ) -> Stream:
        """``changes`` of tags, unit and unit_symbol; the rest is kept."""
        stream = replace(self.stream(access, device_id, stream_id), **changes)
        self.store.put_stream(access.project.id, device_id, stream)
        return stream

    def stream(self, access: Access, device_id: str, stream_id: str) -> Stream:
        self.device(access, device_id)
        found = self.store.get_stream(access.project.id, device_id, stream_id)
        if found is None:
            raise errors.NotFound(f"datastream not found: {stream_id}")
        return found

    def delete_stream(self, access: Access, device_id: str, stream_id: str) -> None:
        self.stream(access, device_id, stream_id)
        self.points.delete_points(
            access.project.id, [series(device_id, stream_id)], LONG_MIN, LONG_MAX
        )
        self.store.delete_stream(access.project.id, device_id, stream_id)
        with self._lock:
            self._streams.pop((access.project.id, device_id), None)

    def current(
        self, access: Access, device_id: str, ids: Sequence[str] | None = None
    ) -> tuple[Device, list[tuple[Stream, Point | None]]]:
        """The device and its streams (those of ``ids``, if given), each with its
        latest point: one check of the key and the device for all of them."""
        device = self.device(access, device_id)
        found = self.store.list_streams(access.project.id, device_id)
        project = access.project.id
        return device, [
            (s, self._latest(project, device_id, s.id))
            for s in found
            if ids is None or s.id in ids
        ]

    def _latest(self, project: str, device_id: str, stream_id: str) -> Point | None:
        """The stream's latest point (read from the points, so exact after deletes).
        Unchecked: callers have checked the key reaches the device."""
        found = self.points.read_points(
            project,
            series(device_id, stream_id),
            LONG_MIN,
            LONG_MAX,
            order="desc",
            limit=1,
        )
        return next(iter(found), None)

    # -- points -------------------------------------------------------------------------

    def upload(
        self, access: Access, device_id: str, items: Sequence[tuple[str, int, str, Any]]
    ) -> None:
        """(stream, ts, type, value) items; unknown streams are created."""
        access.reach(device_id)
        if self.device_cached(access.project.id, device_id) is None:
            raise errors.NotFound(f"device not found: {device_id}")
        by_stream: dict[str, list[Point]] = {}
        for stream_id, ts, type_name, value in items:
            by_stream.setdefault(stream_id, []).append((ts, type_name, value))
        batches = [
            PointBatch(series(device_id, s), pts) for s, pts in by_stream.items()
        ]
        self.ingestor.write_points(access.project.id, batches)
        # Streams this process saw recently need no check (a deleted one comes back
        # within the cache time, when its device uploads again).
        now = time.monotonic()
        key = (access.project.id, device_id)
        seen_at, known = self._streams.get(key, (0.0, frozenset()))
        fresh = now - seen_at < STREAM_CACHE_SECONDS
        if not fresh or not known.issuperset(by_stream):
            self.store.ensure_streams(
                access.project.id, device_id, list(by_stream), int(time.time() * 1000)
            )
            with self._lock:
                if len(self._streams) > 100_000:
                    self._streams.clear()
                base = known if fresh else frozenset()
                self._streams[key] = (seen_at if fresh else now, base | set(by_stream))

    def read(
        self,
        access: Access,
        device_id: str,
        stream_ids: Sequence[str] | None,
        *,
        start: int,
        end: int,
        desc: bool,
        limit: int,
        after: tuple[int, int | None] | None,
    ) -> tuple[list[tuple[str, list[Point]]], tuple[int, int | None] | None]:
        """Points of the streams, stream after stream, at most ``limit`` in all,
        resuming at ``after`` = (stream index, last timestamp returned, or None for
        the stream's start). Returns the position to resume from when more remain.
        No ``stream_ids``: every stream of the device."""
        self.device(access, device_id)
        project = access.project.id
        if stream_ids is None:
            stream_ids = [s.id for s in self.store.list_streams(project, device_id)]
        order: Order = "desc" if desc else "asc"

        def window(index: int) -> tuple[int, int]:
            if after is None or index != after[0] or after[1] is None:
                return start, end
            return (start, after[1] - 1) if desc else (after[1] + 1, end)

        def read(index: int, count: int) -> list[Point]:
            lo, hi = window(index)
            if lo > hi:
                return []
            key = series(device_id, stream_ids[index])
            return list(
                self.points.read_points(project, key, lo, hi, order=order, limit=count)
            )

        out: list[tuple[str, list[Point]]] = []
        left = limit
        index = after[0] if after else 0
        while index < len(stream_ids):
            if left == 0:
                # full: a cursor only if a later stream has points in the window
                for rest in range(index, len(stream_ids)):
                    if read(rest, 1):
                        return out, (rest, None)
                return out, None
            points = read(index, left + 1)
            if len(points) > left:
                out.append((stream_ids[index], points[:left]))
                return out, (index, points[left - 1][0])
            if points:
                out.append((stream_ids[index], points))
            left -= len(points)
            index += 1
            after = None
        return out, None

    def delete_points(
        self,
        access: Access,
        device_id: str,
        stream_ids: Sequence[str] | None,
        start: int,
        end: int,
    ) -> None:
        self.device(access, device_id)
        streams = (
            [s.id for s in self.store.list_streams(access.project.id, device_id)]
            if stream_ids is None
            else stream_ids
        )
        self.points.delete_points(
            access.project.id, [series(device_id, s) for s in streams], start, end
        )


def utc_ms(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
        milliseconds=1
    )

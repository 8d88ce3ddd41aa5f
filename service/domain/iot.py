"""IoT devices, datastreams and their points (China Mobile OneNET). A datastream's
points are the series ``<stream id>{device_id=<device>}`` of the common data points
(written and read through the point service), so the KairosDB query API reads them
too.

The dialect parses requests and renders answers; nothing here knows about HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from service import errors, times
from service.cache import TtlCache
from service.domain.points import Cursor, PointService, grouped_points
from service.domain.projects import Directory, digest, key_matches
from service.records import (
    LONG_MAX,
    LONG_MIN,
    Device,
    Point,
    PointBatch,
    Project,
    SeriesKey,
    Stream,
)
from service.storage.base import DeviceStore

DEVICE_TAG = "device_id"
# How long a process trusts what it read of a device (a deleted device's key stops
# working within this) and that a stream exists (a deleted stream's metadata comes
# back within this when its device uploads again).
DEVICE_CACHE_SECONDS = 10.0
STREAM_CACHE_SECONDS = 60.0
CACHE_ENTRIES = 100_000
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
        self, store: DeviceStore, points: PointService, directory: Directory
    ) -> None:
        self.store = store
        self.points = points
        self.directory = directory
        self._devices: TtlCache[tuple[str, str], Device | None] = TtlCache(
            seconds=DEVICE_CACHE_SECONDS, max_entries=CACHE_ENTRIES
        )
        # (project, device, stream) -> True: streams known to exist
        self._streams: TtlCache[tuple[str, str, str], bool] = TtlCache(
            seconds=STREAM_CACHE_SECONDS, max_entries=CACHE_ENTRIES
        )

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
        return self._devices.get(
            (project_id, device_id),
            lambda: self.store.get_device(project_id, device_id),
        )

    def device(self, access: Access, device_id: str) -> Device:
        access.reach(device_id)
        device = self.store.get_device(access.project.id, device_id)
        if device is None:
            raise errors.NotFound(f"device not found: {device_id}")
        return device

    def device_with_streams(
        self, access: Access, device_id: str
    ) -> tuple[Device, list[Stream]]:
        device = self.device(access, device_id)
        return device, self.store.list_streams(access.project.id, device_id)

    def create_device(
        self, access: Access, fields: dict[str, Any]
    ) -> tuple[Device, str]:
        access.need_project_key()
        for _ in range(5):
            device = Device(
                id=str(secrets.randbelow(9 * 10**9) + 10**9),
                created_at=times.now_ms(),
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
        self._devices.forget((access.project.id, device_id))
        return device

    def delete_device(self, access: Access, device_id: str) -> None:
        project = access.project.id
        self.device(access, device_id)
        streams = [s.id for s in self.store.list_streams(project, device_id)]
        self.points.delete_series(
            project, [series(device_id, s) for s in streams], LONG_MIN, LONG_MAX
        )
        self.store.delete_device(project, device_id)
        self._devices.forget((project, device_id))
        for stream_id in streams:
            self._streams.forget((project, device_id, stream_id))

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

    # -- datastreams --------------------------------------------------------------------

    def create_stream(self, access: Access, device_id: str, stream: Stream) -> Stream:
        self.device(access, device_id)
        if self.store.get_stream(access.project.id, device_id, stream.id) is not None:
            raise errors.Conflict(f"datastream already exists: {stream.id}")
        stream = replace(stream, create_time=times.now_ms())
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
        self.points.delete_series(
            access.project.id, [series(device_id, stream_id)], LONG_MIN, LONG_MAX
        )
        self.store.delete_stream(access.project.id, device_id, stream_id)
        self._streams.forget((access.project.id, device_id, stream_id))

    def current(
        self, access: Access, device_id: str, ids: Sequence[str] | None = None
    ) -> tuple[Device, list[tuple[Stream, Point | None]]]:
        """The device and its streams (those of ``ids``, if given), each with its
        latest point: one check of the key and the device for all of them."""
        device, found = self.device_with_streams(access, device_id)
        project = access.project.id
        return device, [
            (s, self._latest(project, device_id, s.id))
            for s in found
            if ids is None or s.id in ids
        ]

    def _latest(self, project: str, device_id: str, stream_id: str) -> Point | None:
        """The stream's latest point (read from the points, so exact after deletes).
        Unchecked: callers have checked the key reaches the device."""
        found = self.points.read(
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
        project = access.project.id
        access.reach(device_id)
        if self.device_cached(project, device_id) is None:
            raise errors.NotFound(f"device not found: {device_id}")
        if not items:
            return
        by_stream = grouped_points(*zip(*items, strict=True))
        batches = [
            PointBatch(series(device_id, s), pts) for s, pts in by_stream.items()
        ]
        self.points.write(project, batches)
        # Streams this process saw recently need no check (a deleted one comes back
        # within the cache time, when its device uploads again).
        known = self._streams
        if not all(known.fresh((project, device_id, s)) for s in by_stream):
            self.store.ensure_streams(
                project, device_id, list(by_stream), times.now_ms()
            )
            for stream_id in by_stream:
                known.put((project, device_id, stream_id), True)

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
        after: Cursor | None,
    ) -> tuple[list[tuple[str, list[Point]]], Cursor | None]:
        """Points of the streams, stream after stream, at most ``limit`` in all,
        resuming at ``after``. Returns the position to resume from when more
        remain. No ``stream_ids``: every stream of the device."""
        self.device(access, device_id)
        if stream_ids is None:
            streams = self.store.list_streams(access.project.id, device_id)
            stream_ids = [s.id for s in streams]
        found, more = self.points.read_in_turn(
            access.project.id,
            [series(device_id, s) for s in stream_ids],
            start=start,
            end=end,
            order="desc" if desc else "asc",
            limit=limit,
            after=after,
        )
        return [(key.metric, points) for key, points in found], more

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
        self.points.delete_series(
            access.project.id, [series(device_id, s) for s in streams], start, end
        )

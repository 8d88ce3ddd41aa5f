"""The storage contract every driver implements.

Dialects never touch a store directly: they build records (``service.records``) and
call the services (``service.domain``), which call these methods. Both drivers pass the same contract
suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from service.records import (
    Attachment,
    Device,
    Event,
    FormDevice,
    FormSession,
    Point,
    PointBatch,
    Points,
    Profile,
    Project,
    SeriesKey,
    StoredEvent,
    Stream,
    TagFilter,
)

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class SchemaState:
    """What ``datapoints schema status`` reports."""

    store: str
    applied: tuple[int, ...]
    latest: int
    settings: dict[str, str]

    @property
    def current(self) -> bool:
        return bool(self.applied) and max(self.applied) >= self.latest

    @property
    def pending(self) -> tuple[int, ...]:
        return tuple(v for v in range(1, self.latest + 1) if v not in self.applied)


class ProjectStore(Protocol):
    """Projects (tenants) by id."""

    def create_project(self, project: Project) -> None:
        """Store a new project; raise errors.Conflict if the id exists."""

    def get_project(self, project_id: str) -> Project | None: ...

    def list_projects(self) -> list[Project]: ...

    def update_project(self, project: Project) -> None: ...


class PointStore(Protocol):
    """Series of data points, keyed by project, metric, tag hash and row time."""

    def write_points(
        self, project: str, batches: Sequence[PointBatch], *, default_ttl: int
    ) -> None:
        """Store every point, or raise; returning means the store acknowledged all.

        A batch's ``ttl`` of 0 means ``default_ttl``; a ``default_ttl`` of 0 means
        keep forever. The same series and timestamp overwrite.
        """

    def read_points(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
    ) -> Iterator[Point]:
        """The series' live points with ``start <= ts <= end`` in timestamp order,
        decoded, streamed partition by partition (memory stays bounded)."""

    def read_chunks(
        self,
        project: str,
        series: SeriesKey,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        limit: int | None = None,
        fetch_size: int = 5000,
    ) -> Iterator[Points]:
        """The same points as ``read_points``, as columns: chunks of at most about
        ``fetch_size`` points, each in the order asked, every chunk after the one
        before it in that order."""

    def find_series(
        self, project: str, metric: str, tags: TagFilter, start: int, end: int
    ) -> list[SeriesKey]:
        """Series of ``metric`` matching ``tags`` that may hold points in the range,
        found through the indexes without reading data. May include series whose
        points in the range were deleted or expired; never misses one that has."""

    def series_with_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> list[SeriesKey]:
        """Those of ``series`` holding at least one live point in the range."""

    def delete_points(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> None:
        """Delete exactly the points with ``start <= ts <= end`` of these series."""

    def delete_metric(self, project: str, metric: str) -> None:
        """Delete a metric: its points, series and index entries."""

    def metric_names(self, project: str, prefix: str | None = None) -> list[str]:
        """Names of the project's metrics, sorted."""

    def tag_names(self, project: str, metric: str | None = None) -> list[str]:
        """Tag names of one metric, or of every metric of the project; sorted."""

    def tag_values(
        self, project: str, metric: str | None = None, tag: str | None = None
    ) -> list[str]:
        """Values of one tag (or of all tags), of one metric or all; sorted."""


class EventStore(Protocol):
    """Analytics events per project and user, and the aliases between users."""

    def write_events(self, project: str, events: Sequence[Event]) -> None:
        """Store every event, or raise; an event already stored is rewritten."""

    def events(
        self,
        project: str,
        user_id: str,
        device_id: str,
        start: int,
        end: int,
        *,
        order: Order = "asc",
        full: bool = True,
    ) -> Iterator[StoredEvent]:
        """Events of one user id on one device with ``start <= ts <= end``, in time
        order; ``full=False`` reads only their timestamps (for sessions)."""

    def user_profile(self, project: str, user_id: str) -> Profile | None:
        """The user id's latest attributes, first and last seen (by event time)."""

    def device_profile(self, project: str, device_id: str) -> Profile | None:
        """The device's latest attributes, first and last seen (by event time)."""

    def user_devices(self, project: str, user_id: str) -> list[str]:
        """Devices that user id has events on, sorted."""

    def device_users(self, project: str, device_id: str) -> list[str]:
        """User ids that have events on the device, sorted."""

    def alias_of(self, project: str, user_id: str) -> str | None:
        """The user an id was aliased into, if any."""

    def add_alias(self, project: str, alias_id: str, user_id: str) -> None:
        """Record ``alias_id`` as belonging to ``user_id`` (and to no one else)."""

    def alias_members(self, project: str, user_id: str) -> list[str]:
        """Ids aliased into ``user_id``, sorted."""


class FormStore(Protocol):
    """Form sessions (Mobile Data Anywhere) and their attachments."""

    def get_form_session(self, project: str, uuid: str) -> FormSession | None: ...

    def save_form_session(
        self,
        project: str,
        session: FormSession,
        uploads: dict[str, tuple[Attachment, bytes]],
        previous: FormSession | None,
    ) -> None:
        """Store the session and the bytes of its new attachments; then delete the
        bytes of every attachment of ``previous`` the session no longer names."""

    def list_form_sessions(
        self,
        project: str,
        *,
        unit_id: str | None,
        saved_from: int,
        saved_to: int,
        include_deleted: bool,
        limit: int,
        after: tuple[int, str] | None,
    ) -> list[FormSession]:
        """Sessions by (saved, uuid), starting after ``after``."""

    def attachment_chunks(
        self, project: str, uuid: str, point: str, attachment_id: str
    ) -> Iterator[bytes]: ...

    def form_devices(self, project: str) -> list[FormDevice]: ...

    def form_device(self, project: str, unit_id: str) -> FormDevice | None: ...


class DeviceStore(Protocol):
    """IoT devices and their datastreams' metadata (the points are in PointStore)."""

    def create_device(self, project: str, device: Device) -> None:
        """Raise errors.Conflict if the id exists."""

    def get_device(self, project: str, device_id: str) -> Device | None: ...

    def list_devices(self, project: str) -> list[Device]:
        """All devices of the project, by id."""

    def update_device(self, project: str, device: Device) -> None: ...

    def delete_device(self, project: str, device_id: str) -> None:
        """The device and its streams' metadata (not their points)."""

    def ensure_streams(
        self, project: str, device_id: str, stream_ids: Sequence[str], now_ms: int
    ) -> None:
        """Create streams that do not exist yet, touching nothing of those that do."""

    def put_stream(self, project: str, device_id: str, stream: Stream) -> None: ...

    def get_stream(
        self, project: str, device_id: str, stream_id: str
    ) -> Stream | None: ...

    def list_streams(self, project: str, device_id: str) -> list[Stream]: ...

    def delete_stream(self, project: str, device_id: str, stream_id: str) -> None: ...


class Backend(Protocol):
    """A connected store: its contracts plus lifecycle and schema commands."""

    name: str
    # Whether its waits on the database switch back to the serving loop in a
    # request's greenlet (``service.cooperative``) instead of blocking the thread:
    # then the loop worker runs small requests on the loop itself.
    cooperative: bool

    @property
    def points(self) -> PointStore: ...

    @property
    def projects(self) -> ProjectStore: ...

    @property
    def events(self) -> EventStore: ...

    @property
    def forms(self) -> FormStore: ...

    @property
    def devices(self) -> DeviceStore: ...

    def schema_state(self) -> SchemaState: ...

    def apply_schema(self) -> SchemaState: ...

    def compaction_status(self) -> dict[str, Any]:
        """What ``datapoints compact status`` reports (the queue, the leases)."""

    def compact(self, *, all_now: bool) -> dict[str, Any]:
        """Merge the small blocks of due windows (of every queued window with
        ``all_now``) and say what was done."""

    def check(self) -> None:
        """Raise ``errors.Unavailable`` unless the store answers a read of the
        service's own tables, ``errors.SchemaMissing`` unless its schema is current."""

    def close(self) -> None: ...

"""The one ingest API every dialect calls once it has parsed its payload."""

from __future__ import annotations

from collections.abc import Sequence

from service.config import Config
from service.forms import FormSessions
from service.records import Event, PointBatch, SeriesKey
from service.storage.base import Backend


class Ingestor:
    def __init__(self, config: Config, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.forms = FormSessions(
            backend.forms, max_attachment_bytes=config.max_attachment_bytes
        )

    def write_points(self, project: str, batches: Sequence[PointBatch]) -> None:
        """Store the points of one request; returning means all are acknowledged."""
        self.backend.points.write_points(
            project, last_write_wins(batches), default_ttl=self.config.default_ttl
        )

    def write_events(self, project: str, events: Sequence[Event]) -> None:
        """Store analytics events; returning means all are acknowledged."""
        self.backend.events.write_events(project, events)


def last_write_wins(batches: Sequence[PointBatch]) -> list[PointBatch]:
    """Drop points that a later point of the same series and timestamp replaces.

    Both stores overwrite a timestamp, but Cassandra gives every row of one batch the
    same write time and then keeps the larger value, not the later one; so a request
    that repeats a timestamp must be reduced to its last occurrence first.
    """
    seen: dict[SeriesKey, set[int]] = {}
    out: list[PointBatch] = []
    for batch in reversed(batches):
        taken = seen.setdefault(batch.series, set())
        stamps = [p[0] for p in batch.points]
        if taken.isdisjoint(stamps) and len(set(stamps)) == len(stamps):
            taken.update(stamps)
            out.append(batch)  # the common case: nothing repeated
            continue
        kept = []
        for point in reversed(batch.points):
            if point[0] not in taken:
                taken.add(point[0])
                kept.append(point)
        kept.reverse()
        out.append(PointBatch(batch.series, kept, batch.ttl))
    out.reverse()
    return out

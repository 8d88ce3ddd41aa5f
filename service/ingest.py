"""The one ingest API every dialect calls once it has parsed its payload."""

from __future__ import annotations

from collections.abc import Sequence

from service.config import Config
from service.records import PointBatch, SeriesKey
from service.storage.base import Backend


class Ingestor:
    def __init__(self, config: Config, backend: Backend) -> None:
        self.config = config
        self.backend = backend

    def write_points(self, project: str, batches: Sequence[PointBatch]) -> None:
        """Store the points of one request; returning means all are acknowledged."""
        self.backend.points.write_points(
            project, last_write_wins(batches), default_ttl=self.config.default_ttl
        )


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
        before = len(taken)
        timestamps = [p[0] for p in batch.points]
        taken.update(timestamps)
        if len(taken) - before == len(timestamps):
            out.append(batch)  # the common case: nothing repeated
            continue
        kept: dict[int, tuple[int, str, object]] = {}
        later = taken.difference(timestamps) if before else set()
        for point in batch.points:
            if point[0] not in later:
                kept[point[0]] = point
        out.append(PointBatch(batch.series, list(kept.values()), batch.ttl))
    out.reverse()
    return out

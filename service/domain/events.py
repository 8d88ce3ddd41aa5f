"""Analytics events (Liquid): writes, aliases between user ids, and the reports of
the analyze API (``service.domain.analytics``)."""

from __future__ import annotations

from collections.abc import Sequence

from service import errors
from service.domain.analytics import Analytics
from service.records import Event, Project
from service.storage.base import EventStore


class EventService:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def write(self, project: str, events: Sequence[Event]) -> None:
        """Store analytics events; returning means all are acknowledged."""
        self.store.write_events(project, events)

    def alias(self, project: Project, user_id: str, alias_id: str) -> str:
        """Make ``alias_id`` one more id of the user ``user_id`` stands for, and
        return that user's id; errors.Conflict if the alias belongs to that user
        already, or to another."""
        analytics = self.analytics(project)
        target = analytics.canonical(user_id)
        if analytics.canonical(alias_id) == target:
            raise errors.Conflict("unique_id_alias is already an alias of unique_id")
        self.store.add_alias(project.id, alias_id, target)
        return target

    def analytics(self, project: Project) -> Analytics:
        """The reports on one project's users, sessions and devices (one per
        request: it remembers what it read)."""
        return Analytics(self.store, project)

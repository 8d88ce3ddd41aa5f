"""The service layer: every service, built once per process from the configuration
and the store (``build_services``).

The dialects (``service.dialects``) call these and nothing else: no dialect touches a
store. So a rule that must hold for every write, whichever wire format it came in
(limits, TTLs, the last-write-wins reduction), has one place to go.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.config import Config
from service.domain.events import EventService
from service.domain.forms import FormSessions
from service.domain.iot import Iot
from service.domain.points import PointService
from service.domain.projects import Directory, Keys
from service.storage.base import Backend


@dataclass(frozen=True)
class Services:
    """What the dialects' resources receive."""

    config: Config
    projects: Directory
    points: PointService
    events: EventService
    forms: FormSessions
    iot: Iot


def build_services(config: Config, backend: Backend) -> Services:
    projects = Directory(backend.projects, Keys(config.secret()))
    points = PointService(
        backend.points,
        health=backend.check,
        default_ttl=config.default_ttl,
        max_query_points=config.max_query_points,
    )
    return Services(
        config=config,
        projects=projects,
        points=points,
        events=EventService(backend.events),
        forms=FormSessions(
            backend.forms, max_attachment_bytes=config.max_attachment_bytes
        ),
        iot=Iot(backend.devices, points, projects),
    )

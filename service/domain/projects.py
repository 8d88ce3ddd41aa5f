"""Projects (tenants) and their API keys.

A key is ``<project id>.<43 characters>``. Its secret part is derived from the server's
secret and a 128-bit random nonce stored with the project; only the key's SHA-256 is
stored. So a copy of the store reveals no key, a key is checked by hashing it and
comparing in constant time, and the server can still re-derive a key for schemes that
sign requests with it (Mobile Data Anywhere's HMAC).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service import errors
from service.cache import TtlCache
from service.records import DEFAULT_SESSION_GAP, Project
from service.storage.base import ProjectStore

MODES = ("development", "production")
# Projects are cached per process for this long: a rotated key or changed setting
# takes effect everywhere within it.
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000


def check_settings(*, mode: str, session_gap: int, timezone: str) -> None:
    if mode not in MODES:
        raise errors.InvalidInput(f"mode must be one of {', '.join(MODES)}")
    if not 1 <= session_gap <= 7 * 86_400:
        raise errors.InvalidInput("session gap must be between 1 second and 7 days")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.InvalidInput(f"unknown time zone {timezone!r}") from None


class Keys:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def derive(self, project_id: str, nonce: bytes, *, purpose: str = "api-key") -> str:
        mac = hmac.new(
            self.secret, f"{purpose}:{project_id}:".encode() + nonce, hashlib.sha256
        )
        return f"{project_id}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"

    def issue(self, project_id: str) -> tuple[str, bytes, bytes]:
        """A new key for the project: (key, nonce, hash)."""
        nonce = secrets.token_bytes(16)
        key = self.derive(project_id, nonce)
        return key, nonce, digest(key)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_matches(key: str, key_hash: bytes) -> bool:
    return hmac.compare_digest(digest(key), key_hash)


def owner_of(key: str) -> str | None:
    """The project id a key names, or None for a malformed key."""
    project_id, dot, secret = key.partition(".")
    if not dot or not project_id or not secret or len(key) > 200:
        return None
    return project_id


class Directory:
    """Projects by id and by key, cached briefly in each process."""

    def __init__(self, store: ProjectStore, keys: Keys) -> None:
        self.store = store
        self.keys = keys
        self._cache: TtlCache[str, Project | None] = TtlCache(
            seconds=CACHE_SECONDS, max_entries=CACHE_ENTRIES
        )

    def get(self, project_id: str) -> Project | None:
        return self._cache.get(project_id, lambda: self.store.get_project(project_id))

    def by_key(self, key: str | None) -> Project:
        """The project a key belongs to, or errors.Unauthorized."""
        project_id = owner_of(key or "")
        project = self.get(project_id) if project_id else None
        # Hash and compare even when there is no such project, so the answer takes
        # the same time whether the id or the secret part was wrong.
        expected = project.key_hash if project else b"\0" * 32
        if not key_matches(key or "", expected) or project is None:
            raise errors.Unauthorized("Invalid API key.")
        return project

    def key_of(self, project: Project) -> str:
        """The project's current key, re-derived (for request signatures)."""
        return self.keys.derive(project.id, project.key_nonce)

    # -- administration (the ``datapoints projects`` command) -----------------------

    def create(
        self,
        name: str,
        *,
        mode: str = "development",
        session_gap: int = DEFAULT_SESSION_GAP,
        timezone: str = "UTC",
    ) -> tuple[Project, str]:
        check_settings(mode=mode, session_gap=session_gap, timezone=timezone)
        if not name.strip():
            raise errors.InvalidInput("a project needs a name")
        project_id = secrets.token_hex(6)
        key, nonce, key_hash = self.keys.issue(project_id)
        project = Project(
            id=project_id,
            name=name,
            mode=mode,
            session_gap=session_gap,
            timezone=timezone,
            key_hash=key_hash,
            key_nonce=nonce,
            created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
        self.store.create_project(project)
        return project, key

    def stored(self, project_id: str) -> Project:
        """The project as stored now (not cached), or errors.NotFound."""
        project = self.store.get_project(project_id)
        if project is None:
            raise errors.NotFound(f"no project {project_id!r}")
        return project

    def all_projects(self) -> list[Project]:
        return self.store.list_projects()

    def change(self, project: Project) -> Project:
        """Store ``project``'s new name and settings, once checked."""
        check_settings(
            mode=project.mode,
            session_gap=project.session_gap,
            timezone=project.timezone,
        )
        self.store.update_project(project)
        self._cache.forget(project.id)
        return project

    def rotate_key(self, project: Project) -> tuple[Project, str]:
        key, nonce, key_hash = self.keys.issue(project.id)
        updated = replace(project, key_hash=key_hash, key_nonce=nonce)
        self.store.update_project(updated)
        self._cache.forget(project.id)
        return updated, key

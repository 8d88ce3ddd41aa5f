"""API keys: derived, hashed, checked in constant time, scoped to their project."""

from __future__ import annotations

import pytest

from service import errors
from service.domain.projects import Directory, Keys, digest, key_matches, owner_of
from service.records import Project


class Memory:
    def __init__(self) -> None:
        self.rows: dict[str, Project] = {}

    def create_project(self, project: Project) -> None:
        self.rows[project.id] = project

    def get_project(self, project_id: str) -> Project | None:
        return self.rows.get(project_id)

    def list_projects(self) -> list[Project]:
        return list(self.rows.values())

    def update_project(self, project: Project) -> None:
        self.rows[project.id] = project


def directory() -> Directory:
    return Directory(Memory(), Keys(b"k" * 32))


def test_a_key_names_its_project_and_carries_at_least_128_bits() -> None:
    d = directory()
    project, key = d.create("app")
    assert owner_of(key) == project.id
    secret = key.split(".", 1)[1]
    assert len(secret) >= 43  # 256-bit HMAC, base64url
    assert d.by_key(key) == project


def test_only_the_hash_is_stored_and_the_key_is_re_derivable() -> None:
    d = directory()
    project, key = d.create("app")
    stored = d.store.get_project(project.id)
    assert stored is not None and key.encode() not in repr(stored).encode()
    assert stored.key_hash == digest(key)
    assert d.key_of(stored) == key  # for request signatures (MDA's HMAC)
    assert Directory(d.store, Keys(b"x" * 32)).key_of(stored) != key  # needs the secret


@pytest.mark.parametrize("bad", [None, "", "nodot", ".x", "abc.", "abc.def", "x" * 300])
def test_bad_keys_are_unauthorized(bad: str | None) -> None:
    d = directory()
    d.create("app")
    with pytest.raises(errors.Unauthorized):
        d.by_key(bad)


def test_another_projects_secret_does_not_open_this_one() -> None:
    d = directory()
    one, _ = d.create("one")
    two, key_two = d.create("two")
    forged = f"{one.id}.{key_two.split('.', 1)[1]}"
    with pytest.raises(errors.Unauthorized):
        d.by_key(forged)
    assert d.by_key(key_two) == two


def test_rotation_retires_the_old_key() -> None:
    d = directory()
    project, old = d.create("app")
    updated, new = d.rotate_key(project)
    assert new != old and d.by_key(new) == updated
    with pytest.raises(errors.Unauthorized):
        d.by_key(old)


def test_constant_time_comparison_is_used() -> None:
    assert key_matches("a.b", digest("a.b"))
    assert not key_matches("a.c", digest("a.b"))


@pytest.mark.parametrize(
    ("mode", "gap", "tz"),
    [
        ("staging", 300, "UTC"),
        ("production", 0, "UTC"),
        ("production", 300, "Mars/Base"),
    ],
)
def test_bad_settings(mode: str, gap: int, tz: str) -> None:
    with pytest.raises(errors.InvalidInput):
        directory().create("app", mode=mode, session_gap=gap, timezone=tz)

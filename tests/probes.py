"""Looking under a store, for tests that check what is left in its tables."""

from __future__ import annotations

from service.storage import Backend


def attachment_rows(backend: Backend, project: str, uuid: str) -> int:
    """Stored attachment chunks of one form session, on either store."""
    from service.storage.cassandra import CassandraBackend
    from service.storage.cassandra.session import Role
    from service.storage.sqlite import SqliteBackend

    if isinstance(backend, SqliteBackend):
        row = backend.database.conn.execute(
            "SELECT count(*) FROM form_attachments WHERE project = ? AND uuid = ?",
            (project, uuid),
        ).fetchone()
        return int(row[0])
    assert isinstance(backend, CassandraBackend)
    rows = backend.session.execute(
        "SELECT count(*) FROM {ks}.form_attachments WHERE project = ? AND uuid = ?",
        (project, uuid),
        role=Role.READ,
    )
    return int(rows.one()[0])

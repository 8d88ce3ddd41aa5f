"""Deleting points and metrics on Cassandra, exactly.

KairosDB deletes whole three-week rows when a range touches them and has deleted other
series' rows by mistake (issue #446). Here a row wholly inside the range gets one
partition tombstone, a row the range only overlaps gets a range tombstone on ``ts``, and
nothing outside the range is touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from service.records import SeriesKey
from service.storage.cassandra.reads import metric_names, rows_per_metric, tag_names
from service.storage.cassandra.session import Params, Role, Statement

if TYPE_CHECKING:
    from service.storage.cassandra.points import CassandraPointStore


def delete_points(
    store: CassandraPointStore,
    project: str,
    series: Sequence[SeriesKey],
    start: int,
    end: int,
) -> None:
    ks, session = store.ks, store.session
    whole = session.prepare(
        f"DELETE FROM {ks}.data_points WHERE project = ? AND metric = ? "
        "AND tag_hash = ? AND row_time = ?"
    )
    part = session.prepare(
        f"DELETE FROM {ks}.data_points WHERE project = ? AND metric = ? "
        "AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ?"
    )
    width = store.row_width
    items: list[tuple[Statement, Params]] = []
    rows = rows_per_metric(store, project, series, start, end)
    for key in series:
        for rt in rows[key.metric]:
            pk = (project, key.metric, key.hash, rt)
            if start <= rt and rt + width - 1 <= end:
                items.append((whole.bind(pk), None))
            else:
                items.append((part.bind((*pk, start, end)), None))
    session.execute_all(items, role=Role.WRITE, concurrency=store.write_concurrency)


def delete_metric(store: CassandraPointStore, project: str, metric: str) -> None:
    ks, session = store.ks, store.session
    rows = [
        r.row_time
        for r in session.execute(
            session.prepare(
                f"SELECT row_time FROM {ks}.metric_rows WHERE project = ? AND metric = ?"
            ),
            (project, metric),
            role=Role.READ,
        )
    ]
    series_stmt = session.prepare(
        f"SELECT tag_hash, tags FROM {ks}.series_index WHERE project = ? "
        "AND metric = ? AND row_time = ?"
    )
    per_row = session.fetch_all(
        [(series_stmt.bind((project, metric, rt)), None) for rt in rows],
        role=Role.READ,
        concurrency=store.read_concurrency,
    )
    names = tag_names(store, project, metric)
    values_stmt = session.prepare(
        f"SELECT tag_value FROM {ks}.tag_values WHERE project = ? AND metric = ? "
        "AND tag_name = ?"
    )
    values_of = dict(
        zip(
            names,
            session.fetch_all(
                [(values_stmt.bind((project, metric, n)), None) for n in names],
                role=Role.READ,
                concurrency=store.read_concurrency,
            ),
            strict=True,
        )
    )

    def stmt(cql: str, params: tuple[Any, ...]) -> tuple[Statement, Params]:
        return (session.prepare(cql).bind(params), None)

    items: list[tuple[Statement, Params]] = []
    for rt, series in zip(rows, per_row, strict=True):
        for row in series:
            items.append(
                stmt(
                    "DELETE FROM {ks}.data_points WHERE project = ? AND metric = ? "
                    "AND tag_hash = ? AND row_time = ?",
                    (project, metric, row.tag_hash, rt),
                )
            )
            for name, value in row.tags.items():
                items.append(
                    stmt(
                        "DELETE FROM {ks}.series_by_tag WHERE project = ? AND metric = ? "
                        "AND row_time = ? AND tag_name = ? AND tag_value = ?",
                        (project, metric, rt, name, value),
                    )
                )
        items.append(
            stmt(
                "DELETE FROM {ks}.series_index WHERE project = ? AND metric = ? "
                "AND row_time = ?",
                (project, metric, rt),
            )
        )
    for name in names:
        items.append(
            stmt(
                "DELETE FROM {ks}.tag_values WHERE project = ? AND metric = ? "
                "AND tag_name = ?",
                (project, metric, name),
            )
        )
    items += [
        stmt(
            "DELETE FROM {ks}.tag_names WHERE project = ? AND metric = ?",
            (project, metric),
        ),
        stmt(
            "DELETE FROM {ks}.metric_rows WHERE project = ? AND metric = ?",
            (project, metric),
        ),
        stmt(
            "DELETE FROM {ks}.metric_names WHERE project = ? AND metric = ?",
            (project, metric),
        ),
    ]
    items += _project_tag_cleanup(store, project, metric, values_of)
    session.execute_all(items, role=Role.WRITE, concurrency=store.write_concurrency)
    # Tell every worker (here and elsewhere) to forget the index rows it remembers
    # for this metric and for the project-wide tag lists.
    now = dt.datetime.now(dt.UTC)
    record = session.prepare(
        f"INSERT INTO {ks}.index_invalidations (bucket, project, metric, deleted_at) "
        "VALUES (0, ?, ?, ?)"
    )
    session.execute_all(
        [(record.bind((project, m, now)), None) for m in (metric, "")],
        role=Role.META,
        concurrency=2,
    )
    store.cache.forget_metric(project, metric)
    store.cache.forget_metric(project, "")


def _project_tag_cleanup(
    store: CassandraPointStore,
    project: str,
    metric: str,
    values_of: dict[str, list[Any]],
) -> list[tuple[Statement, Params]]:
    """Deletes for project-wide tag names and values no other metric still uses."""
    if not values_of:
        return []
    ks, session = store.ks, store.session
    others = [m for m in metric_names(store, project, None) if m != metric]
    names_stmt = session.prepare(
        f"SELECT tag_name FROM {ks}.tag_names WHERE project = ? AND metric = ?"
    )
    other_names = session.fetch_all(
        [(names_stmt.bind((project, m)), None) for m in others],
        role=Role.READ,
        concurrency=store.read_concurrency,
    )
    users: dict[str, list[str]] = {}
    for m, rows in zip(others, other_names, strict=True):
        for row in rows:
            users.setdefault(row.tag_name, []).append(m)
    values_stmt = session.prepare(
        f"SELECT tag_value FROM {ks}.tag_values WHERE project = ? AND metric = ? "
        "AND tag_name = ?"
    )
    out: list[tuple[Statement, Params]] = []
    for name, rows in values_of.items():
        if name not in users:
            out.append(
                (
                    session.prepare(
                        f"DELETE FROM {ks}.tag_names WHERE project = ? AND metric = '' "
                        "AND tag_name = ?"
                    ).bind((project, name)),
                    None,
                )
            )
            out.append(
                (
                    session.prepare(
                        f"DELETE FROM {ks}.tag_values WHERE project = ? AND metric = '' "
                        "AND tag_name = ?"
                    ).bind((project, name)),
                    None,
                )
            )
            continue
        still = {
            row.tag_value
            for result in session.fetch_all(
                [(values_stmt.bind((project, m, name)), None) for m in users[name]],
                role=Role.READ,
                concurrency=store.read_concurrency,
            )
            for row in result
        }
        for value in {row.tag_value for row in rows} - still:
            out.append(
                (
                    session.prepare(
                        f"DELETE FROM {ks}.tag_values WHERE project = ? AND metric = '' "
                        "AND tag_name = ? AND tag_value = ?"
                    ).bind((project, name, value)),
                    None,
                )
            )
    return out

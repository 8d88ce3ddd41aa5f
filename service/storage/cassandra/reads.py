"""Reading points and finding series on Cassandra."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from service.records import (
    LONG_MIN,
    Point,
    SeriesKey,
    TagFilter,
    canonical_tags,
    row_times,
    tags_match,
)
from service.storage.base import Order
from service.storage.cassandra.session import Role
from service.storage.pages import decode_page

if TYPE_CHECKING:
    from service.storage.cassandra.points import CassandraPointStore

# A range covering more rows than this is resolved through the metric_rows index
# instead of visiting every row partition arithmetically (e.g. no end time).
MAX_ARITHMETIC_ROWS = 64
# How many series a tag filter's index is read for before another filter is tried.
PEEK = 1000
# Rows per page when streaming one series; smaller when many series stream at once.
FETCH_SIZE = 5000


def read_pages(
    store: CassandraPointStore,
    project: str,
    series: SeriesKey,
    start: int,
    end: int,
    *,
    order: Order = "asc",
    limit: int | None = None,
    fetch_size: int = FETCH_SIZE,
) -> Iterator[list[Point]]:
    """Pages of decoded points. Not a generator itself: the first partition's query
    is sent when this is called, so a caller opening many series gets their first
    pages concurrently."""
    direction = "DESC" if order == "desc" else "ASC"
    cql = (
        f"SELECT ts, type, value FROM {store.ks}.data_points WHERE project = ? "
        "AND metric = ? AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ? "
        f"ORDER BY ts {direction}"
    )
    stmt = store.session.prepare(cql + (" LIMIT ?" if limit else ""))
    rows = row_times_of(store, project, series.metric, start, end)
    if order == "desc":
        rows.reverse()
    h = series.hash

    def send(rt: int, left: int | None) -> Any:
        params: tuple[Any, ...] = (project, series.metric, h, rt, start, end)
        if left:
            params += (left,)
        return store.session.pages(
            stmt, params, role=Role.READ, fetch_size=fetch_size, gate=store.read_gate()
        )

    first = send(rows[0], limit) if rows else None
    return _pages(store, rows, first, send, limit)


def _pages(
    store: CassandraPointStore,
    rows: list[int],
    first: Any,
    send: Any,
    limit: int | None,
) -> Iterator[list[Point]]:
    left = limit
    pending = first
    for i in range(len(rows)):
        query, pending = pending, None
        for page, last in query.pages():
            if last and i + 1 < len(rows) and (left is None or left > len(page)):
                # this partition is done: ask for the next one while we decode
                pending = send(rows[i + 1], None if left is None else left - len(page))
            if page:
                yield decode_page(page, store.registry)
            if left is not None:
                left -= len(page)
                if left <= 0:
                    return
        if pending is None:
            return


def row_times_of(
    store: CassandraPointStore, project: str, metric: str, start: int, end: int
) -> list[int]:
    """Start times of the rows that may hold points of ``metric`` in the range."""
    width = store.row_width
    first, last = start - start % width, end - end % width
    if (last - first) // width < MAX_ARITHMETIC_ROWS:
        return row_times(start, end, width)
    rows = store.session.execute(
        store.session.prepare(
            f"SELECT row_time FROM {store.ks}.metric_rows WHERE project = ? "
            "AND metric = ? AND row_time >= ? AND row_time <= ?"
        ),
        (project, metric, max(first, LONG_MIN), last),
        role=Role.READ,
    )
    return sorted({row.row_time for row in rows})


def rows_per_metric(
    store: CassandraPointStore,
    project: str,
    series: Sequence[SeriesKey],
    start: int,
    end: int,
) -> dict[str, list[int]]:
    """``row_times_of`` once per metric of ``series`` (they mostly share one)."""
    return {
        metric: row_times_of(store, project, metric, start, end)
        for metric in {key.metric for key in series}
    }


def find_series(
    store: CassandraPointStore,
    project: str,
    metric: str,
    tags: TagFilter,
    start: int,
    end: int,
) -> list[SeriesKey]:
    rows = row_times_of(store, project, metric, start, end)
    exact = {name: match for name, match in tags.items() if match.exact}
    found: dict[int, dict[str, str]] | None = None
    # Candidates come from series_by_tag, one filtered tag at a time, none read past
    # PEEK series (nor past the candidates already found): a tag many series share
    # (dc=all) costs a capped peek, and the tag that names few (host=a) gives the set.
    # The other filters are then applied to the candidates' tags.
    order = sorted(exact, key=lambda n: len(exact[n].values))
    for name in order:
        cap = PEEK if found is None else len(found) + 1
        candidates = _series_by_tag(
            store, project, metric, rows, name, sorted(exact[name].values), cap
        )
        if candidates is not None and (found is None or len(candidates) < len(found)):
            found = candidates
    if found is None and order:
        # every filtered tag names more than PEEK series: read the narrowest whole
        name = order[0]
        found = _series_by_tag(
            store, project, metric, rows, name, sorted(exact[name].values), None
        )
    if found is None:
        found = _all_series(store, project, metric, rows)
    keys = [
        SeriesKey(metric, canonical_tags(tag_map))
        for tag_map in found.values()
        if tags_match(tag_map, tags)
    ]
    keys.sort(key=lambda k: k.tags)
    return keys


def _series_by_tag(
    store: CassandraPointStore,
    project: str,
    metric: str,
    rows: Sequence[int],
    name: str,
    values: Sequence[str],
    cap: int | None,
) -> dict[int, dict[str, str]] | None:
    stmt = store.session.prepare(
        f"SELECT tag_hash, tags FROM {store.ks}.series_by_tag WHERE project = ? "
        "AND metric = ? AND row_time = ? AND tag_name = ? AND tag_value = ?"
        + (" LIMIT ?" if cap else "")
    )
    items = []
    for rt in rows:
        for value in values:
            params: tuple[Any, ...] = (project, metric, rt, name, value)
            items.append((stmt.bind(params + ((cap,) if cap else ())), None))
    out: dict[int, dict[str, str]] = {}
    for result in store.session.fetch_all(
        items, role=Role.READ, concurrency=store.read_concurrency
    ):
        for row in result:
            out[row.tag_hash] = row.tags
        if cap is not None and len(out) >= cap:
            return None
    return out


def _all_series(
    store: CassandraPointStore, project: str, metric: str, rows: Sequence[int]
) -> dict[int, dict[str, str]]:
    stmt = store.session.prepare(
        f"SELECT tag_hash, tags FROM {store.ks}.series_index WHERE project = ? "
        "AND metric = ? AND row_time = ?"
    )
    items = [(stmt.bind((project, metric, rt)), None) for rt in rows]
    out: dict[int, dict[str, str]] = {}
    for result in store.session.fetch_all(
        items, role=Role.READ, concurrency=store.read_concurrency
    ):
        for row in result:
            out[row.tag_hash] = row.tags
    return out


def series_with_points(
    store: CassandraPointStore,
    project: str,
    series: Sequence[SeriesKey],
    start: int,
    end: int,
) -> list[SeriesKey]:
    stmt = store.session.prepare(
        f"SELECT ts FROM {store.ks}.data_points WHERE project = ? AND metric = ? "
        "AND tag_hash = ? AND row_time = ? AND ts >= ? AND ts <= ? LIMIT 1"
    )
    items, owners = [], []
    rows = rows_per_metric(store, project, series, start, end)
    for key in series:
        for rt in rows[key.metric]:
            items.append(
                (stmt.bind((project, key.metric, key.hash, rt, start, end)), None)
            )
            owners.append(key)
    results = store.session.fetch_all(
        items, role=Role.READ, concurrency=store.read_concurrency
    )
    live = {owner for owner, rows in zip(owners, results, strict=True) if rows}
    return [key for key in series if key in live]


def metric_names(
    store: CassandraPointStore, project: str, prefix: str | None
) -> list[str]:
    if prefix:
        stmt = store.session.prepare(
            f"SELECT metric FROM {store.ks}.metric_names WHERE project = ? "
            "AND metric >= ? AND metric < ?"
        )
        params: tuple[Any, ...] = (project, prefix, prefix + "\U0010ffff")
    else:
        stmt = store.session.prepare(
            f"SELECT metric FROM {store.ks}.metric_names WHERE project = ?"
        )
        params = (project,)
    rows = store.session.stream(stmt, params, role=Role.READ, fetch_size=FETCH_SIZE)
    return sorted({row.metric for row in rows})


def tag_names(
    store: CassandraPointStore, project: str, metric: str | None
) -> list[str]:
    stmt = store.session.prepare(
        f"SELECT tag_name FROM {store.ks}.tag_names WHERE project = ? AND metric = ?"
    )
    rows = store.session.stream(
        stmt, (project, metric or ""), role=Role.READ, fetch_size=FETCH_SIZE
    )
    return sorted({row.tag_name for row in rows})


def tag_values(
    store: CassandraPointStore, project: str, metric: str | None, tag: str | None
) -> list[str]:
    names = [tag] if tag else tag_names(store, project, metric)
    stmt = store.session.prepare(
        f"SELECT tag_value FROM {store.ks}.tag_values WHERE project = ? "
        "AND metric = ? AND tag_name = ?"
    )
    items = [(stmt.bind((project, metric or "", name)), None) for name in names]
    results = store.session.fetch_all(
        items, role=Role.READ, concurrency=store.read_concurrency
    )
    return sorted({row.tag_value for rows in results for row in rows})

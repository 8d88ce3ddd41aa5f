"""The series index of data points on Cassandra.

Queries find series, rows, metric names and tags in the index tables (see
``schema/cassandra/001_initial.cql``) without reading data. :class:`SeriesIndex` owns
them: the index rows a write needs (each process remembers the ones it wrote lately
and skips them, see index_cache.py), every index read, and what deleting a metric
takes of the index, including telling the other processes to forget it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from service.records import (
    LONG_MIN,
    SeriesKey,
    TagFilter,
    Tags,
    canonical_tags,
    row_times,
    tags_match,
)
from service.storage.cassandra.context import CassandraContext
from service.storage.cassandra.index_cache import IndexCache, Key
from service.storage.cassandra.index_writes import IndexWrite
from service.storage.cassandra.schema import RowWidth
from service.storage.cassandra.session import Role, Statement

# A range covering more rows than this is resolved through the metric_rows index
# instead of visiting every row partition arithmetically (e.g. no end time).
MAX_ARITHMETIC_ROWS = 64
# How many series a tag filter's index is read for before another filter is tried.
PEEK = 1000
# Rows per page when listing names.
FETCH_SIZE = 5000

_ROWS = (
    "SELECT row_time FROM {ks}.metric_rows WHERE project = ? AND metric = ? "
    "AND row_time >= ? AND row_time <= ?"
)
_SERIES = (
    "SELECT tag_hash, tags FROM {ks}.series_index WHERE project = ? AND metric = ? "
    "AND row_time = ?"
)
_BY_TAG = (
    "SELECT tag_hash, tags FROM {ks}.series_by_tag WHERE project = ? AND metric = ? "
    "AND row_time = ? AND tag_name = ? AND tag_value = ?"
)
_NAMES = "SELECT metric FROM {ks}.metric_names WHERE project = ?"
_NAMES_FROM = _NAMES + " AND metric >= ? AND metric < ?"
_TAG_NAMES = "SELECT tag_name FROM {ks}.tag_names WHERE project = ? AND metric = ?"
_TAG_VALUES = (
    "SELECT tag_value FROM {ks}.tag_values WHERE project = ? AND metric = ? "
    "AND tag_name = ?"
)
_INVALIDATIONS = (
    "SELECT project, metric, deleted_at FROM {ks}.index_invalidations WHERE bucket = 0"
)
_INVALIDATE = (
    "INSERT INTO {ks}.index_invalidations (bucket, project, metric, deleted_at) "
    "VALUES (0, ?, ?, ?)"
)


class MetricDelete(NamedTuple):
    """What deleting one metric takes, as the index knows it."""

    # the data rows of the metric: (tag hash, row time)
    partitions: list[tuple[int, int]]
    # deletes of its index rows, and of project-wide tags no other metric uses
    statements: list[Statement]


class SeriesIndex:
    def __init__(
        self,
        context: CassandraContext,
        *,
        row_width: RowWidth,
        cache_size: int,
        cache_seconds: int,
    ) -> None:
        self.session = context.session
        self.read_concurrency = context.read_concurrency
        self.row_width = row_width
        # Index rows outlive their data by more than the cache remembers them, plus
        # an hour for clocks that disagree (see index_cache.py).
        self.margin = 2 * cache_seconds + 3600
        self.cache = IndexCache(
            max_entries=cache_size, max_age=cache_seconds, poll=self._invalidations
        )

    # -- writes ---------------------------------------------------------------------

    @staticmethod
    def note(
        needed: dict[Key, Tags],
        project: str,
        series: SeriesKey,
        rows: Iterable[int],
        *,
        tag_hash: int,
        ttl: int,
    ) -> None:
        """Add to ``needed`` the index rows of points of ``series`` (whose tags hash
        to ``tag_hash``: the caller has it already) in ``rows`` written with
        ``ttl``: keyed as in the IndexCache, the value is the series' tags for
        "series" keys."""
        metric, tags, h = series.metric, series.tags, tag_hash
        for rt in rows:
            needed[("series", project, metric, h, rt, ttl)] = tags
            needed[("rows", project, metric, rt, ttl)] = ()
        needed[("name", project, metric, ttl)] = ()
        for name, value in tags:
            for scope in (metric, ""):
                needed[("tagname", project, scope, name, ttl)] = ()
                needed[("tagvalue", project, scope, name, value, ttl)] = ()

    def write(self, needed: dict[Key, Tags]) -> IndexWrite:
        """The index rows of ``needed`` this process has not written lately."""
        return IndexWrite(
            self.session, self.cache, self.cache.missing(needed), needed, self.margin
        )

    # -- reads ----------------------------------------------------------------------

    def row_times(self, project: str, metric: str, start: int, end: int) -> list[int]:
        """Start times of the rows that may hold points of ``metric`` in the range."""
        width = self.row_width.ms
        first, last = start - start % width, end - end % width
        if (last - first) // width < MAX_ARITHMETIC_ROWS:
            return row_times(start, end, width)
        rows = self.session.execute(
            _ROWS, (project, metric, max(first, LONG_MIN), last), role=Role.READ
        )
        return sorted({row.row_time for row in rows})

    def rows_per_metric(
        self, project: str, series: Sequence[SeriesKey], start: int, end: int
    ) -> dict[str, list[int]]:
        """``row_times`` once per metric of ``series`` (they mostly share one)."""
        return {
            metric: self.row_times(project, metric, start, end)
            for metric in {key.metric for key in series}
        }

    def find_series(
        self, project: str, metric: str, tags: TagFilter, start: int, end: int
    ) -> list[SeriesKey]:
        rows = self.row_times(project, metric, start, end)
        exact = {name: match for name, match in tags.items() if match.exact}
        found: dict[int, dict[str, str]] | None = None
        # Candidates come from series_by_tag, one filtered tag at a time, none read
        # past PEEK series (nor past the candidates already found): a tag many series
        # share (dc=all) costs a capped peek, and the tag that names few (host=a)
        # gives the set. The other filters are then applied to the candidates' tags.
        order = sorted(exact, key=lambda n: len(exact[n].values))
        for name in order:
            cap = PEEK if found is None else len(found) + 1
            values = sorted(exact[name].values)
            candidates = self._by_tag(project, metric, rows, name, values, cap)
            if candidates is not None and (
                found is None or len(candidates) < len(found)
            ):
                found = candidates
        if found is None and order:
            # every filtered tag names more than PEEK series: read the narrowest whole
            name = order[0]
            values = sorted(exact[name].values)
            found = self._by_tag(project, metric, rows, name, values, None)
        if found is None:
            found = self._all_series(project, metric, rows)
        keys = [
            SeriesKey(metric, canonical_tags(tag_map))
            for tag_map in found.values()
            if tags_match(tag_map, tags)
        ]
        keys.sort(key=lambda k: k.tags)
        return keys

    def _by_tag(
        self,
        project: str,
        metric: str,
        rows: Sequence[int],
        name: str,
        values: Sequence[str],
        cap: int | None,
    ) -> dict[int, dict[str, str]] | None:
        """Series carrying ``name`` = one of ``values``; None past ``cap``."""
        cql = _BY_TAG + (" LIMIT ?" if cap else "")
        limit = (cap,) if cap else ()
        params = [
            (project, metric, rt, name, value, *limit)
            for rt in rows
            for value in values
        ]
        out: dict[int, dict[str, str]] = {}
        for result in self.session.fetch_all(
            cql, params, role=Role.READ, concurrency=self.read_concurrency
        ):
            for row in result:
                out[row.tag_hash] = row.tags
            if cap is not None and len(out) >= cap:
                return None
        return out

    def _all_series(
        self, project: str, metric: str, rows: Sequence[int]
    ) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        for result in self._series_rows(project, metric, rows):
            for row in result:
                out[row.tag_hash] = row.tags
        return out

    def _series_rows(
        self, project: str, metric: str, rows: Sequence[int]
    ) -> list[list[Any]]:
        return self.session.fetch_all(
            _SERIES,
            [(project, metric, rt) for rt in rows],
            role=Role.READ,
            concurrency=self.read_concurrency,
        )

    def metric_names(self, project: str, prefix: str | None = None) -> list[str]:
        params: tuple[str, ...]
        if prefix:
            cql, params = _NAMES_FROM, (project, prefix, prefix + "\U0010ffff")
        else:
            cql, params = _NAMES, (project,)
        rows = self.session.stream(cql, params, role=Role.READ, fetch_size=FETCH_SIZE)
        return sorted({row.metric for row in rows})

    def tag_names(self, project: str, metric: str | None = None) -> list[str]:
        rows = self.session.stream(
            _TAG_NAMES, (project, metric or ""), role=Role.READ, fetch_size=FETCH_SIZE
        )
        return sorted({row.tag_name for row in rows})

    def tag_values(
        self, project: str, metric: str | None = None, tag: str | None = None
    ) -> list[str]:
        names = [tag] if tag else self.tag_names(project, metric)
        results = self._values(project, metric or "", names)
        return sorted({row.tag_value for rows in results for row in rows})

    def _values(
        self, project: str, metric: str, names: Sequence[str]
    ) -> list[list[Any]]:
        return self.session.fetch_all(
            _TAG_VALUES,
            [(project, metric, name) for name in names],
            role=Role.READ,
            concurrency=self.read_concurrency,
        )

    # -- deletes --------------------------------------------------------------------

    def metric_delete(self, project: str, metric: str) -> MetricDelete:
        """Read what the index holds of ``metric``: its data rows and the deletes of
        its index rows. Run the deletes, then ``forget``."""
        rows = [
            r.row_time
            for r in self.session.execute(
                "SELECT row_time FROM {ks}.metric_rows WHERE project = ? "
                "AND metric = ?",
                (project, metric),
                role=Role.READ,
            )
        ]
        per_row = self._series_rows(project, metric, rows)
        names = self.tag_names(project, metric)
        values_of = dict(zip(names, self._values(project, metric, names), strict=True))
        partitions: list[tuple[int, int]] = []
        out: list[Statement] = []
        bind = self.session.bind
        for rt, series in zip(rows, per_row, strict=True):
            for row in series:
                partitions.append((row.tag_hash, rt))
                out += [
                    bind(
                        "DELETE FROM {ks}.series_by_tag WHERE project = ? AND "
                        "metric = ? AND row_time = ? AND tag_name = ? AND tag_value = ?",
                        (project, metric, rt, name, value),
                    )
                    for name, value in row.tags.items()
                ]
            out.append(
                bind(
                    "DELETE FROM {ks}.series_index WHERE project = ? AND metric = ? "
                    "AND row_time = ?",
                    (project, metric, rt),
                )
            )
        out += [
            bind(
                "DELETE FROM {ks}.tag_values WHERE project = ? AND metric = ? "
                "AND tag_name = ?",
                (project, metric, name),
            )
            for name in names
        ]
        for table in ("tag_names", "metric_rows", "metric_names"):
            out.append(
                bind(
                    "DELETE FROM {ks}." + table + " WHERE project = ? AND metric = ?",
                    (project, metric),
                )
            )
        out += self._project_tag_deletes(project, metric, values_of)
        return MetricDelete(partitions, out)

    def _project_tag_deletes(
        self, project: str, metric: str, values_of: dict[str, list[Any]]
    ) -> list[Statement]:
        """Deletes for project-wide tag names and values no other metric uses."""
        if not values_of:
            return []
        others = [m for m in self.metric_names(project) if m != metric]
        users: dict[str, list[str]] = {}
        for m, rows in zip(
            others,
            self.session.fetch_all(
                _TAG_NAMES,
                [(project, m) for m in others],
                role=Role.READ,
                concurrency=self.read_concurrency,
            ),
            strict=True,
        ):
            for row in rows:
                users.setdefault(row.tag_name, []).append(m)
        bind = self.session.bind
        out: list[Statement] = []
        for name, rows in values_of.items():
            if name not in users:
                out += [
                    bind(
                        "DELETE FROM {ks}." + table + " WHERE project = ? AND "
                        "metric = '' AND tag_name = ?",
                        (project, name),
                    )
                    for table in ("tag_names", "tag_values")
                ]
                continue
            still = {
                row.tag_value
                for result in self.session.fetch_all(
                    _TAG_VALUES,
                    [(project, m, name) for m in users[name]],
                    role=Role.READ,
                    concurrency=self.read_concurrency,
                )
                for row in result
            }
            out += [
                bind(
                    "DELETE FROM {ks}.tag_values WHERE project = ? AND metric = '' "
                    "AND tag_name = ? AND tag_value = ?",
                    (project, name, value),
                )
                for value in {row.tag_value for row in rows} - still
            ]
        return out

    def forget(self, project: str, metric: str) -> None:
        """After a metric's delete: tell every worker (here and elsewhere) to forget
        the index rows it remembers for the metric and for the project-wide tag
        lists."""
        now = dt.datetime.now(dt.UTC)
        self.session.execute_all(
            [self.session.bind(_INVALIDATE, (project, m, now)) for m in (metric, "")],
            role=Role.META,
            concurrency=2,
        )
        self.cache.forget_metric(project, metric)
        self.cache.forget_metric(project, "")

    def _invalidations(self) -> list[tuple[str, str, object]]:
        rows = self.session.execute(_INVALIDATIONS, role=Role.META)
        return [(r.project, r.metric, r.deleted_at) for r in rows]

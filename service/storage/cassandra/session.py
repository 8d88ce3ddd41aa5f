"""The one Cassandra choke point.

Every statement the service sends goes through :class:`CassandraSession`: it prepares
each statement once, sets the consistency level of the statement's role (data write,
data read, metadata), caps the requests in flight, counts what it sends and translates
driver failures into ``service.errors``, so nothing above it imports cassandra.

Connections are opened lazily and re-opened when the process id changes, so the object
is safe to build before gunicorn forks its workers.
"""

from __future__ import annotations

import enum
import logging
import os
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cassandra import (
    ConsistencyLevel,
    CoordinationFailure,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.concurrent import execute_concurrent
from cassandra.connection import ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import (
    BatchStatement,
    BatchType,
    PreparedStatement,
    SimpleStatement,
    tuple_factory,
)

from service import errors
from service.config import CassandraSettings

log = logging.getLogger(__name__)


class _QuietNegotiation(logging.Filter):
    """The driver warns on every connect that it negotiated the protocol version down
    from its newest; negotiating is what we want (it works on any Cassandra), so the
    warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Downgrading core protocol version" not in record.getMessage()


logging.getLogger("cassandra.cluster").addFilter(_QuietNegotiation())

try:  # the C reactor is the fastest; the wheel on PyPI ships it
    from cassandra.io.libevreactor import LibevConnection as _Connection
except ImportError:  # pragma: no cover - depends on how the driver was built
    _Connection = None

# Driver statements (simple, bound, batch) are untyped; Any keeps mypy honest
# about that rather than pretending.
Statement = Any
Params = Sequence[Any] | None


TUPLES = "tuples"


# Cassandra keeps the cell with the highest write timestamp. "First seen" columns are
# written with timestamp FIRST_BASE - time, so the earliest time wins whatever order
# the writes arrive in (see the schema's comments).
FIRST_BASE = 2**62


def earliest_wins(micros: int) -> int:
    """The write timestamp for a "first" cell of time ``micros``."""
    return FIRST_BASE - micros


class Role(enum.Enum):
    """Why a statement runs; each role has its own configurable consistency."""

    WRITE = "write"
    READ = "read"
    META = "meta"


_TRANSIENT = (
    Unavailable,
    WriteTimeout,
    ReadTimeout,
    OperationTimedOut,
    NoHostAvailable,
    CoordinationFailure,
    ConnectionException,  # a connection lost with requests on it (a node killed)
)
# Raised while a value is serialized: text that is not Unicode (a lone surrogate),
# a key component over 64 KiB (its length does not fit the routing key's 16 bits).
_UNSTORABLE = (UnicodeEncodeError, struct.error)

# The action of a failed write, in the service's messages and logs.
WRITE = "acknowledge the write"

# Reconnection to a node that went down: first after RECONNECT_BASE seconds, then
# doubling up to RECONNECT_MAX, for ever. The driver's default (1 s doubling to 600 s,
# giving up after 64 attempts) kept answering 503 for minutes after a node came back.
# An attempt is one TCP connect per process and host, so a short cap costs nothing.
RECONNECT_BASE = 0.25
RECONNECT_MAX = 1.0


class CassandraSession:
    def __init__(self, settings: CassandraSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        # when the last attempt to connect failed (monotonic), if the last one did
        self._failed_at: float | None = None
        self._levels = {
            Role.WRITE: ConsistencyLevel.name_to_value[settings.write_consistency],
            Role.READ: ConsistencyLevel.name_to_value[settings.read_consistency],
            Role.META: ConsistencyLevel.name_to_value[settings.meta_consistency],
        }
        self.counts: Counter[str] = Counter()

    # -- connection -----------------------------------------------------------------

    @property
    def session(self) -> Session:
        if self._session is None or self._pid != os.getpid():
            with self._lock:
                if self._session is None or self._pid != os.getpid():
                    self._connect_or_fail_fast()
        assert self._session is not None
        return self._session

    def _connect_or_fail_fast(self) -> None:
        # While no node could be reached a moment ago, requests fail at once instead
        # of each waiting (one after another, behind the lock) for a connect timeout;
        # the first request after RECONNECT_MAX tries again.
        failed = self._failed_at
        if failed is not None and time.monotonic() - failed < RECONNECT_MAX:
            raise errors.Unavailable(_UNAVAILABLE["connect"])
        try:
            self._connect()
        except BaseException:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None

    def _connect(self) -> None:
        s = self.settings
        # A Cluster inherited through fork shares sockets with the parent; drop it
        # without shutdown (its threads did not survive the fork anyway).
        self._cluster = self._session = None
        self._prepared = {}
        policy = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=s.local_dc))
        profile = ExecutionProfile(
            load_balancing_policy=policy, request_timeout=s.request_timeout
        )
        # Plain tuples for the hot read path: cheaper than named tuples per row.
        tuples = ExecutionProfile(
            load_balancing_policy=policy,
            request_timeout=s.request_timeout,
            row_factory=tuple_factory,
        )
        kwargs: dict[str, Any] = {
            "contact_points": list(s.hosts),
            "port": s.port,
            "execution_profiles": {EXEC_PROFILE_DEFAULT: profile, TUPLES: tuples},
            "connect_timeout": s.connect_timeout,
            "control_connection_timeout": s.connect_timeout,
            "reconnection_policy": ExponentialReconnectionPolicy(
                RECONNECT_BASE, RECONNECT_MAX, max_attempts=None
            ),
        }
        if _Connection is not None:
            kwargs["connection_class"] = _Connection
        if s.protocol_version:
            kwargs["protocol_version"] = s.protocol_version
        if s.username:
            kwargs["auth_provider"] = PlainTextAuthProvider(
                s.username, s.password or ""
            )
        cluster = Cluster(**kwargs)
        try:
            with _translated("connect"):
                session = cluster.connect()
        except BaseException:
            cluster.shutdown()
            raise
        self._cluster, self._session, self._pid = cluster, session, os.getpid()
        log.info("connected to Cassandra at %s:%s", ",".join(s.hosts), s.port)

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                self._cluster.shutdown()
            self._cluster = self._session = None
            self._prepared = {}

    # -- statements -----------------------------------------------------------------

    def prepare(self, cql: str) -> PreparedStatement:
        """Prepared once per process; ``{ks}`` in ``cql`` names this keyspace."""
        session = self.session
        stmt = self._prepared.get(cql)
        if stmt is None:
            with _translated("prepare a statement"):
                stmt = session.prepare(cql.replace("{ks}", self.settings.keyspace))
            self._prepared[cql] = stmt
        return stmt

    def batch(self, role: Role) -> BatchStatement:
        """An unlogged batch: callers only ever put rows of one partition in it."""
        return BatchStatement(
            batch_type=BatchType.UNLOGGED, consistency_level=self._levels[role]
        )

    def execute(
        self, statement: str | Statement, params: Params = None, *, role: Role
    ) -> Any:
        """Run one statement and return its (paged) result set."""
        stmt, params = self._statement(statement, params, role)
        self.counts[role.value] += 1
        with _translated("answer"):
            return self.session.execute(stmt, params)

    def execute_all(
        self,
        items: Sequence[tuple[Statement, Params]],
        *,
        role: Role,
        concurrency: int,
    ) -> None:
        """Run many statements with at most ``concurrency`` in flight; all or raise."""
        self.fetch_all(items, role=role, concurrency=concurrency)

    def fetch_all(
        self,
        items: Sequence[tuple[Statement, Params]],
        *,
        role: Role,
        concurrency: int,
    ) -> list[list[Any]]:
        """Rows of many queries, at most ``concurrency`` in flight, in item order."""
        if not items:
            return []
        level = self._levels[role]
        for stmt, _ in items:
            stmt.consistency_level = level
        self.counts[role.value] += len(items)
        with _translated(WRITE if role is Role.WRITE else "answer"):
            results = execute_concurrent(
                self.session, items, concurrency=concurrency, raise_on_first_error=True
            )
            return [list(result.result_or_exc) for result in results]

    def stream(
        self, statement: Statement, params: Params, *, role: Role, fetch_size: int
    ) -> Iterator[Any]:
        """Rows of one query, fetched page by page so memory stays bounded."""
        stmt, params = self._statement(statement, params, role)
        stmt.fetch_size = fetch_size
        self.counts[role.value] += 1
        with _translated("answer"):
            result = self.session.execute(stmt, params)
            yield from result

    def pages(
        self,
        statement: Statement,
        params: Params,
        *,
        role: Role,
        fetch_size: int,
        gate: threading.Semaphore,
    ) -> PagedQuery:
        """Start a query now; read its rows (plain tuples) page by page later, the
        next page always in flight while the current one is consumed. ``gate``
        bounds the pages in flight: a slot is taken before each page is requested
        and given back when it arrives."""
        stmt, params = self._statement(statement, params, role)
        stmt.fetch_size = fetch_size
        self.counts[role.value] += 1
        gate.acquire()
        with _translated("answer"):
            try:
                future = self.session.execute_async(
                    stmt, params, execution_profile=TUPLES
                )
            except BaseException:
                gate.release()
                raise
        # called again for every later page, and on failure
        future.add_callbacks(
            _release, errback=_release, callback_args=(gate,), errback_args=(gate,)
        )
        return PagedQuery(future, gate)

    def _statement(
        self, statement: str | Statement, params: Params, role: Role
    ) -> tuple[Statement, Params]:
        if isinstance(statement, str):
            statement = SimpleStatement(statement)
        elif isinstance(statement, PreparedStatement):
            # Bind here so per-call settings land on a fresh statement, never on
            # the shared prepared one.
            statement, params = statement.bind(params or ()), None
        statement.consistency_level = self._levels[role]
        return statement, params


def _release(_result: Any, gate: threading.Semaphore) -> None:
    gate.release()


class PagedQuery:
    """A query already sent; iterate ``pages()`` for its rows, a page at a time."""

    def __init__(self, future: Any, gate: threading.Semaphore) -> None:
        self.future = future
        self.gate = gate

    def pages(self) -> Iterator[tuple[list[Any], bool]]:
        """(rows, last) per page; the next page is requested before this one is
        handed out, so reading and consuming overlap."""
        future = self.future
        with _translated("answer"):
            result = future.result()
        while True:
            rows = result.current_rows
            more = result.has_more_pages
            if more:
                self.gate.acquire()
                with _translated("answer"):
                    future.start_fetching_next_page()
            yield rows, not more
            if not more:
                return
            with _translated("answer"):
                result = future.result()


_UNAVAILABLE = {
    "connect": "The data store cannot be reached; nothing was stored. Retry later.",
    WRITE: "The data store did not acknowledge the write in time; "
    "retrying the request is safe (points overwrite themselves).",
    "answer": "The data store did not answer in time; retry the request.",
}


REFUSED = (
    "The data store refused a name or value of this request (too large, or not "
    "valid Unicode text); retrying it unchanged fails again."
)


def is_transient(error: BaseException) -> bool:
    """True for a failure of the store itself (retrying later may succeed), as
    opposed to one of the data the request carried."""
    return isinstance(error, (errors.Unavailable, errors.SchemaMissing, *_TRANSIENT))


def translate(exc: BaseException, action: str) -> BaseException:
    """The service error a driver failure stands for (the failure itself if none)."""
    if isinstance(exc, _TRANSIENT):
        log.warning("Cassandra did not %s: %s", action, exc)
        error: BaseException = errors.Unavailable(
            _UNAVAILABLE.get(action, _UNAVAILABLE["answer"])
        )
    elif isinstance(exc, InvalidRequest) and (
        "does not exist" in str(exc) or "unconfigured table" in str(exc).lower()
    ):
        error = errors.SchemaMissing(
            "The data store has no schema for this service; an operator must run "
            "`datapoints schema apply`."
        )
    elif isinstance(exc, _UNSTORABLE) or (
        action == WRITE and isinstance(exc, InvalidRequest)
    ):
        # Cassandra's own words may name tables; the log keeps them, the client
        # gets a message of ours.
        log.warning("Cassandra refused a write: %s: %s", type(exc).__name__, exc)
        error = errors.InvalidInput(REFUSED)
    else:
        return exc
    error.__cause__ = exc
    return error


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except (*_TRANSIENT, *_UNSTORABLE, InvalidRequest) as exc:
        error = translate(exc, action)
        if error is exc:
            raise
        raise error from exc

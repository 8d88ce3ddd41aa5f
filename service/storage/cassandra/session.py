"""The one Cassandra choke point.

Every statement the service sends goes through :class:`CassandraSession`, the write
coalescer's batches included: it prepares each statement once, sets the consistency
level of the statement's role (data write, data read, metadata), counts what it sends
and translates driver failures into ``service.errors``, so nothing above it imports
cassandra.

Statements are CQL text with ``?`` markers, in which ``{ks}`` names the service's
keyspace: callers write ``session.execute("SELECT ... FROM {ks}.t WHERE k = ?", (k,),
role=Role.READ)`` and the session prepares the text the first time it sees it. Schema
statements (DDL) are the exception: ``execute_schema`` sends them unprepared.

Connections are opened lazily and re-opened when the process id changes, so the object
is safe to build before gunicorn forks its workers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

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
from cassandra.connection import Connection, ConnectionException, ConnectionShutdown
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

from service import cooperative, errors
from service.config import CassandraSettings
from service.storage.cassandra.loop_reactor import LoopIO
from service.storage.cassandra.paging import PagedQuery

log = logging.getLogger(__name__)
_T = TypeVar("_T")


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

# Driver statements (bound, batch) and rows are untyped; Any keeps mypy honest about
# that rather than pretending.
Statement = Any
Row = Any
Params = Sequence[Any]


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
ANSWER = "answer"
SCHEMA_TIMEOUT_S = 120.0  # a DDL statement (see execute_schema)

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
        # prepared statements by their text ({ks} unfilled), for this process only
        self._prepared: dict[str, PreparedStatement] = {}
        # when the last attempt to connect failed (monotonic), if the last one did
        self._failed_at: float | None = None
        self._levels = {
            Role.WRITE: ConsistencyLevel.name_to_value[settings.write_consistency],
            Role.READ: ConsistencyLevel.name_to_value[settings.read_consistency],
            Role.META: ConsistencyLevel.name_to_value[settings.meta_consistency],
        }
        self.counts: Counter[str] = Counter()

    @property
    def keyspace(self) -> str:
        return self.settings.keyspace

    # -- connection -----------------------------------------------------------------

    def _driver(self) -> Session:
        """The driver's session of this process, connected on first use."""
        if self._session is None or self._pid != os.getpid():
            return _blocking(self._connected)
        return self._session

    def _connected(self) -> Session:
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
        # without shutdown (its threads did not survive the fork anyway), and the
        # statements prepared on it with it.
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
        loop = cooperative.loop()
        if loop is not None:  # the serving worker's: its loop does the I/O
            kwargs["connection_class"] = type(
                "LoopConnection",
                (LoopIO, Connection),
                {"loop": loop, "shutdown": ConnectionShutdown},
            )
        elif _Connection is not None:
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

    def _prepare(self, cql: str) -> PreparedStatement:
        driver = self._driver()  # first: a reconnect after a fork forgets them all
        stmt = self._prepared.get(cql)
        if stmt is None:
            with _translated("prepare a statement"):
                stmt = _blocking(driver.prepare, cql.replace("{ks}", self.keyspace))
            self._prepared[cql] = stmt
        return stmt

    def bind(self, cql: str, params: Params) -> Statement:
        """A statement for ``execute_all``: ``cql`` prepared, bound to ``params``."""
        stmt = self._prepare(cql)
        try:
            return stmt.bind(params)
        except _UNSTORABLE as exc:
            raise translate(exc, WRITE) from exc

    def batch(self, cql: str, *, role: Role) -> Batch:
        """An empty unlogged batch of ``cql`` rows, for ``execute_all``: callers only
        ever put rows of one partition in it (one mutation)."""
        return Batch(self._prepare(cql), self._levels[role])

    def batches(self, cql: str, *, role: Role) -> Callable[[], Batch]:
        """``batch`` for callers that make one per partition of a large write: the
        statement is looked up once."""
        return partial(Batch, self._prepare(cql), self._levels[role])

    def execute(
        self, cql: str, params: Params = (), *, role: Role, tuples: bool = False
    ) -> Any:
        """Run one statement and return its (paged) result set; with ``tuples``
        its rows are plain tuples (the driver's named tuples make a class for
        every result: ~0.2 ms of CPU, the most of a small query's)."""
        stmt = self._bound(cql, params, role)
        self.counts[role.value] += 1
        with _translated(ANSWER):
            if tuples:
                return self._run(stmt, execution_profile=TUPLES)
            return self._run(stmt)

    def _run(self, stmt: Statement, **options: Any) -> Any:
        """The driver's ``execute``; in a request's greenlet on the serving loop the
        loop serves others while Cassandra answers (``service.cooperative``)."""
        driver = self._driver()
        if cooperative.active():
            future = driver.execute_async(stmt, **options)
            return self._answered(future)
        _off_the_loop()
        return driver.execute(stmt, **options)

    def _answered(self, future: Any) -> Any:
        """``future.result()`` of a driver query, waited for in a request's
        greenlet: the loop serves others until the driver has the answer."""
        done = cooperative.future()
        future.add_callbacks(
            _settle, _settle, callback_args=(done,), errback_args=(done,)
        )
        # (the driver times requests out itself; this only guards a lost callback)
        if not cooperative.wait_within(done, self.settings.request_timeout * 3):
            raise TimeoutError("the driver never answered")
        return future.result()  # done now: returns (or raises) at once

    def execute_schema(self, cql: str) -> None:
        """Run one schema statement (DDL), unprepared, at the metadata consistency;
        the driver waits for the nodes to agree on the schema before returning."""
        stmt = SimpleStatement(cql.replace("{ks}", self.keyspace))
        stmt.consistency_level = self._levels[Role.META]
        self.counts[Role.META.value] += 1
        # A table creation on a busy node can take longer than a request may: only
        # `schema apply` runs DDL (never a request), so it may wait for it.
        timeout = max(SCHEMA_TIMEOUT_S, self.settings.request_timeout)
        with _translated(ANSWER):
            self._run(stmt, timeout=timeout)

    def execute_all(
        self, statements: Sequence[Statement], *, role: Role, concurrency: int
    ) -> None:
        """Run many statements (from ``bind`` or ``batch``) with at most
        ``concurrency`` in flight; all or raise."""
        if not statements:
            return
        level = self._levels[role]
        items = []
        for stmt in statements:
            if isinstance(stmt, Batch):
                stmt = stmt.statement
            stmt.consistency_level = level
            items.append((stmt, None))
        self._concurrently(items, role=role, concurrency=concurrency)

    def fetch_all(
        self,
        cql: str,
        params: Sequence[Params],
        *,
        role: Role,
        concurrency: int,
    ) -> list[list[Row]]:
        """Rows of ``cql`` for each of ``params``, at most ``concurrency`` queries in
        flight, in the order of ``params``."""
        if not params:
            return []
        stmt, level = self._prepare(cql), self._levels[role]
        items = []
        try:
            for values in params:
                bound = stmt.bind(values)
                bound.consistency_level = level
                items.append((bound, None))
        except _UNSTORABLE as exc:
            raise translate(exc, WRITE) from exc
        return self._concurrently(items, role=role, concurrency=concurrency)

    def _concurrently(
        self, items: list[tuple[Statement, None]], *, role: Role, concurrency: int
    ) -> list[list[Row]]:
        self.counts[role.value] += len(items)
        with _translated(_action(role)):
            if cooperative.active():
                return self._cooperatively(items, concurrency)
            results = execute_concurrent(
                self._driver(),
                items,
                concurrency=concurrency,
                raise_on_first_error=True,
            )
            return [list(result.result_or_exc) for result in results]

    def _cooperatively(
        self, items: list[tuple[Statement, None]], concurrency: int
    ) -> list[list[Row]]:
        """``execute_concurrent`` in a request's greenlet: ``concurrency`` at a time,
        awaited without blocking the loop."""
        driver, out = self._driver(), []
        for start in range(0, len(items), concurrency):
            futures = [
                driver.execute_async(stmt)
                for stmt, _ in items[start : start + concurrency]
            ]
            for future in futures:
                out.append(list(self._answered(future)))
        return out

    def stream(
        self, cql: str, params: Params, *, role: Role, fetch_size: int
    ) -> Iterator[Row]:
        """Rows of one query, fetched page by page so memory stays bounded."""
        _off_the_loop()
        stmt = self._bound(cql, params, role)
        stmt.fetch_size = fetch_size
        self.counts[role.value] += 1
        with _translated(ANSWER):
            result = self._driver().execute(stmt)
            yield from result

    def pages(
        self,
        cql: str,
        params: Params,
        *,
        role: Role,
        fetch_size: int,
        gate: threading.Semaphore,
        resize: Callable[[list[Any]], int] | None = None,
    ) -> PagedQuery:
        """Start a query now; read its rows (plain tuples) page by page later, each
        page requested as the one before it arrives (``paging``). ``gate`` bounds
        the pages in flight: a slot is taken before each page is requested and
        given back when it arrives; ``resize`` sizes each later page from the rows
        of the one before."""
        _off_the_loop()
        stmt = self._bound(cql, params, role)
        stmt.fetch_size = fetch_size
        self.counts[role.value] += 1
        gate.acquire()
        with _translated(ANSWER):
            try:
                future = self._driver().execute_async(stmt, execution_profile=TUPLES)
            except BaseException:
                gate.release()
                raise
        # called again for every later page, and on failure
        future.add_callbacks(
            _release, errback=_release, callback_args=(gate,), errback_args=(gate,)
        )
        return PagedQuery(future, gate, partial(translate, action=ANSWER), resize)

    def _bound(self, cql: str, params: Params, role: Role) -> Statement:
        # A fresh bound statement per call, so per-call settings (consistency, fetch
        # size) never land on the shared prepared one.
        bound = self.bind(cql, params)
        bound.consistency_level = self._levels[role]
        return bound

    # -- the write coalescer's ------------------------------------------------------

    def routed(
        self, rows: Sequence[tuple[str, Params]]
    ) -> list[tuple[Statement, bytes, Any]]:
        """Each row bound for a write, with its routing key and its primary replica
        (None when unknown): all of them, or raise ``errors.InvalidInput`` for a
        value Cassandra cannot hold (and nothing is sent)."""
        metadata = self._driver().cluster.metadata
        keyspace = self.keyspace
        # prepared first: a failure to prepare is the store's, not the row's
        prepared = {cql: self._prepare(cql) for cql, _ in rows}
        out = []
        try:
            for cql, params in rows:
                bound = prepared[cql].bind(params)
                routing = bound.routing_key
                replicas = metadata.get_replicas(keyspace, routing)
                out.append((bound, routing, replicas[0] if replicas else None))
        except Exception as exc:
            error = translate(exc, WRITE)
            if error is exc:  # a value of a type its column does not take
                log.warning("a row cannot be bound: %s: %s", type(exc).__name__, exc)
                error = errors.InvalidInput(REFUSED)
            raise error from exc
        return out

    def bound_batch(self, statements: Sequence[Statement]) -> BatchStatement:
        """Bound statements (from ``routed``) as one unlogged batch, for
        ``execute_all``."""
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for stmt in statements:
            batch.add(stmt)
        return batch

    def send_batch(
        self,
        statements: Sequence[Statement],
        *,
        role: Role,
        done: Callable[[], object],
        failed: Callable[[BaseException], object],
    ) -> None:
        """Send bound statements (from ``routed``) as one unlogged batch without
        waiting. Exactly one of ``done()`` and ``failed(error)`` is called, with the
        service error the failure stands for, on the driver's event loop (where
        nothing may block), or in this thread if the batch could not be sent."""
        batch = self.bound_batch(statements)
        batch.consistency_level = self._levels[role]
        self.counts[role.value] += 1
        action = _action(role)
        try:
            future = self._driver().execute_async(batch)
        except BaseException as exc:  # no connection at all, for one
            failed(translate(exc, action))
            return
        future.add_callbacks(
            _call,
            _call_translated,
            callback_args=(done,),
            errback_args=(failed, action),
        )


class Batch:
    """Rows of one prepared statement in one partition, sent as one unlogged batch."""

    __slots__ = ("_prepared", "statement")

    def __init__(self, prepared: PreparedStatement, level: int) -> None:
        self._prepared = prepared
        self.statement = BatchStatement(
            batch_type=BatchType.UNLOGGED, consistency_level=level
        )

    def add(self, params: Params) -> None:
        try:
            self.statement.add(self._prepared, params)
        except _UNSTORABLE as exc:
            raise translate(exc, WRITE) from exc

    def __len__(self) -> int:
        return len(self.statement)


def _blocking(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``, which blocks on Cassandra (a connect, a prepare): from a
    request's greenlet on a pool thread while the loop runs on (the loop's own
    connections answer it); on the loop's thread otherwise, refused."""
    if cooperative.active():
        return cooperative.blocking(fn, *args)
    _off_the_loop()
    return fn(*args)


def _off_the_loop() -> None:
    """A blocking wait on Cassandra (a paged read, a statement outside a request's
    greenlet) on the serving loop's thread could never end: the loop reads the
    answer. Refuse loudly instead of hanging the worker; the bridge runs reads on
    pool threads."""
    if cooperative.on_loop_thread():
        raise RuntimeError("a blocking Cassandra call on the serving loop's thread")


def _action(role: Role) -> str:
    return WRITE if role is Role.WRITE else ANSWER


def _release(_result: Any, gate: threading.Semaphore) -> None:
    gate.release()


def _settle(_result: Any, done: asyncio.Future[Any]) -> None:
    cooperative.complete(done)


def _call(_result: Any, done: Callable[[], object]) -> None:
    done()


def _call_translated(
    exc: BaseException, failed: Callable[[BaseException], object], action: str
) -> None:
    failed(translate(exc, action))


_UNAVAILABLE = {
    "connect": "The data store cannot be reached; nothing was stored. Retry later.",
    WRITE: "The data store did not acknowledge the write in time; "
    "retrying the request is safe (points overwrite themselves).",
    ANSWER: "The data store did not answer in time; retry the request.",
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
            _UNAVAILABLE.get(action, _UNAVAILABLE[ANSWER])
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

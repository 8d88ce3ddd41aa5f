"""What the stores of one Cassandra backend share."""

from __future__ import annotations

from dataclasses import dataclass

from service.storage.cassandra.coalesce import Coalescer
from service.storage.cassandra.session import CassandraSession


@dataclass
class CassandraContext:
    """The choke point every statement goes through, the process's one write
    coalescer (small writes of every store share its batches) and the bounds on
    statements in flight per request."""

    session: CassandraSession
    coalescer: Coalescer
    write_concurrency: int
    read_concurrency: int

"""Cassandra's own CPU per one-row insert of a small block, by the raw driver (issue 12).

    PYTHONPATH=$PWD .venv/bin/python bench/cassandra_insert_floor.py --cassandra-pid PID

Rows as the service writes a small request (1-10 points of one series, a block of its
own, in `point_blocks`), sent with `execute_concurrent_with_args` at several
concurrencies; the Cassandra process's CPU (utime + stime from /proc) per insert. What
a one-row-per-request design costs Cassandra at best, before any of the service's work.
"""

from __future__ import annotations

import random
import time

import kairosdb_procs as procs
from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args
from common import arguments, keyspace, machine

from service.columnar import Points
from service.storage import blocks

INSERT = (
    "INSERT INTO point_blocks (project, metric, tag_hash, row_time, window_start, "
    "write_id, seq, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
)
BASE = 1_700_000_000_000


def rows(count: int, seed: int) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        n = rng.randint(1, 10)
        points = Points.of(
            "double",
            [BASE + i * 10 + j for j in range(n)],
            [round(rng.random() * 100, 3) for _ in range(n)],
        )
        row_time = BASE - BASE % 1_814_400_000
        window = BASE - BASE % 7_200_000
        out.append(
            (
                "public",
                "small",
                i % 100,
                row_time,
                window,
                i + 1,
                0,
                blocks.encode(points),
                0,
            )
        )
    return out


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--cassandra-pid", type=int, required=True)
    ap.add_argument("--inserts", type=int, default=4000)
    args = ap.parse_args()
    print(machine())
    with keyspace(args.cassandra) as config:
        name = config.store_url.rsplit("/", 1)[1].split("?")[0]
        host, _, port = args.cassandra.partition(":")
        cluster = Cluster([host], port=int(port or 9042))
        try:
            session = cluster.connect(name)
            insert = session.prepare(INSERT)
            for k, concurrency in enumerate((1, 4, 16, 64)):
                batch = rows(args.inserts, k)
                before, started = (
                    procs.tree_cpu(args.cassandra_pid),
                    time.perf_counter(),
                )
                execute_concurrent_with_args(
                    session, insert, batch, concurrency=concurrency
                )
                seconds = time.perf_counter() - started
                cpu = procs.tree_cpu(args.cassandra_pid) - before
                print(
                    f"concurrency {concurrency:>2}: {args.inserts / seconds:>7,.0f} inserts/s, "
                    f"Cassandra CPU {cpu / args.inserts * 1e6:>5,.0f} us an insert"
                )
        finally:
            cluster.shutdown()


if __name__ == "__main__":
    main()

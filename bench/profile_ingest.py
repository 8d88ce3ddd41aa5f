"""Where the service's CPU goes on the write path: cProfile of N KairosDB requests
handled in-process (Falcon app, real Cassandra), no HTTP server in between.

    python bench/profile_ingest.py [--requests 20] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats

from common import keyspace
from falcon import testing
from ingest import payloads

from service.app import create_app
from service.storage.cassandra import CassandraBackend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--cassandra",
        default=os.environ.get("DATAPOINTS_TEST_CASSANDRA", "127.0.0.1:9042"),
    )
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with keyspace(args.cassandra) as config:
        client = testing.TestClient(create_app(config, CassandraBackend(config)))
        bodies = [
            json.dumps(b).encode() for b in payloads("prof", args.requests, 100, 100)
        ]
        client.simulate_post("/api/v1/datapoints", body=bodies[0])  # connect, prepare
        profiler = cProfile.Profile()
        profiler.enable()
        for body in bodies[1:]:
            assert (
                client.simulate_post("/api/v1/datapoints", body=body).status_code == 204
            )
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()

"""Microbenchmark of the request-body path: `parse_json` and `read_json` in-process.

    python bench/body_parse.py [--rounds 7]

Bodies are KairosDB writes in the `datapoints` form: 10 series x 400 points (~100 KB,
a typical client batch) and 500,000 points (DATAPOINTS_MAX_POINTS, ~12 MB), each sent
plain and gzipped. Prints the median time per call over the rounds; compare runs of
the same machine only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import time
from collections.abc import Callable
from functools import partial

from common import machine
from falcon import testing

from service.config import Limits
from service.web.body import parse_json, read_json


def body(series: int, points: int) -> bytes:
    rng = random.Random(7)
    doc = [
        {
            "name": f"bench.m{s}",
            "tags": {"host": f"h{s}", "dc": "dc1"},
            "datapoints": [
                [1_700_000_000_000 + j * 1000, round(rng.random() * 100, 3)]
                for j in range(points)
            ],
        }
        for s in range(series)
    ]
    return json.dumps(doc, separators=(",", ":")).encode()


def timed(call: Callable[[], object], rounds: int, inner: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    limits = Limits()

    def read(raw: bytes, headers: dict[str, str]) -> object:
        req = testing.create_req(method="POST", path="/", body=raw, headers=headers)
        return read_json(req, limits)

    print(f"# request bodies, {machine()}")
    for label, data, inner in (
        ("100 KB, 4,000 points", body(10, 400), 200),
        ("500,000 points", body(1, 500_000), 1),
    ):
        packed = gzip.compress(data, 6)
        plain = timed(partial(parse_json, data), args.rounds, inner)
        whole = timed(partial(read, data, {}), args.rounds, inner)
        zipped = timed(
            partial(read, packed, {"Content-Encoding": "gzip"}), args.rounds, inner
        )
        print(
            f"{label} ({len(data):,} B, {len(packed):,} B gzipped): "
            f"parse_json {plain * 1e3:.3f} ms, read_json {whole * 1e3:.3f} ms, "
            f"read_json gzip {zipped * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()

"""The fuzz target: hostile requests at every endpoint family of all four dialects.

    python bench/fuzz_http.py [--seconds 300 | --requests 10000] [--slow 1.0]
                              [--dialects kairosdb,liquid,mda,onenet] [--seed N]
                              [--url http://host:8080 --key <project key>]
                              [--out fuzz-findings.jsonl] [--replay FILE]

By default it builds the app in this process on a temporary SQLite store, creates a
project (and a OneNET device and an MDA session in it) and sends requests through
Falcon's test client. With ``--url`` it sends them to a running server instead, with
the project key given by ``--key`` (without one, only KairosDB's public project is
fuzzed).

The requests come from tests/hostile (the strategies the functional fuzz tests
use): documents shaped like each dialect's, with huge integers, NaN and Infinity,
lone surrogates, names past the key limit, deep nesting and the wrong type in every
slot. Every answer that is a 5xx, is not in the dialect's own envelope, or took
longer than ``--slow`` seconds is a finding: printed at the end, grouped, and
appended to ``--out`` with the whole request (``--replay`` sends those again).
The exit status is 1 when anything was found.
"""

from __future__ import annotations

import argparse
import base64
import collections
import http.client
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as fixed_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import HypothesisException  # noqa: E402

from tests.hostile import Request, violations  # noqa: E402
from tests.hostile import kairosdb as kairos_requests  # noqa: E402
from tests.hostile.others import Tenant, liquid, mda, onenet  # noqa: E402

DIALECTS = ("kairosdb", "liquid", "mda", "onenet")


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    seconds: float
    log: str = ""  # what the app logged as unexpected (in-process only)


class InProcess:
    """The app on a fresh SQLite store, through Falcon's test client."""

    def __init__(self) -> None:
        from falcon import testing

        from service.app import create_app
        from service.config import Config
        from service.domain.projects import Directory, Keys
        from service.storage.sqlite import SqliteBackend

        self.dir = tempfile.TemporaryDirectory(prefix="fuzz-")
        config = Config.from_env(
            {
                "DATAPOINTS_STORE": f"sqlite:///{self.dir.name}/fuzz.db",
                "DATAPOINTS_SECRET_KEY": "fuzz-secret-0123456789abcdef0123456789",
            }
        )
        backend = SqliteBackend(config.sqlite_path, row_width_ms=config.row_width_ms)
        backend.apply_schema()
        _, self.key = Directory(backend.projects, Keys(config.secret())).create("fuzz")
        self.client = testing.TestClient(create_app(config, backend))
        self.logged = _Captured()
        logging.getLogger("service").addHandler(self.logged)
        logging.getLogger("service").propagate = False

    def send(self, request: Request) -> Answer:
        self.logged.records.clear()
        started = time.perf_counter()
        result = self.client.simulate_request(
            request.method,
            request.path,
            params=request.params or None,
            headers=request.headers,
            body=request.body,
        )
        return Answer(
            result.status_code,
            result.headers.get("content-type", ""),
            result.content,
            time.perf_counter() - started,
            "\n".join(self.logged.records),
        )


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record)[-4000:])


class OverHttp:
    """A running server, one keep-alive connection."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> Answer:
        path = request.path
        if request.params:
            path += "?" + urlencode(request.params)
        started = time.perf_counter()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self.conn.request(
                    request.method, path, body=request.body, headers=request.headers
                )
                resp = self.conn.getresponse()
                body = resp.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    return Answer(
                        599, "", str(exc).encode(), time.perf_counter() - started
                    )
        return Answer(
            resp.status,
            resp.getheader("Content-Type") or "",
            body,
            time.perf_counter() - started,
        )


def tenant(target: InProcess | OverHttp, key: str | None) -> Tenant | None:
    """The project the requests use, with a OneNET device and an MDA session."""
    if not key:
        return None
    project = key.split(".")[0]
    device = target.send(
        Request(
            "onenet", "POST", "/devices", {}, {"api-key": key}, b'{"title": "fuzz"}'
        )
    )
    data = json.loads(device.body or b"{}").get("data") or {}
    session = target.send(
        Request(
            "mda",
            "POST",
            f"/api/v1/projects/{project}/sessions",
            {},
            {"Authorization": f"Token {key}", "Content-Type": "application/json"},
            b'{"session": {"unit_id": "fuzz", "data": {"q1": "a"}}}',
        )
    )
    uuid = (json.loads(session.body or b"{}").get("result") or {}).get("uuid", "")
    return Tenant(
        project, key, data.get("device_id", ""), data.get("key", ""), uuid or ""
    )


def strategy(t: Tenant | None, dialects: tuple[str, ...]) -> st.SearchStrategy[Request]:
    choices = []
    if "kairosdb" in dialects:
        choices.append(kairos_requests.requests(t.key if t else None))
    if t is not None:
        builders = {"liquid": liquid, "mda": mda, "onenet": onenet}
        choices += [builders[d](t) for d in dialects if d in builders]
    return st.one_of(choices)


@dataclass
class Finding:
    problems: list[str]
    status: int
    seconds: float
    request: dict[str, Any]
    answer: str
    log: str

    @classmethod
    def of(cls, request: Request, answer: Answer, problems: list[str]) -> Finding:
        raw = asdict(request)
        raw["body"] = base64.b64encode(request.body).decode()
        text = answer.body[:2000].decode("utf-8", "backslashreplace")
        return cls(
            problems, answer.status, round(answer.seconds, 3), raw, text, answer.log
        )


def load(line: str) -> Request:
    raw = json.loads(line)["request"]
    raw["body"] = base64.b64decode(raw["body"])
    return Request(**raw)


class Fuzzer:
    def __init__(
        self, send: Callable[[Request], Answer], slow: float, out: Path
    ) -> None:
        self.send, self.slow, self.out = send, slow, out
        self.sent = 0
        self.statuses: collections.Counter[tuple[str, int]] = collections.Counter()
        self.found: dict[tuple[str, str], list[Finding]] = {}

    def check(self, request: Request) -> None:
        try:
            answer = self.send(request)
        except Exception as exc:  # the server layer itself failed (say, a bad header)
            answer = Answer(0, "", b"", 0.0, traceback.format_exc()[-4000:])
            problems = [f"no answer: {type(exc).__name__}: {str(exc)[:200]}"]
        else:
            problems = violations(
                request, answer.status, answer.content_type, answer.body
            )
        self.sent += 1
        self.statuses[(request.family, answer.status)] += 1
        if answer.seconds > self.slow:
            problems.append(f"slower than {self.slow} s")
        if not problems:
            return
        finding = Finding.of(request, answer, problems)
        with self.out.open("a") as out:
            out.write(json.dumps(asdict(finding)) + "\n")
        for problem in problems:
            # (the first words say what kind: "HTTP 500", "not in liquid's ...")
            kind = problem if problem.startswith("HTTP") else problem[:60]
            self.found.setdefault((request.family, kind), []).append(finding)

    def report(self, seconds: float) -> None:
        print(f"\n{self.sent} requests in {seconds:.0f} s")
        families = sorted({f for f, _ in self.statuses})
        for family in families:
            counts = {s: n for (f, s), n in self.statuses.items() if f == family}
            shown = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
            print(f"  {family:45} {shown}")
        if not self.found:
            print("nothing found")
            return
        print(f"\nfindings (every request saved to {self.out}):")
        for (family, kind), items in sorted(self.found.items()):
            first = items[0]
            print(f"  {len(items):5} x {family}: {kind}")
            req = first.request
            print(f"        e.g. {req['method']} {req['path']} {req['params'] or ''}")
            print(f"        -> {first.status} {first.answer[:200]!r}")
            if first.log:
                print("        log: " + first.log.splitlines()[-1][:200])


def run(args: argparse.Namespace) -> int:
    target: InProcess | OverHttp
    if args.url:
        target = OverHttp(args.url, timeout=max(30.0, args.slow * 10))
        key = args.key
    else:
        target = InProcess()
        key = args.key or target.key
    dialects = tuple(args.dialects.split(","))
    t = tenant(target, key)
    if t is None and dialects != ("kairosdb",):
        print("no --key: fuzzing KairosDB's public project only")
        dialects = ("kairosdb",)
    fuzzer = Fuzzer(target.send, args.slow, Path(args.out))
    started = time.monotonic()
    if args.replay:
        for line in Path(args.replay).read_text().splitlines():
            if line.strip():
                fuzzer.check(load(line))
        fuzzer.report(time.monotonic() - started)
        return 1 if fuzzer.found else 0
    requests = strategy(t, dialects)
    deadline = started + args.seconds if args.seconds else None
    budget = args.requests or (None if deadline else 1000)
    batch = 0

    def over() -> bool:
        return (deadline is not None and time.monotonic() > deadline) or (
            budget is not None and fuzzer.sent >= budget
        )

    while not over():
        batch += 1

        @settings(
            max_examples=100,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def one_batch(data: st.DataObject) -> None:
            request = data.draw(requests)  # (always drawn: generation stays stable)
            if not over():
                fuzzer.check(request)

        if args.seed is not None:
            one_batch = fixed_seed(args.seed + batch)(one_batch)
        try:
            one_batch()
        except HypothesisException as exc:  # a generator's own hiccup: next batch
            print(f"\nbatch {batch} stopped: {type(exc).__name__}")
        print(f"\r{fuzzer.sent} requests, {len(fuzzer.found)} kinds of finding", end="")
    fuzzer.report(time.monotonic() - started)
    return 1 if fuzzer.found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server (default: in-process app)")
    parser.add_argument("--key", help="a project key (in-process: one is created)")
    parser.add_argument("--seconds", type=float, help="run this long")
    parser.add_argument("--requests", type=int, help="send this many (default 1000)")
    parser.add_argument(
        "--slow", type=float, default=1.0, help="seconds: slower is a finding"
    )
    parser.add_argument("--dialects", default=",".join(DIALECTS))
    parser.add_argument("--seed", type=int, help="the same requests every run")
    parser.add_argument("--out", default="fuzz-findings.jsonl")
    parser.add_argument("--replay", help="send the requests of a findings file again")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()

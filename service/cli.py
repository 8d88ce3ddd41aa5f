"""The ``datapoints`` command: serve, schema apply|status, compact status|run,
projects."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
from collections.abc import Iterator, Sequence

from service import errors
from service.config import Config
from service.domain import build_services
from service.domain.projects import MODES, Directory
from service.records import DEFAULT_SESSION_GAP
from service.storage.base import SchemaState
from service.storage.factory import open_backend, prepare_backend


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
        logging.basicConfig(
            level=config.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        result: int = args.func(config, args)
        return result
    except errors.ServiceError as exc:
        print(f"datapoints: {' '.join(exc.messages)}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datapoints", description="Data-point collection service."
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve HTTP under gunicorn")
    serve.add_argument("--bind", help="HOST:PORT (default DATAPOINTS_BIND)")
    serve.add_argument("--workers", type=int, help="processes (default: one per core)")
    serve.add_argument("--threads", type=int, help="threads per process")
    serve.set_defaults(func=cmd_serve)

    schema = sub.add_parser("schema", help="create, upgrade or inspect the schema")
    schema_sub = schema.add_subparsers(required=True, metavar="ACTION")
    schema_sub.add_parser("apply", help="create or upgrade, idempotently").set_defaults(
        func=cmd_schema_apply
    )
    schema_sub.add_parser("status", help="show what is applied").set_defaults(
        func=cmd_schema_status
    )
    compact = sub.add_parser(
        "compact", help="merge small blocks of data points (Cassandra)"
    )
    compact_sub = compact.add_subparsers(required=True, metavar="ACTION")
    compact_sub.add_parser(
        "status", help="windows queued and due, leases held"
    ).set_defaults(func=cmd_compact_status)
    run = compact_sub.add_parser("run", help="compact the due windows now")
    run.add_argument(
        "--all-now",
        action="store_true",
        help="every queued window, due or not (before a benchmark, a backup)",
    )
    run.set_defaults(func=cmd_compact_run)

    projects = sub.add_parser("projects", help="create and manage projects (tenants)")
    psub = projects.add_subparsers(required=True, metavar="ACTION")
    create = psub.add_parser(
        "create", help="create a project; prints its id and API key"
    )
    create.add_argument("name")
    _project_options(create)
    create.set_defaults(func=cmd_projects_create)
    psub.add_parser("list", help="list projects").set_defaults(func=cmd_projects_list)
    show = psub.add_parser("show", help="show one project")
    show.add_argument("id")
    show.set_defaults(func=cmd_projects_show)
    change = psub.add_parser("set", help="change a project's settings")
    change.add_argument("id")
    change.add_argument("--name")
    _project_options(change)
    change.set_defaults(func=cmd_projects_set)
    rotate = psub.add_parser(
        "rotate-key", help="issue a new API key (the old one stops)"
    )
    rotate.add_argument("id")
    rotate.set_defaults(func=cmd_projects_rotate)
    return parser


def _project_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=MODES, help="development shows error details")
    p.add_argument("--session-gap", type=int, help="seconds (default 300)")
    p.add_argument("--timezone", help="IANA time zone (default UTC)")


@contextlib.contextmanager
def _directory(config: Config) -> Iterator[Directory]:
    backend = prepare_backend(config)
    try:
        yield build_services(config, backend).projects
    finally:
        backend.close()  # a one-shot command: leave no driver threads behind


def cmd_projects_create(config: Config, args: argparse.Namespace) -> int:
    with _directory(config) as directory:
        project, key = directory.create(
            args.name,
            mode=args.mode or "development",
            session_gap=args.session_gap or DEFAULT_SESSION_GAP,
            timezone=args.timezone or "UTC",
        )
    print(json.dumps({**project.public(), "api_key": key}, indent=2))
    return 0


def cmd_projects_list(config: Config, args: argparse.Namespace) -> int:
    with _directory(config) as directory:
        projects = directory.all_projects()
    print(json.dumps([p.public() for p in projects], indent=2))
    return 0


def cmd_projects_show(config: Config, args: argparse.Namespace) -> int:
    with _directory(config) as directory:
        print(json.dumps(directory.stored(args.id).public(), indent=2))
    return 0


def cmd_projects_set(config: Config, args: argparse.Namespace) -> int:
    with _directory(config) as directory:
        project = directory.stored(args.id)
        changed = directory.change(
            dataclasses.replace(
                project,
                name=args.name or project.name,
                mode=args.mode or project.mode,
                session_gap=args.session_gap or project.session_gap,
                timezone=args.timezone or project.timezone,
            )
        )
    print(json.dumps(changed.public(), indent=2))
    return 0


def cmd_projects_rotate(config: Config, args: argparse.Namespace) -> int:
    with _directory(config) as directory:
        project, key = directory.rotate_key(directory.stored(args.id))
    print(json.dumps({**project.public(), "api_key": key}, indent=2))
    return 0


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    changes = {
        k: v
        for k, v in (
            ("bind", args.bind),
            ("workers", args.workers),
            ("threads", args.threads),
        )
        if v is not None
    }
    config = config.replace(**changes)
    # Check the store in the master, then let it go: workers open their own.
    prepare_backend(config).close()
    from service.server import Server

    print(
        f"datapoints: serving on http://{config.bind} ({config.workers} workers, "
        f"{config.store_kind} store)",
        file=sys.stderr,
    )
    Server(config).run()
    return 0


def cmd_schema_apply(config: Config, args: argparse.Namespace) -> int:
    backend = open_backend(config)
    try:
        state = backend.apply_schema()
    finally:
        backend.close()
    print(json.dumps(_state_json(state), indent=2))
    return 0


def cmd_schema_status(config: Config, args: argparse.Namespace) -> int:
    backend = open_backend(config)
    try:
        state = backend.schema_state()
    finally:
        backend.close()
    print(json.dumps(_state_json(state), indent=2))
    return 0 if state.current else 1


def cmd_compact_status(config: Config, args: argparse.Namespace) -> int:
    backend = open_backend(config)
    try:
        print(json.dumps(backend.compaction_status(), indent=2))
    finally:
        backend.close()
    return 0


def cmd_compact_run(config: Config, args: argparse.Namespace) -> int:
    backend = open_backend(config)
    try:
        done = backend.compact(all_now=args.all_now)
    finally:
        backend.close()
    print(json.dumps(done, indent=2))
    return 1 if done.get("errors") else 0


def _state_json(state: SchemaState) -> dict[str, object]:
    return {
        "store": state.store,
        "applied": list(state.applied),
        "latest": state.latest,
        "current": state.current,
        "pending": list(state.pending),
        "settings": state.settings,
    }


if __name__ == "__main__":
    sys.exit(main())

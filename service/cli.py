"""The ``datapoints`` command: serve, and schema apply|status."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from service import errors
from service.config import Config
from service.storage import Backend, open_backend


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
    return parser


def prepare_backend(config: Config) -> Backend:
    """The store, ready to serve: the embedded one gets its schema created (it is a
    local file); Cassandra must already have it, applied by an operator."""
    backend = open_backend(config)
    if backend.name == "sqlite":
        backend.apply_schema()
        return backend
    state = backend.schema_state()
    if not state.current:
        missing = "no datapoints schema" if not state.applied else "an older schema"
        raise errors.SchemaMissing(
            f"The {state.store} has {missing} (applied {list(state.applied)}, "
            f"this version needs {state.latest}). Run `datapoints schema apply` with "
            "the same DATAPOINTS_STORE first."
        )
    return backend


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


def _state_json(state: object) -> dict[str, object]:
    from service.storage.base import SchemaState

    assert isinstance(state, SchemaState)
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

"""The shape issue 10 gave ``service/storage``, kept by reading its imports: one
Cassandra choke point (only session.py imports the driver) and no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

STORAGE = Path(__file__).resolve().parents[2] / "service" / "storage"


def _module(path: Path) -> str:
    parts = path.relative_to(STORAGE.parents[1]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, TYPE_CHECKING imports included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in STORAGE.rglob("*.py")}
    return {
        name: {m for m in _imports(path) if m in files and m != name}
        for name, path in files.items()
        # a package's __init__ only hands its names on
        if path.name != "__init__.py"
    }


def test_only_the_session_imports_the_cassandra_driver() -> None:
    importers = sorted(
        _module(path)
        for path in STORAGE.rglob("*.py")
        if any(m == "cassandra" or m.startswith("cassandra.") for m in _imports(path))
    )
    assert importers == ["service.storage.cassandra.session"]


def test_no_import_circle_in_storage() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*path, name])
        done.add(name)

    assert len(graph) > 20  # the walk found the package
    for name in sorted(graph):
        visit(name, [])

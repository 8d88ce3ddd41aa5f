"""The layers of ``service/`` as docs/architecture.md draws them, checked on the
code's own imports (read with ``ast``; nothing is imported or run).

dialects -> domain -> storage: no dialect touches a store, the service layer knows
nothing of HTTP, each layer imports only those below it, and no modules import each
other in a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "service"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def trees() -> Iterator[tuple[str, ast.Module]]:
    for name, path in MODULES.items():
        yield name, ast.parse(path.read_text(), str(path))


def imported(name: str, tree: ast.Module) -> set[str]:
    """The modules of ``service`` that ``name`` imports, anywhere in it (under
    TYPE_CHECKING and inside functions too: a layer is broken either way)."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            # ``from pkg import mod`` imports the module pkg.mod
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t == "service" or t.startswith("service."))
    return found


GRAPH = {name: imported(name, tree) for name, tree in trees()}


def under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# The rows of docs/architecture.md, and what each may import.
LAYERS = {
    "ground": (
        "service.records",
        "service.columnar",
        "service.errors",
        "service.times",
        "service.cache",
        "service.config",
        "service.datatypes",
        "service.gcpause",
        "service.cooperative",
    ),
    "storage": ("service.storage",),
    "query": ("service.query",),
    "domain": ("service.domain",),
    "web": ("service.web",),
    "dialects": ("service.dialects",),
    "app": ("service.app",),
    "entry": ("service.cli", "service.wsgi", "service.server", "service.serving"),
}
MAY_IMPORT = {
    "ground": {"ground"},
    "storage": {"ground", "storage"},
    "query": {"ground", "storage", "query"},
    "domain": {"ground", "storage", "query", "domain"},
    "web": {"ground", "web"},
    "dialects": {"ground", "query", "domain", "web", "dialects"},
    "app": {"ground", "storage", "domain", "web", "dialects", "app"},
    "entry": set(LAYERS),
}


def layer_of(module: str) -> str:
    """The layer of the longest package naming ``module``."""
    if module == "service":
        return "ground"  # (the package itself: it names the version, nothing else)
    found = [
        (len(package), layer)
        for layer, packages in LAYERS.items()
        for package in packages
        if under(module, package)
    ]
    return max(found)[1] if found else "unplaced"


def test_the_graph_is_read() -> None:
    # (a reader that found nothing would pass every test below)
    assert "service.domain.points" in GRAPH["service.domain.iot"]
    assert "service.domain" in GRAPH["service.dialects.kairosdb"]
    assert "service.dialects.mda.parse" in GRAPH["service.dialects.mda.bodies"]
    assert layer_of("service.storage.cassandra.points") == "storage"
    assert layer_of("service.dialects.mda.bodies") == "dialects"


def test_every_module_has_its_layer() -> None:
    # a new top-level module or package: add it to LAYERS (and the docs' table)
    assert [m for m in GRAPH if layer_of(m) == "unplaced"] == []


def test_each_layer_imports_only_those_below_it() -> None:
    wrong = sorted(
        f"{source} ({layer_of(source)}) imports {target} ({layer_of(target)})"
        for source, targets in GRAPH.items()
        for target in targets
        if layer_of(target) not in MAY_IMPORT[layer_of(source)]
    )
    assert wrong == []


def test_no_dialect_touches_a_store() -> None:
    stores = sorted(
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        if under(source, "service.dialects")
        for target in targets
        if under(target, "service.storage")
    )
    assert stores == []
    backends = [
        f"{name}:{node.lineno}"
        for name, tree in trees()
        if under(name, "service.dialects")
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "backend"
    ]
    assert backends == []


def circles() -> list[list[str]]:
    """Sets of modules that import each other in a loop (Tarjan's strongly
    connected components of more than one module, or one importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in GRAPH.get(node, ()):
                out.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return out


def test_no_import_circle() -> None:
    assert circles() == []

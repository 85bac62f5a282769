"""The house rules of src/openband's imports, checked on every import statement (function-level
ones included), so the layers stay as docs/architecture.md draws them:

    server, wiring, cli  ->  api  ->  core  ->  store, delivery, network
    leaves (clock, ids, errors, config, logs, heap, metrics, xmlsafe): anyone may import them

- no cycle between openband's packages and top-level modules;
- only server, wiring and cli import api/;
- api/ reaches the platform through core/ only (no store/, delivery/ or network/);
- store/, delivery/ and network/ never import core/ or api/; network/ and delivery/ do not import
  each other; store/ imports neither.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "openband"

COMPOSITION = {"server", "wiring", "cli"}
LOWER = {"store", "delivery", "network"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, resolved to openband modules."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("openband")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("openband"):
                continue
            for alias in node.names:  # `from openband.core import inventory` names a module
                sub = f"{target}.{alias.name}"
                is_module = (SRC / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    SRC / Path(*sub.split("."))
                ).is_dir()
                out.append((sub if is_module else target, node.lineno))
    return out


def _unit(module: str) -> str:
    """openband.core.messaging.sink -> core; openband.clock -> clock; openband -> openband."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "openband"


def _edges() -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> where: "file:line imports module"."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        source = _unit(_module(path))
        for target, line in _imports(path):
            unit = _unit(target)
            if unit != source:
                where = f"{path.relative_to(SRC)}:{line} imports {target}"
                edges[(source, unit)].append(where)
    return edges


EDGES = _edges()


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _violations(allowed: callable) -> list[str]:  # type: ignore[valid-type]
    return [w for (a, b), where in sorted(EDGES.items()) if not allowed(a, b) for w in where]


def test_the_scan_sees_the_imports() -> None:
    """Guards the guard: the scan finds the edges the layers are made of."""
    assert ("api", "core") in EDGES and ("core", "store") in EDGES
    assert ("wiring", "api") in EDGES and ("core", "network") in EDGES
    # function-level imports count too (server imports api at module level; cli in functions)
    assert any("cli.py" in w for w in EDGES.get(("cli", "server"), []))


def test_no_cycle_between_packages() -> None:
    cycles = _cycles(EDGES)
    detail = [
        w
        for cycle in cycles
        for (a, b), where in EDGES.items()
        if a in cycle and b in cycle
        for w in where
    ]
    assert cycles == [], "\n".join(detail)


def test_only_the_composition_root_imports_api() -> None:
    assert _violations(lambda a, b: b != "api" or a in COMPOSITION) == []


def test_api_reaches_the_platform_through_core_only() -> None:
    assert _violations(lambda a, b: a != "api" or b not in LOWER) == []


@pytest.mark.parametrize("lower", sorted(LOWER))
def test_lower_layers_never_import_core_or_api(lower: str) -> None:
    assert _violations(lambda a, b: a != lower or b not in ("core", "api", *COMPOSITION)) == []


def test_carriers_and_delivery_do_not_know_each_other() -> None:
    assert EDGES.get(("network", "delivery"), []) == []
    assert EDGES.get(("delivery", "network"), []) == []
    assert EDGES.get(("store", "delivery"), []) == []
    assert EDGES.get(("store", "network"), []) == []


def test_no_lower_layer_imports_core_messaging() -> None:
    hits = [w for (a, _), where in EDGES.items() if a in LOWER for w in where]
    assert [w for w in hits if "core.messaging" in w] == []

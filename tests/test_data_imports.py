"""The import graph inside ``synthrec_core.data`` has no cycle, counting function-level imports.

The graph is read from the source with :mod:`ast` (nothing is imported), so an import hidden
inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import synthrec_core.data as data_pkg

PACKAGE = "synthrec_core.data"
PKG_DIR = Path(data_pkg.__file__).parent


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``__init__`` is the package)."""
    out = {}
    for path in sorted(PKG_DIR.glob("*.py")):
        out[PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]  # a plain module's relative imports start at its package
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    """Edges ``a -> b``: module ``a`` of the package imports module ``b`` of the package."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):  # every import statement, at any depth
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                origin = _resolve(mod, mod == PACKAGE, node.level, node.module)
                # `from . import online` names a submodule; `from .base import X` names a module
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin
                           for a in node.names]
            else:
                continue
            for t in targets:
                if t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve():
    assert _resolve(f"{PACKAGE}.registry", False, 1, "online") == f"{PACKAGE}.online"
    assert _resolve(f"{PACKAGE}.registry", False, 2, "config") == "synthrec_core.config"
    assert _resolve(PACKAGE, True, 1, "base") == f"{PACKAGE}.base"


def test_graph_sees_function_level_imports():
    graph = import_graph()
    # dataset.to_mini imports transforms inside a function body
    assert f"{PACKAGE}.transforms" in graph[f"{PACKAGE}.dataset"]
    assert f"{PACKAGE}.online" in graph[f"{PACKAGE}.registry"]


def test_data_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
